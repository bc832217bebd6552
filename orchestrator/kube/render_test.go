package kube

import (
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// webManifest is a block template like the ones in the catalog: a
// ConfigMap (only when the bool parameter withConfig is true), a
// Deployment and a Service, with string, int and bool parameters.
const webManifest = `# A web server and its configuration.
{{- if eq .Params.withConfig "true" }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Component }}-config
data:
  greeting: {{ printf "%q" .Params.greeting }}
{{- end }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Component }}
  labels:
    tier: front
spec:
  replicas: {{ .Replicas }}
  selector:
    matchLabels: {app: {{ .Component }}}
  template:
    metadata:
      labels: {app: {{ .Component }}}
    spec:
      containers:
      - name: web
        image: {{ .Params.image }}
        ports:
        - containerPort: {{ .Params.port }}
        env:
        - name: DEBUG
          value: {{ printf "%q" .Params.debug }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ .Component }}
spec:
  selector: {app: {{ .Component }}}
  ports:
  - port: {{ .Params.port }}
    name: http
`

func webData(params map[string]string) RenderData {
	p := map[string]string{"greeting": "hello: world", "image": "nginx:1.27", "port": "8080", "withConfig": "true", "debug": "false"}
	for k, v := range params {
		p[k] = v
	}
	return RenderData{Params: p, Application: "shop", Component: "web", Replicas: 2}
}

// TestRenderSubstitutesAndLabels checks the rendered objects: values of
// typed parameters keep their YAML type, strings stay strings, and every
// object, and the Deployment's pod template, carries the driver's labels
// next to its own and the caller's.
func TestRenderSubstitutesAndLabels(t *testing.T) {
	data := webData(nil)
	data.Labels = map[string]string{"team": "retail", LabelComponent: "ignored: the driver's label wins"}
	objs, err := Render(webManifest, data)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.GetKind()+"/"+o.GetName())
	}
	if want := []string{"ConfigMap/web-config", "Deployment/web", "Service/web"}; !reflect.DeepEqual(kinds, want) {
		t.Fatalf("objects = %v, want %v", kinds, want)
	}
	want := map[string]string{LabelApplication: "shop", LabelComponent: "web", LabelManagedBy: "cloudskin", "team": "retail"}
	for _, o := range objs {
		for k, v := range want {
			if got := o.GetLabels()[k]; got != v {
				t.Errorf("%s: label %s = %q, want %q", o.GetKind(), k, got, v)
			}
		}
	}
	cm, dep, svc := objs[0], objs[1], objs[2]
	if got := dep.GetLabels()["tier"]; got != "front" {
		t.Errorf("the Deployment's own label tier = %q, want front", got)
	}
	podLabels, _, _ := unstructured.NestedStringMap(dep.Object, "spec", "template", "metadata", "labels")
	if podLabels["app"] != "web" || podLabels[LabelComponent] != "web" || podLabels[LabelApplication] != "shop" {
		t.Errorf("pod template labels = %v, want app=web plus the driver's", podLabels)
	}
	if sel, _, _ := unstructured.NestedStringMap(dep.Object, "spec", "selector", "matchLabels"); !reflect.DeepEqual(sel, map[string]string{"app": "web"}) {
		t.Errorf("selector = %v: the driver must not touch it (it is immutable)", sel)
	}
	checkField(t, cm, "hello: world", "data", "greeting")
	checkField(t, dep, int64(2), "spec", "replicas")
	checkField(t, svc, int64(8080), "spec", "ports", 0, "port")
	containers, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	c0 := containers[0].(map[string]any)
	if c0["image"] != "nginx:1.27" {
		t.Errorf("image = %v", c0["image"])
	}
	port := c0["ports"].([]any)[0].(map[string]any)["containerPort"]
	if port != int64(8080) {
		t.Errorf("containerPort = %#v, want int64 8080", port)
	}
	env := c0["env"].([]any)[0].(map[string]any)["value"]
	if env != "false" {
		t.Errorf("env value = %#v, want the string \"false\"", env)
	}
}

// TestRenderTypedScalars checks that int, number and bool parameters
// written unquoted decode as YAML ints, floats and bools.
func TestRenderTypedScalars(t *testing.T) {
	manifest := `apiVersion: v1
kind: ConfigMap
metadata: {name: x}
spec: {i: {{ .Params.i }}, num: {{ .Params.n }}, b: {{ .Params.b }}, s: {{ printf "%q" .Params.s }}}
`
	objs, err := Render(manifest, RenderData{
		Params:      map[string]string{"i": "-42", "n": "0.25", "b": "true", "s": "007"},
		Application: "a", Component: "c",
	})
	if err != nil {
		t.Fatal(err)
	}
	spec, _, _ := unstructured.NestedMap(objs[0].Object, "spec")
	want := map[string]any{"i": int64(-42), "num": 0.25, "b": true, "s": "007"}
	if !reflect.DeepEqual(spec, want) {
		t.Errorf("spec = %#v, want %#v", spec, want)
	}
}

// TestRenderErrors checks that bad templates, bad output and bad names
// give an error naming what is wrong (and the document, when it is one).
func TestRenderErrors(t *testing.T) {
	const cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
	ok := RenderData{Application: "shop", Component: "web", Params: map[string]string{}}
	tests := []struct {
		name     string
		manifest string
		data     RenderData
		want     []string // substrings of the error
	}{
		{"missing parameter", cm + "data: {x: {{ .Params.greeting }}}\n", ok, []string{"greeting", "no entry"}},
		{"missing parameter, nil Params", cm + "data: {x: {{ .Params.greeting }}}\n",
			RenderData{Application: "shop", Component: "web"}, []string{"greeting"}},
		{"unknown field", cm + "data: {x: {{ .Nope }}}\n", ok, []string{"Nope"}},
		{"template syntax", "{{ if }}", ok, []string{"kube: render", "if"}},
		{"no kind", cm + "---\napiVersion: v1\nmetadata: {name: x}\n", ok, []string{"document 2", "kind"}},
		{"no apiVersion or name", "kind: Service\nmetadata: {}\n", ok, []string{"document 1", "Service", "apiVersion", "metadata.name"}},
		{"empty name", "apiVersion: v1\nkind: Service\nmetadata: {name: ''}\n", ok, []string{"document 1", "metadata.name"}},
		{"name not a string", "apiVersion: v1\nkind: Service\nmetadata: {name: [a]}\n", ok, []string{"metadata.name", "a list"}},
		{"metadata not a mapping", "apiVersion: v1\nkind: Service\nmetadata: web\n", ok, []string{"document 1", "metadata"}},
		{"a list document", cm + "---\n- a\n- b\n", ok, []string{"document 2", "a list"}},
		{"a scalar document", "just text\n", ok, []string{"document 1", "a string"}},
		{"invalid YAML", cm + "---\nkind: [\n", ok, []string{"document 2", "YAML"}},
		{"duplicate key", "apiVersion: v1\nkind: A\nkind: B\nmetadata: {name: x}\n", ok, []string{"document 1"}},
		{"nothing rendered", "# only a comment\n---\n", ok, []string{"no objects"}},
		{"no application", cm, RenderData{Component: "web"}, []string{LabelApplication, "required"}},
		{"bad component", cm, RenderData{Application: "shop", Component: "web/1"}, []string{LabelComponent, "web/1"}},
		{"bad label key", cm, RenderData{Application: "shop", Component: "web", Labels: map[string]string{"a b": "x"}}, []string{`"a b"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := Render(tt.manifest, tt.data)
			if err == nil {
				t.Fatalf("no error; rendered %d objects", len(objs))
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestRenderSplitsDocuments checks what counts as a document separator:
// "---" alone or followed by a comment starts a document; empty and
// comment-only documents are skipped; "---" inside an indented block
// scalar or after other text is content.
func TestRenderSplitsDocuments(t *testing.T) {
	manifest := `---
# nothing here
---   # a comment after the separator
apiVersion: v1
kind: ConfigMap
metadata: {name: a}
data:
  script: |
    echo one
    ---
    echo two
  note: "--- not a separator"
---

---
apiVersion: v1
kind: ConfigMap
metadata: {name: b}
`
	objs, err := Render(manifest, RenderData{Application: "x", Component: "y"})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 || objs[0].GetName() != "a" || objs[1].GetName() != "b" {
		t.Fatalf("got %d objects %v, want ConfigMaps a and b", len(objs), objs)
	}
	checkField(t, objs[0], "echo one\n---\necho two\n", "data", "script")
	checkField(t, objs[0], "--- not a separator", "data", "note")
}

// TestRenderReportsDocumentNumberCountingEmptyOnes checks that document
// numbers count skipped documents too, so they match the rendered text.
func TestRenderReportsDocumentNumberCountingEmptyOnes(t *testing.T) {
	_, err := Render("---\n# empty\n---\napiVersion: v1\nmetadata: {name: x}\n", RenderData{Application: "x", Component: "y"})
	if err == nil || !strings.Contains(err.Error(), "document 3") {
		t.Fatalf("err = %v, want one naming document 3", err)
	}
}

// FuzzRender feeds arbitrary manifests to Render: it must never panic, and
// what it accepts must be objects with apiVersion, kind, name and the
// driver's labels.
func FuzzRender(f *testing.F) {
	f.Add(webManifest)
	f.Add("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\n")
	f.Add("{{ .Params.x }}")
	f.Add("- a\n---\nkind: [\n")
	f.Add(`{"apiVersion":"v1","kind":"Service","metadata":{"name":"s"}}`)
	f.Fuzz(func(t *testing.T, manifest string) {
		objs, err := Render(manifest, webData(map[string]string{"x": "1"}))
		if err != nil {
			return
		}
		for _, o := range objs {
			if o.GetAPIVersion() == "" || o.GetKind() == "" || o.GetName() == "" {
				t.Fatalf("accepted an object without identity: %v", o.Object)
			}
			if o.GetLabels()[LabelManagedBy] != ManagedBy {
				t.Fatalf("accepted object lacks the managed-by label: %v", o.Object)
			}
		}
	})
}

func BenchmarkRender(b *testing.B) {
	data := webData(nil)
	for b.Loop() {
		if _, err := Render(webManifest, data); err != nil {
			b.Fatal(err)
		}
	}
}

func checkField(t *testing.T, obj *unstructured.Unstructured, want any, path ...any) {
	t.Helper()
	var cur any = obj.Object
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				t.Errorf("%s %s: no field %v", obj.GetKind(), obj.GetName(), path)
				return
			}
			cur = m[k]
		case int:
			s, ok := cur.([]any)
			if !ok || k >= len(s) {
				t.Errorf("%s %s: no field %v", obj.GetKind(), obj.GetName(), path)
				return
			}
			cur = s[k]
		}
	}
	if !reflect.DeepEqual(cur, want) {
		t.Errorf("%s %s: %v = %#v, want %#v", obj.GetKind(), obj.GetName(), path, cur, want)
	}
}
