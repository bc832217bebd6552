package kube

import (
	"bufio"
	"bytes"
	"fmt"
	"maps"
	"strings"
	"text/template"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/yaml"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
)

// The labels the driver puts on every object it applies. Prune, Delete,
// Scale and Status find a component's objects by them.
const (
	LabelApplication = v1alpha1.LabelApplication // app.cloudskin.io/application
	LabelComponent   = v1alpha1.LabelComponent   // app.cloudskin.io/component
	LabelManagedBy   = "app.kubernetes.io/managed-by"
	// ManagedBy is the value of LabelManagedBy, and the field manager of
	// server-side apply.
	ManagedBy = "cloudskin"
)

// RenderData is what a block's manifest template sees.
type RenderData struct {
	// Params are the block's parameters, already resolved and type-checked
	// (v1alpha1.BlockSpec.ResolveParameters): {{ .Params.name }}. Values are
	// written as given, so an int, number or bool parameter renders as an
	// unquoted YAML scalar of that type; quote strings that could read as
	// something else with {{ printf "%q" .Params.name }}.
	Params map[string]string
	// Application and Component name what the objects belong to; they
	// are also the values of LabelApplication and LabelComponent.
	Application string
	Component   string
	// Replicas is the component's replica count: {{ .Replicas }}.
	Replicas int
	// Labels are added to every object besides the driver's own, and
	// are visible to the template as {{ .Labels }}.
	Labels map[string]string
}

// Render executes a block's manifest template and decodes the YAML
// documents it produces, separated by "---" lines, into objects labelled
// for the application and component. Documents that are empty or only
// comments are skipped. Every error names what is wrong and, for a
// document, its number (1 for the first document of the output).
func Render(manifest string, data RenderData) ([]*unstructured.Unstructured, error) {
	labels, err := objectLabels(data)
	if err != nil {
		return nil, err
	}
	tmpl, err := template.New("manifest").Option("missingkey=error").Parse(manifest)
	if err != nil {
		return nil, fmt.Errorf("kube: render: %w", err)
	}
	if data.Params == nil {
		// A nil map makes {{ .Params.x }} print "<no value>" instead of
		// failing: missingkey=error applies to maps that exist.
		data.Params = map[string]string{}
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, data); err != nil {
		return nil, fmt.Errorf("kube: render: %w", err)
	}
	var objs []*unstructured.Unstructured
	for i, doc := range splitDocuments(out.Bytes()) {
		obj, err := decodeDocument(doc)
		if err != nil {
			return nil, fmt.Errorf("kube: render: document %d: %w", i+1, err)
		}
		if obj == nil {
			continue
		}
		addLabels(obj, labels)
		objs = append(objs, obj)
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("kube: render: the manifest produced no objects")
	}
	return objs, nil
}

// objectLabels returns the labels every object gets: the caller's, then
// the driver's, which win.
func objectLabels(data RenderData) (map[string]string, error) {
	labels := maps.Clone(data.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelApplication] = data.Application
	labels[LabelComponent] = data.Component
	labels[LabelManagedBy] = ManagedBy
	for k, v := range labels {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return nil, fmt.Errorf("kube: render: label key %q: %s", k, strings.Join(errs, "; "))
		}
		if v == "" && (k == LabelApplication || k == LabelComponent) {
			return nil, fmt.Errorf("kube: render: %s: the application and component names are required", k)
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return nil, fmt.Errorf("kube: render: label %s=%q: %s", k, v, strings.Join(errs, "; "))
		}
	}
	return labels, nil
}

// splitDocuments cuts a YAML stream at its document separators: lines
// starting with "---" followed by nothing but spaces or a comment. A
// "---" inside a block scalar would have to be indented, so it is not
// mistaken for one.
func splitDocuments(stream []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(stream))
	sc.Buffer(nil, len(stream)+1) // one line may be the whole stream
	for sc.Scan() {
		line := sc.Bytes()
		if isSeparator(line) {
			docs = append(docs, bytes.Clone(cur.Bytes()))
			cur.Reset()
			continue
		}
		cur.Write(line)
		cur.WriteByte('\n')
	}
	return append(docs, cur.Bytes())
}

func isSeparator(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, []byte("---"))
	if !ok {
		return false
	}
	rest = bytes.TrimSpace(rest)
	return len(rest) == 0 || rest[0] == '#'
}

// decodeDocument decodes one YAML document into an object, or returns nil
// for a document with no content.
func decodeDocument(doc []byte) (*unstructured.Unstructured, error) {
	var content any
	// Strict: a key given twice is an error, not a silent last-one-wins.
	// Integers decode as int64, as Unstructured wants.
	if err := yaml.UnmarshalStrict(doc, &content); err != nil {
		return nil, fmt.Errorf("invalid YAML: %w", err)
	}
	if content == nil {
		return nil, nil
	}
	fields, ok := content.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("want a Kubernetes object (a YAML mapping), got %s", describeJSON(content))
	}
	obj := &unstructured.Unstructured{Object: fields}
	if err := checkIdentity(obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// checkIdentity makes sure the object says what it is and what it is
// called, the three fields the API server needs to place it.
func checkIdentity(obj *unstructured.Unstructured) error {
	var missing []string
	for _, path := range [][]string{{"apiVersion"}, {"kind"}, {"metadata", "name"}} {
		v, found, err := unstructured.NestedFieldNoCopy(obj.Object, path...)
		name := strings.Join(path, ".")
		switch s, isString := v.(string); {
		case err != nil:
			return fmt.Errorf("%s: %w", name, err)
		case !found || v == nil:
			missing = append(missing, name)
		case !isString:
			return fmt.Errorf("%s: want a string, got %s", name, describeJSON(v))
		case s == "":
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		what := "object"
		if k := obj.GetKind(); k != "" {
			what = k
		}
		return fmt.Errorf("%s has no %s", what, strings.Join(missing, ", "))
	}
	if _, _, err := unstructured.NestedMap(obj.Object, "metadata"); err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	return nil
}

// podTemplateKinds are the kinds whose pods come from spec.template:
// their pods carry the labels too, so they can be found and told apart.
var podTemplateKinds = map[string]bool{
	"Deployment": true, "StatefulSet": true, "DaemonSet": true, "ReplicaSet": true, "Job": true,
}

// addLabels sets labels on obj, and on its pod template if it has one.
func addLabels(obj *unstructured.Unstructured, labels map[string]string) {
	merged := obj.GetLabels()
	if merged == nil {
		merged = map[string]string{}
	}
	maps.Copy(merged, labels)
	obj.SetLabels(merged)
	if !podTemplateKinds[obj.GetKind()] {
		return
	}
	tmpl, found, err := unstructured.NestedMap(obj.Object, "spec", "template")
	if err != nil || !found {
		// Not the shape we know; the API server will say what is wrong.
		return
	}
	podLabels, _, err := unstructured.NestedStringMap(tmpl, "metadata", "labels")
	if err != nil {
		return
	}
	if podLabels == nil {
		podLabels = map[string]string{}
	}
	maps.Copy(podLabels, labels)
	_ = unstructured.SetNestedStringMap(obj.Object, podLabels, "spec", "template", "metadata", "labels")
}

// describeJSON names the JSON type of a decoded value for error messages.
func describeJSON(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a bool"
	default:
		return "a number"
	}
}
