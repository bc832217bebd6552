package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
)

// Decode decodes exactly one YAML document from data into out, a pointer to
// a resource struct such as *v1alpha1.Continuum. Fields that the document
// does not set keep the value they have in out, so out may hold defaults.
//
// file names the source in errors. Decode rejects unknown fields, wrong
// scalar types, duplicate keys, an empty input, more than one document, and
// an apiVersion other than v1alpha1.APIVersion or a kind other than kind
// (both must be present). Such errors are an *Error or, for several, an
// ErrorList, each naming file, line, column and field path as far as they
// are known. On error, out may have been partly written.
func Decode(file string, data []byte, kind string, out any) error {
	rv := reflect.ValueOf(out)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		// A mistake in the calling code, not in the file.
		return fmt.Errorf("config: decode %s: want a non-nil pointer to a struct, got %T", file, out)
	}
	root, err := parseOne(file, data, kind)
	if err != nil {
		return err
	}
	// A wrong kind means the file is not what the caller expects; listing
	// every field that does not fit the expected type would bury that.
	if errs := checkTypeMeta(file, root, kind); len(errs) > 0 {
		return errs.tidy().asError()
	}
	return decodeStrict(file, data, root, out).tidy().asError()
}

// decodeStrict decodes data, whose parsed root is root, into out and
// returns what yaml.v3 objected to, located in root, plus what it lets pass
// that we do not.
func decodeStrict(file string, data []byte, root *yaml.Node, out any) ErrorList {
	b := newBlamer(file, root, reflect.TypeOf(out).Elem())
	errs := b.floatsForIntegers()
	// yaml.v3 checks known fields only when decoding from a stream, not
	// from a Node, so the document is parsed a second time.
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(out)
	var terr *yaml.TypeError
	switch {
	case err == nil:
	case errors.As(err, &terr):
		errs = append(errs, b.blameAll(terr.Errors)...)
	default:
		// yaml.v3 stopped at an error that is not about types, such as
		// "document contains excessive aliasing" or a bad timestamp.
		e := plainError(file, data, err)
		if e.Line == 0 {
			b.locate(e)
		}
		errs = append(errs, e)
	}
	return errs
}

// parseOne parses data and returns the root node of its only document,
// which must be a mapping.
func parseOne(file string, data []byte, kind string) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: file, Msg: emptyMsg(kind)}
		}
		return nil, plainError(file, data, err)
	}
	// yaml.v3 would silently decode only the first of several documents.
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, plainError(file, data, err)
	default:
		return nil, &Error{File: file, Line: next.Line, Column: next.Column,
			Msg: fmt.Sprintf("a second YAML document starts here; the file must hold exactly one %s", kind)}
	}
	if len(doc.Content) != 1 {
		return nil, &Error{File: file, Line: doc.Line, Column: doc.Column, Msg: emptyMsg(kind)}
	}
	root := doc.Content[0]
	// A lone "---" parses as a document holding an empty null.
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" && root.Value == "" {
		return nil, &Error{File: file, Line: doc.Line, Column: doc.Column, Msg: emptyMsg(kind)}
	}
	if root.Kind != yaml.MappingNode {
		return nil, &Error{File: file, Line: root.Line, Column: root.Column,
			Msg: fmt.Sprintf("want a %s (a mapping with apiVersion, kind, metadata and spec), got %s", kind, describeNode(root))}
	}
	return root, nil
}

func emptyMsg(kind string) string {
	return fmt.Sprintf("empty document; want a %s with apiVersion %s", kind, v1alpha1.APIVersion)
}

// checkTypeMeta checks that the root mapping says it is the wanted kind.
func checkTypeMeta(file string, root *yaml.Node, kind string) ErrorList {
	var errs ErrorList
	if e := checkKey(file, root, "apiVersion", v1alpha1.APIVersion); e != nil {
		errs = append(errs, e)
	}
	if e := checkKey(file, root, "kind", kind); e != nil {
		errs = append(errs, e)
	}
	return errs
}

// checkKey checks that mapping m has key set to the string want.
func checkKey(file string, m *yaml.Node, key, want string) *Error {
	v := lookup(m, key)
	if v == nil {
		return &Error{File: file, Line: m.Line, Column: m.Column, Path: key,
			Msg: fmt.Sprintf("required field is missing; want %s: %s", key, want)}
	}
	if v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	if v.Kind == yaml.ScalarNode && v.Value == want {
		return nil
	}
	return &Error{File: file, Line: v.Line, Column: v.Column, Path: key,
		Msg: fmt.Sprintf("want %q, got %s", want, describeNode(v))}
}

// lookup returns the value of the first scalar key in mapping m, or nil.
func lookup(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; k.Kind == yaml.ScalarNode && k.Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// lineRE splits "line 7: rest", the form of yaml.v3's messages.
var lineRE = regexp.MustCompile(`(?s)^line (\d+): (.*)$`)

// plainError converts an error that is not a *yaml.TypeError, mostly a
// syntax error such as "yaml: line 3: found character that cannot start
// any token". yaml.v3 gives no column for these.
func plainError(file string, data []byte, err error) *Error {
	e := &Error{File: file, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	if m := lineRE.FindStringSubmatch(e.Msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Msg = m[2]
	}
	// Tabs are the most common cause of YAML syntax errors and are
	// invisible in most editors, so point at them.
	if col := tabColumn(data, e.Line); col > 0 {
		e.Column = col
		if !strings.Contains(e.Msg, "tab") {
			e.Msg += " (a tab in the indentation; YAML indents with spaces only)"
		}
	}
	return e
}

// tabColumn returns the 1-based column of the first tab in the
// indentation of the given 1-based line, or 0.
func tabColumn(data []byte, line int) int {
	if line <= 0 || bytes.HasPrefix(data, []byte("\xff\xfe")) || bytes.HasPrefix(data, []byte("\xfe\xff")) {
		return 0 // yaml.v3 reads UTF-16 too, but its lines are not ours to split
	}
	lines := lineBreakRE.Split(string(data), line+1)
	if len(lines) < line {
		return 0
	}
	for i, c := range []byte(lines[line-1]) {
		switch c {
		case '\t':
			return i + 1
		case ' ':
		default:
			return 0
		}
	}
	return 0
}

// lineBreakRE matches what yaml.v3 counts as a line break.
var lineBreakRE = regexp.MustCompile(`\r\n|[\r\n\x{85}\x{2028}\x{2029}]`)
