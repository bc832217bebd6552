package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/config"
)

// Test file headers; both are four lines, so what follows starts at line 5.
const (
	continuumHead = "apiVersion: cloudskin.io/v1alpha1\nkind: Continuum\nmetadata:\n  name: test\n"
	siteHead      = "apiVersion: cloudskin.io/v1alpha1\nkind: Site\nmetadata:\n  name: edge-1\n"
)

// badFile is a file that Decode must reject with exactly one error.
type badFile struct {
	name string
	kind string // v1alpha1.KindContinuum if empty
	data string
	want config.Error // File is always "bad.yaml"; Msg is a fragment
}

// badFiles also seed FuzzDecode.
var badFiles = []badFile{
	{
		name: "unknown top-level field",
		data: continuumHead + "specs:\n  listen: 127.0.0.1:1\n",
		want: config.Error{Line: 5, Column: 1, Path: "specs", Msg: "unknown field (known fields: apiVersion, kind, metadata, spec)"},
	},
	{
		name: "unknown nested field",
		kind: v1alpha1.KindSite,
		data: siteHead + "spec:\n  type: edge\n  capacity:\n    cpus: 2\n    memory: 1Gi\n",
		want: config.Error{Line: 8, Column: 5, Path: "spec.capacity.cpus", Msg: "unknown field (known fields: cores, memory, disk)"},
	},
	{
		name: "unknown field in a list item",
		data: continuumHead + "spec:\n  sites:\n    - name: a\n    - name: b\n      spec:\n        capacity:\n          cpus: 2\n",
		want: config.Error{Line: 11, Column: 11, Path: "spec.sites[1].spec.capacity.cpus", Msg: "unknown field (known fields: cores, memory, disk)"},
	},
	{
		name: "unknown metadata field",
		data: "apiVersion: cloudskin.io/v1alpha1\nkind: Continuum\nmetadata:\n  nmae: test\n",
		want: config.Error{Line: 4, Column: 3, Path: "metadata.nmae", Msg: "known fields: name, labels, annotations, generation, creationTimestamp"},
	},
	{
		name: "string for integer",
		kind: v1alpha1.KindSite,
		data: siteHead + "spec:\n  type: edge\n  capacity:\n    cores: \"two\"\n",
		want: config.Error{Line: 8, Column: 12, Path: "spec.capacity.cores", Msg: `want an integer, got "two"`},
	},
	{
		// yaml.v3 alone would truncate this to 1.
		name: "float for integer",
		kind: v1alpha1.KindSite,
		data: siteHead + "spec:\n  type: edge\n  capacity:\n    cores: 1.5\n",
		want: config.Error{Line: 8, Column: 12, Path: "spec.capacity.cores", Msg: "want an integer, got 1.5"},
	},
	{
		name: "list for string",
		data: continuumHead + "spec:\n  listen: [127.0.0.1:1]\n",
		want: config.Error{Line: 6, Column: 11, Path: "spec.listen", Msg: "want a string, got a list"},
	},
	{
		name: "bad quantity",
		kind: v1alpha1.KindSite,
		data: siteHead + "spec:\n  type: edge\n  capacity:\n    cores: 2\n    memory: lots\n",
		want: config.Error{Line: 9, Column: 13, Path: "spec.capacity.memory", Msg: `cannot unmarshal "lots" into quantity`},
	},
	{
		name: "bad duration",
		data: continuumHead + "spec:\n  heartbeat:\n    interval: soon\n",
		want: config.Error{Line: 7, Column: 15, Path: "spec.heartbeat.interval", Msg: `cannot unmarshal "soon" into duration`},
	},
	{
		name: "duplicate key",
		data: continuumHead + "spec:\n  listen: 127.0.0.1:1\n  dataDir: /tmp\n  listen: 127.0.0.1:2\n",
		want: config.Error{Line: 8, Column: 3, Path: "spec.listen", Msg: "duplicate key (first defined at line 6)"},
	},
	{
		name: "duplicate label",
		kind: v1alpha1.KindSite,
		data: "apiVersion: cloudskin.io/v1alpha1\nkind: Site\nmetadata:\n  name: a\n  labels:\n    app.kubernetes.io/name: x\n    app.kubernetes.io/name: y\n",
		want: config.Error{Line: 7, Column: 5, Path: `metadata.labels["app.kubernetes.io/name"]`, Msg: "duplicate key (first defined at line 6)"},
	},
	{
		name: "missing kind",
		data: "apiVersion: cloudskin.io/v1alpha1\nmetadata:\n  name: test\n",
		want: config.Error{Line: 1, Column: 1, Path: "kind", Msg: "required field is missing; want kind: Continuum"},
	},
	{
		name: "missing apiVersion",
		data: "kind: Continuum\nmetadata:\n  name: test\n",
		want: config.Error{Line: 1, Column: 1, Path: "apiVersion", Msg: "required field is missing; want apiVersion: cloudskin.io/v1alpha1"},
	},
	{
		name: "wrong kind",
		data: siteHead + "spec:\n  type: edge\n",
		want: config.Error{Line: 2, Column: 7, Path: "kind", Msg: `want "Continuum", got "Site"`},
	},
	{
		name: "wrong apiVersion",
		data: "apiVersion: v1\nkind: Continuum\n",
		want: config.Error{Line: 1, Column: 13, Path: "apiVersion", Msg: `want "cloudskin.io/v1alpha1", got "v1"`},
	},
	{
		name: "empty file",
		data: "",
		want: config.Error{Msg: "empty document; want a Continuum"},
	},
	{
		name: "comments only",
		data: "# nothing here\n\n",
		want: config.Error{Msg: "empty document; want a Continuum"},
	},
	{
		name: "document marker only",
		data: "---\n",
		want: config.Error{Line: 1, Column: 1, Msg: "empty document; want a Continuum"},
	},
	{
		name: "two documents",
		data: continuumHead + "---\n" + continuumHead,
		want: config.Error{Line: 5, Column: 1, Msg: "a second YAML document starts here; the file must hold exactly one Continuum"},
	},
	{
		name: "not a mapping",
		data: "- apiVersion: cloudskin.io/v1alpha1\n",
		want: config.Error{Line: 1, Column: 1, Msg: "want a Continuum (a mapping with apiVersion, kind, metadata and spec), got a list"},
	},
	{
		name: "bad indentation",
		data: continuumHead + "spec:\n  listen: 127.0.0.1:1\n   dataDir: /tmp\n",
		want: config.Error{Line: 7, Msg: "mapping values are not allowed in this context"},
	},
	{
		name: "tab indentation",
		data: continuumHead + "spec:\n\tlisten: 127.0.0.1:1\n",
		want: config.Error{Line: 6, Column: 1, Msg: "found character that cannot start any token (a tab in the indentation; YAML indents with spaces only)"},
	},
	{
		name: "unclosed flow sequence",
		data: continuumHead + "spec:\n  sites: [\n",
		want: config.Error{Line: 6, Msg: "did not find expected node content"},
	},
}

func TestDecodeRejects(t *testing.T) {
	for _, tc := range badFiles {
		t.Run(tc.name, func(t *testing.T) {
			kind := tc.kind
			if kind == "" {
				kind = v1alpha1.KindContinuum
			}
			err := decodeAs(kind, "bad.yaml", []byte(tc.data))
			var got *config.Error
			if !errors.As(err, &got) {
				t.Fatalf("Decode: got %T %v, want *config.Error", err, err)
			}
			if got != err {
				t.Errorf("Decode: got %d errors, want one:\n%v", len(err.(config.ErrorList)), err)
			}
			if got.File != "bad.yaml" || got.Line != tc.want.Line || got.Column != tc.want.Column || got.Path != tc.want.Path {
				t.Errorf("Decode: got %s:%d:%d path %q, want bad.yaml:%d:%d path %q (%v)",
					got.File, got.Line, got.Column, got.Path, tc.want.Line, tc.want.Column, tc.want.Path, got)
			}
			if !strings.Contains(got.Msg, tc.want.Msg) {
				t.Errorf("Decode: got message %q, want it to contain %q", got.Msg, tc.want.Msg)
			}
		})
	}
}

// decodeAs decodes into the resource type of kind.
func decodeAs(kind, file string, data []byte) error {
	switch kind {
	case v1alpha1.KindSite:
		var s v1alpha1.Site
		return config.Decode(file, data, kind, &s)
	default:
		var c v1alpha1.Continuum
		return config.Decode(file, data, kind, &c)
	}
}

func TestDecodeReportsAllErrors(t *testing.T) {
	data := continuumHead + `spec:
  listen: [a]
  heartbeat: {interval: soon, notReadyAfter: 1m, every: 2s}
  sites:
    - name: a
      spec:
        capacity: {cores: 1.5, memory: 1Gi}
`
	var c v1alpha1.Continuum
	err := config.Decode("many.yaml", []byte(data), v1alpha1.KindContinuum, &c)
	var list config.ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("Decode: got %T %v, want an ErrorList", err, err)
	}
	want := []string{
		"many.yaml:6:11: spec.listen: want a string, got a list",
		`many.yaml:7:25: spec.heartbeat.interval: cannot unmarshal "soon" into duration (want e.g. 2s)`,
		"many.yaml:7:50: spec.heartbeat.every: unknown field (known fields: interval, notReadyAfter)",
		"many.yaml:11:27: spec.sites[0].spec.capacity.cores: want an integer, got 1.5",
	}
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Errorf("Decode:\ngot\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
	// errors.As finds the first *Error through Unwrap() []error.
	var first *config.Error
	if !errors.As(err, &first) || first.Path != "spec.listen" {
		t.Errorf("errors.As: got %v, want the spec.listen error", first)
	}
	// What decoded keeps its value.
	if c.Spec.Heartbeat.NotReadyAfter.Duration.String() != "1m0s" {
		t.Errorf("notReadyAfter: got %v, want 1m0s", c.Spec.Heartbeat.NotReadyAfter)
	}
}

func TestDecodeAliases(t *testing.T) {
	for _, tc := range []struct {
		name string
		data string
		want []string
	}{
		{
			// yaml.v3 reports both at the anchor's line.
			name: "each use of a bad value",
			data: siteHead + "spec:\n  type: edge\n  capacity:\n    cores: 1\n    memory: &m lots\n    disk: *m\n",
			want: []string{
				`a.yaml:9:13: spec.capacity.memory: cannot unmarshal "lots" into quantity (want e.g. 2Gi)`,
				`a.yaml:10:11: spec.capacity.disk: cannot unmarshal "lots" into quantity (want e.g. 2Gi)`,
			},
		},
		{
			// The alias is of the mapping around the bad value, so the
			// error can only be placed at the anchor, once.
			name: "bad value inside an aliased mapping",
			data: continuumHead + "spec:\n  sites:\n    - &s {name: a, spec: {capacity: {memory: lots}}}\n    - *s\n",
			want: []string{
				`a.yaml:7:46: spec.sites[0].spec.capacity.memory: cannot unmarshal "lots" into quantity (want e.g. 2Gi)`,
			},
		},
		{
			// yaml.v3 alone would truncate the float.
			name: "aliased float for integer",
			data: siteHead + "spec:\n  type: edge\n  capacity:\n    memory: &f 1.5\n    cores: *f\n",
			want: []string{"a.yaml:9:12: spec.capacity.cores: want an integer, got 1.5"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kind := v1alpha1.KindSite
			if strings.HasPrefix(tc.data, continuumHead) {
				kind = v1alpha1.KindContinuum
			}
			err := decodeAs(kind, "a.yaml", []byte(tc.data))
			want := strings.Join(tc.want, "\n")
			if err == nil || err.Error() != want {
				t.Errorf("Decode:\ngot\n%v\nwant\n%s", err, want)
			}
		})
	}
}

func TestDecodeFlowStyleColumns(t *testing.T) {
	// Several errors on one line: each must point at its own node.
	data := siteHead + "spec: {type: [edge], capacity: {cores: two, cpus: 3, memory: {a: 1}}}\n"
	var s v1alpha1.Site
	err := config.Decode("f.yaml", []byte(data), v1alpha1.KindSite, &s)
	want := strings.Join([]string{
		"f.yaml:5:14: spec.type: want a string, got a list",
		`f.yaml:5:40: spec.capacity.cores: want an integer, got "two"`,
		"f.yaml:5:45: spec.capacity.cpus: unknown field (known fields: cores, memory, disk)",
		"f.yaml:5:62: spec.capacity.memory: cannot unmarshal a mapping into quantity (want e.g. 2Gi)",
	}, "\n")
	if err == nil || err.Error() != want {
		t.Errorf("Decode:\ngot\n%v\nwant\n%s", err, want)
	}
}

func TestDecodeBadTimestampIsLocated(t *testing.T) {
	// time.Time fails through encoding.TextUnmarshaler, which yaml.v3
	// reports without a line.
	data := siteHead + "status:\n  lastHeartbeatTime: yesterday\n"
	var s v1alpha1.Site
	err := config.Decode("t.yaml", []byte(data), v1alpha1.KindSite, &s)
	var e *config.Error
	if !errors.As(err, &e) || e.Line != 6 || e.Column != 22 || e.Path != "status.lastHeartbeatTime" {
		t.Errorf("Decode: got %v, want it at t.yaml:6:22 status.lastHeartbeatTime", err)
	}
}

func TestDecodeKeepsValuesNotSet(t *testing.T) {
	s := v1alpha1.NewSite("x", v1alpha1.SiteSpec{Type: v1alpha1.SiteEdge})
	s.Spec.Capacity.Cores = 4
	data := "apiVersion: cloudskin.io/v1alpha1\nkind: Site\nmetadata:\n  name: y\n"
	if err := config.Decode("k.yaml", []byte(data), v1alpha1.KindSite, &s); err != nil {
		t.Fatal(err)
	}
	if s.Metadata.Name != "y" || s.Spec.Type != v1alpha1.SiteEdge || s.Spec.Capacity.Cores != 4 {
		t.Errorf("Decode: got %+v, want name y and the spec kept", s)
	}
}

func TestDecodeWantsPointerToStruct(t *testing.T) {
	var s v1alpha1.Site
	for _, out := range []any{nil, s, (*v1alpha1.Site)(nil), new(int)} {
		err := config.Decode("p.yaml", []byte(siteHead), v1alpha1.KindSite, out)
		if err == nil {
			t.Errorf("Decode into %T: got no error", out)
		}
	}
}

func TestErrorFormat(t *testing.T) {
	for _, tc := range []struct {
		err  config.Error
		want string
	}{
		{config.Error{File: "s.yaml", Line: 7, Column: 5, Path: "spec.x", Msg: "m"}, "s.yaml:7:5: spec.x: m"},
		{config.Error{File: "s.yaml", Line: 7, Msg: "m"}, "s.yaml:7: m"},
		{config.Error{File: "s.yaml", Column: 5, Msg: "m"}, "s.yaml: m"},
		{config.Error{File: "s.yaml", Path: "kind", Msg: "m"}, "s.yaml: kind: m"},
		{config.Error{Msg: "m"}, "m"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("%+v: got %q, want %q", tc.err, got, tc.want)
		}
	}
}
