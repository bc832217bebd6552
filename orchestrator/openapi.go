package orchestrator

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cloudskin/cloudskin/internal/component"
	"github.com/cloudskin/cloudskin/internal/httpapi"
)

// openAPIYAML is the northbound API's OpenAPI 3 document, written by hand:
// the contract the handlers are tested against (openapi_test.go).
//
//go:embed openapi.yaml
var openAPIYAML []byte

// openAPIRoutes serves the API's description, without authentication:
//
//	GET /openapi.yaml   as written
//	GET /openapi.json   the same, converted to JSON once at start
func (cp *ControlPlane) openAPIRoutes(h *component.Host) {
	asJSON, err := yamlToJSON(openAPIYAML)
	if err != nil {
		// The document is embedded and its tests convert it: this is a
		// programming error, answered at the route rather than failing up.
		cp.log.Error("converting the OpenAPI document to JSON", "err", err)
	}
	serveJSON := serveDocument(asJSON, "application/json")
	if err != nil {
		serveJSON = func(w http.ResponseWriter, _ *http.Request) {
			httpapi.WriteError(w, cp.log, fmt.Errorf("openapi.json: %w", err))
		}
	}
	h.Server.HandleFunc("GET /openapi.yaml", serveDocument(openAPIYAML, "application/yaml"))
	h.Server.HandleFunc("GET /openapi.json", serveJSON)
	h.Announce(cp.Name(), "OpenAPI", h.ControlPlaneURL+"/openapi.yaml")
}

// serveDocument serves fixed bytes with an ETag, so that tools that poll
// the document (code generators in watch mode, API explorers) get 304s.
func serveDocument(body []byte, contentType string) http.HandlerFunc {
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("ETag", etag)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	}
}

// maxJSONBytes bounds yamlToJSON's output, many times the API's
// document: aliases are expanded, and a few lines of nested aliases
// expand to gigabytes ("billion laughs").
const maxJSONBytes = 4 << 20

// yamlToJSON converts a YAML document to indented JSON, keeping the order
// of its keys (generic decoding into maps would sort them, and put
// "components" before "openapi"). Scalars keep their YAML types; anchors
// and aliases are expanded. Merge keys (<<) are not supported.
func yamlToJSON(doc []byte) ([]byte, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(doc, &root); err != nil {
		return nil, fmt.Errorf("openapi: parse YAML: %w", err)
	}
	w := newJSONWriter()
	if err := w.write(&root); err != nil {
		return nil, fmt.Errorf("openapi: convert to JSON: %w", err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, w.b.Bytes(), "", "  "); err != nil {
		return nil, fmt.Errorf("openapi: convert to JSON: %w", err)
	}
	return append(out.Bytes(), '\n'), nil
}

// jsonWriter writes YAML nodes as compact JSON into b.
type jsonWriter struct {
	b   bytes.Buffer
	enc *json.Encoder // into b, leaving <, > and & as they are: ">=" reads better than "\u003e="
}

func newJSONWriter() *jsonWriter {
	w := &jsonWriter{}
	w.enc = json.NewEncoder(&w.b)
	w.enc.SetEscapeHTML(false)
	return w
}

// write writes the YAML node n.
func (w *jsonWriter) write(n *yaml.Node) error {
	if w.b.Len() > maxJSONBytes {
		return fmt.Errorf("line %d: the JSON would be larger than %d bytes", n.Line, maxJSONBytes)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return fmt.Errorf("line %d: want one document", n.Line)
		}
		return w.write(n.Content[0])
	case yaml.AliasNode:
		return w.write(n.Alias)
	case yaml.SequenceNode:
		w.b.WriteByte('[')
		for i, item := range n.Content {
			if i > 0 {
				w.b.WriteByte(',')
			}
			if err := w.write(item); err != nil {
				return err
			}
		}
		w.b.WriteByte(']')
		return nil
	case yaml.MappingNode:
		w.b.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, value := n.Content[i], n.Content[i+1]
			if key.Kind != yaml.ScalarNode || key.ShortTag() == "!!merge" {
				return fmt.Errorf("line %d: only scalar keys are supported", key.Line)
			}
			if i > 0 {
				w.b.WriteByte(',')
			}
			w.value(key.Value)
			w.b.WriteByte(':')
			if err := w.write(value); err != nil {
				return err
			}
		}
		w.b.WriteByte('}')
		return nil
	case yaml.ScalarNode:
		return w.scalar(n)
	}
	return fmt.Errorf("line %d: unexpected YAML node kind %d", n.Line, n.Kind)
}

// scalar writes a scalar as the JSON value of its resolved YAML type.
func (w *jsonWriter) scalar(n *yaml.Node) error {
	var v any
	switch n.ShortTag() {
	case "!!null":
		w.b.WriteString("null")
		return nil
	case "!!bool":
		v = new(bool)
	case "!!int":
		v = new(int64)
	case "!!float":
		v = new(float64)
	default: // !!str, !!timestamp, !!binary: their text
		w.value(n.Value)
		return nil
	}
	if err := n.Decode(v); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	if f, ok := v.(*float64); ok && (math.IsNaN(*f) || math.IsInf(*f, 0)) {
		return fmt.Errorf("line %d: %s is not a JSON number", n.Line, n.Value)
	}
	w.value(v)
	return nil
}

// value writes a string, bool or number (they always encode).
func (w *jsonWriter) value(v any) {
	if s, ok := v.(string); ok && plain(s) {
		w.b.WriteByte('"')
		w.b.WriteString(s)
		w.b.WriteByte('"')
		return
	}
	w.enc.Encode(v)
	w.b.Truncate(w.b.Len() - 1) // Encode's newline
}

// plain reports whether s is a JSON string as it is: printable ASCII
// without quotes or backslashes, as most of the document is.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
