package config_test

import (
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/config"
)

func TestDefaultContinuum(t *testing.T) {
	c := config.DefaultContinuum()
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if c.APIVersion != v1alpha1.APIVersion || c.Kind != v1alpha1.KindContinuum || c.Metadata.Name != "local" {
		t.Errorf("TypeMeta and name: got %+v %q", c.TypeMeta, c.Metadata.Name)
	}
	s := c.Spec
	if s.Listen != "127.0.0.1:7070" || s.DataDir != "./.cloudskin" {
		t.Errorf("listen, dataDir: got %q, %q", s.Listen, s.DataDir)
	}
	if s.Heartbeat.Interval.Duration != 2*time.Second || s.Heartbeat.NotReadyAfter.Duration != 6*time.Second {
		t.Errorf("heartbeat: got %v, %v", s.Heartbeat.Interval, s.Heartbeat.NotReadyAfter)
	}
	want := []struct {
		name, tier       string
		typ              v1alpha1.SiteType
		cores            int
		memory, diskSize string
	}{
		{"edge", "edge", v1alpha1.SiteEdge, 2, "2Gi", "20Gi"},
		{"cloud", "cloud", v1alpha1.SiteCloud, 16, "64Gi", "500Gi"},
	}
	if len(s.Sites) != len(want) {
		t.Fatalf("sites: got %d, want %d", len(s.Sites), len(want))
	}
	for i, w := range want {
		got := s.Sites[i]
		if got.Name != w.name || got.Spec.Type != w.typ || got.Spec.Capacity.Cores != w.cores ||
			got.Spec.Capacity.Memory.Cmp(v1alpha1.MustParseQuantity(w.memory).Quantity) != 0 ||
			got.Spec.Capacity.Disk.Cmp(v1alpha1.MustParseQuantity(w.diskSize).Quantity) != 0 {
			t.Errorf("sites[%d]: got %+v, want %+v", i, got, w)
		}
		wantLabels := map[string]string{"tier": w.tier, "region": "local", "arch": "amd64"}
		if !maps.Equal(got.Labels, wantLabels) {
			t.Errorf("sites[%d].labels: got %v, want %v", i, got.Labels, wantLabels)
		}
	}
}

func TestDefaultContinuumIsACopy(t *testing.T) {
	c := config.DefaultContinuum()
	c.Spec.Sites[0].Name = "changed"
	c.Spec.Sites[0].Labels["tier"] = "changed"
	if d := config.DefaultContinuum(); d.Spec.Sites[0].Name != "edge" || d.Spec.Sites[0].Labels["tier"] != "edge" {
		t.Errorf("changing a result changed the defaults: %+v", d.Spec.Sites[0])
	}
}

func TestLoadContinuum(t *testing.T) {
	for _, tc := range []struct {
		name  string
		data  string // "" for no file
		check func(t *testing.T, c v1alpha1.Continuum)
	}{
		{
			name: "no file is the defaults",
			check: func(t *testing.T, c v1alpha1.Continuum) {
				if c.Spec.Listen != "127.0.0.1:7070" || len(c.Spec.Sites) != 2 {
					t.Errorf("got %+v, want the defaults", c.Spec)
				}
				if c.Spec.Cells.Checkpoints != v1alpha1.CellCheckpointsDir {
					t.Errorf("spec.cells.checkpoints: got %q, want %q", c.Spec.Cells.Checkpoints, v1alpha1.CellCheckpointsDir)
				}
			},
		},
		{
			name: "cell checkpoints in GEDS with its persistency tier",
			data: "apiVersion: cloudskin.io/v1alpha1\nkind: Continuum\nspec:\n  geds:\n    persistent:\n      endpoint: 127.0.0.1:9000\n  cells:\n    checkpoints: geds\n",
			check: func(t *testing.T, c v1alpha1.Continuum) {
				if c.Spec.Cells.Checkpoints != v1alpha1.CellCheckpointsGEDS || c.Spec.GEDS.Persistent == nil {
					t.Errorf("got cells %+v, geds %+v", c.Spec.Cells, c.Spec.GEDS)
				}
			},
		},
		{
			name: "overriding listen keeps the default sites",
			data: "apiVersion: cloudskin.io/v1alpha1\nkind: Continuum\nspec:\n  listen: 0.0.0.0:8080\n",
			check: func(t *testing.T, c v1alpha1.Continuum) {
				if c.Spec.Listen != "0.0.0.0:8080" {
					t.Errorf("listen: got %q, want 0.0.0.0:8080", c.Spec.Listen)
				}
				if c.Metadata.Name != "local" || c.Spec.DataDir != "./.cloudskin" || c.Spec.Heartbeat.Interval.Duration != 2*time.Second {
					t.Errorf("got %+v, want the other defaults kept", c)
				}
				if len(c.Spec.Sites) != 2 || c.Spec.Sites[0].Name != "edge" || c.Spec.Sites[1].Name != "cloud" {
					t.Errorf("sites: got %+v, want the default edge and cloud", c.Spec.Sites)
				}
			},
		},
		{
			name: "overriding one heartbeat field keeps the other",
			data: "apiVersion: cloudskin.io/v1alpha1\nkind: Continuum\nspec:\n  heartbeat:\n    notReadyAfter: 1m\n",
			check: func(t *testing.T, c v1alpha1.Continuum) {
				if c.Spec.Heartbeat.Interval.Duration != 2*time.Second || c.Spec.Heartbeat.NotReadyAfter.Duration != time.Minute {
					t.Errorf("heartbeat: got %+v, want interval 2s and notReadyAfter 1m", c.Spec.Heartbeat)
				}
			},
		},
		{
			name: "a sites list replaces the default one",
			data: `apiVersion: cloudskin.io/v1alpha1
kind: Continuum
metadata:
  name: lab
spec:
  sites:
    - name: pi
      spec:
        type: edge
        capacity:
          cores: 4
          memory: 8Gi
`,
			check: func(t *testing.T, c v1alpha1.Continuum) {
				if len(c.Spec.Sites) != 1 {
					t.Fatalf("sites: got %+v, want only pi", c.Spec.Sites)
				}
				pi := c.Spec.Sites[0]
				// Nothing of the default edge site at index 0 may leak in.
				if pi.Name != "pi" || pi.Labels != nil || pi.Spec.Capacity.Cores != 4 || !pi.Spec.Capacity.Disk.IsZero() {
					t.Errorf("sites[0]: got %+v, want pi with 4 cores, no labels, no disk", pi)
				}
				if c.Metadata.Name != "lab" || c.Spec.Listen != "127.0.0.1:7070" {
					t.Errorf("got name %q listen %q, want lab and the default listen", c.Metadata.Name, c.Spec.Listen)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.data != "" {
				path = writeFile(t, "continuum.yaml", tc.data)
			}
			c, err := config.LoadContinuum(path)
			if err != nil {
				t.Fatalf("LoadContinuum: %v", err)
			}
			if err := c.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
			tc.check(t, c)
		})
	}
}

func TestLoadContinuumRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		data string
		want string // the error, after the file name
	}{
		{
			name: "notReadyAfter not above the interval",
			data: "apiVersion: cloudskin.io/v1alpha1\nkind: Continuum\nspec:\n  heartbeat:\n    notReadyAfter: 2s\n",
			want: ": spec.heartbeat.notReadyAfter 2s: must exceed the interval 2s",
		},
		{
			name: "bad listen address",
			data: "apiVersion: cloudskin.io/v1alpha1\nkind: Continuum\nspec:\n  listen: localhost\n",
			want: `: spec.listen "localhost": address localhost: missing port in address`,
		},
		{
			name: "site without capacity",
			data: "apiVersion: cloudskin.io/v1alpha1\nkind: Continuum\nspec:\n  sites:\n    - name: a\n      spec:\n        type: edge\n",
			want: ": spec.sites[0] (a): spec.capacity.cores 0: must be positive",
		},
		{
			name: "unknown stream LTS",
			data: "apiVersion: cloudskin.io/v1alpha1\nkind: Continuum\nspec:\n  streams:\n    lts: tape\n",
			want: `: spec.streams.lts "tape": want "dir" or "geds"`,
		},
		{
			name: "stream LTS in GEDS without its persistency tier",
			data: "apiVersion: cloudskin.io/v1alpha1\nkind: Continuum\nspec:\n  streams:\n    lts: geds\n",
			want: `: spec.streams.lts "geds" needs spec.geds.persistent: a chunk only in a GEDS tier 0 would be lost with it, after the stream's log let it go`,
		},
		{
			name: "unknown cell checkpoint storage",
			data: "apiVersion: cloudskin.io/v1alpha1\nkind: Continuum\nspec:\n  cells:\n    checkpoints: floppy\n",
			want: `: spec.cells.checkpoints "floppy": want "dir" or "geds"`,
		},
		{
			name: "cell checkpoints in GEDS without its persistency tier",
			data: "apiVersion: cloudskin.io/v1alpha1\nkind: Continuum\nspec:\n  cells:\n    checkpoints: geds\n",
			want: `: spec.cells.checkpoints "geds" needs spec.geds.persistent: a checkpoint only in a GEDS tier 0 would not outlive its host`,
		},
		{
			name: "decode error",
			data: "apiVersion: cloudskin.io/v1alpha1\nkind: Continuum\nspec:\n  lisen: localhost:1\n",
			want: ":4:3: spec.lisen: unknown field (known fields: listen, dataDir, heartbeat, telemetry, placement, auth, sites, geds, streams, cells)",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "continuum.yaml", tc.data)
			_, err := config.LoadContinuum(path)
			if err == nil {
				t.Fatal("LoadContinuum: got no error")
			}
			if err.Error() != path+tc.want {
				t.Errorf("LoadContinuum:\ngot  %v\nwant %s%s", err, path, tc.want)
			}
		})
	}
}

func TestLoadContinuumMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := config.LoadContinuum(path)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Errorf("LoadContinuum: got %v, want fs.ErrNotExist naming %s", err, path)
	}
}

func TestClientConfigRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "cloudskin")
	path := filepath.Join(dir, "client.yaml")
	want := v1alpha1.ClientConfig{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindClientConfig},
		Metadata: v1alpha1.ObjectMeta{Name: "local"},
		Spec:     v1alpha1.ClientConfigSpec{Server: "http://127.0.0.1:7070", Token: "s3cret: with a colon"},
	}
	if err := config.WriteClientConfig(path, want); err != nil {
		t.Fatalf("WriteClientConfig: %v", err)
	}
	got, err := config.LoadClientConfig(path)
	if err != nil {
		t.Fatalf("LoadClientConfig: %v", err)
	}
	if got.TypeMeta != want.TypeMeta || got.Metadata.Name != want.Metadata.Name || got.Spec != want.Spec {
		t.Errorf("round trip: got %+v, want %+v", got, want)
	}
	assertMode(t, path, 0o600)
	assertMode(t, dir, 0o700)

	// Overwriting keeps the mode and leaves no temporary file behind.
	want.Spec.Server = "http://127.0.0.1:9090"
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := config.WriteClientConfig(path, want); err != nil {
		t.Fatalf("WriteClientConfig again: %v", err)
	}
	if got, err := config.LoadClientConfig(path); err != nil || got.Spec.Server != want.Spec.Server {
		t.Errorf("LoadClientConfig after overwrite: got %+v, %v", got.Spec, err)
	}
	assertMode(t, path, 0o600)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "client.yaml" {
		t.Errorf("directory holds %v, want only client.yaml", entries)
	}
}

func TestWriteClientConfigRejectsInvalid(t *testing.T) {
	path := filepath.Join(t.TempDir(), "client.yaml")
	err := config.WriteClientConfig(path, v1alpha1.ClientConfig{})
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("WriteClientConfig: got %v, want an error naming %s", err, path)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat: got %v, want no file written", err)
	}
}

func TestLoadClientConfigMissingFile(t *testing.T) {
	_, err := config.LoadClientConfig(filepath.Join(t.TempDir(), "client.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadClientConfig: got %v, want fs.ErrNotExist", err)
	}
}

func TestLoadClientConfigRejects(t *testing.T) {
	for _, tc := range []struct {
		name, data, want string
	}{
		{
			name: "unknown field",
			data: "apiVersion: cloudskin.io/v1alpha1\nkind: ClientConfig\nspec:\n  server: http://x\n  sever: http://y\n",
			want: ":5:3: spec.sever: unknown field (known fields: server, token, s3Endpoint)",
		},
		{
			name: "a Continuum",
			data: "apiVersion: cloudskin.io/v1alpha1\nkind: Continuum\n",
			want: `:2:7: kind: want "ClientConfig", got "Continuum"`,
		},
		{
			name: "no server",
			data: "apiVersion: cloudskin.io/v1alpha1\nkind: ClientConfig\nspec:\n  token: x\n",
			want: ": spec.server is required",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "client.yaml", tc.data)
			_, err := config.LoadClientConfig(path)
			if err == nil || err.Error() != path+tc.want {
				t.Errorf("LoadClientConfig:\ngot  %v\nwant %s%s", err, path, tc.want)
			}
		})
	}
}

func writeFile(t *testing.T, name, data string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func assertMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %v, want %v", path, got, want)
	}
}

// TestExampleContinuumsAreValid loads every Continuum under
// examples/continuum as `cloudskin up -f` does and validates it.
func TestExampleContinuumsAreValid(t *testing.T) {
	files, err := filepath.Glob("../examples/continuum/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example continuums: %v", err)
	}
	for _, f := range files {
		c, err := config.LoadContinuum(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	c, err := config.LoadContinuum("../examples/continuum/geds-backed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Spec.Streams.LTS != v1alpha1.StreamLTSGEDS || c.Spec.Cells.Checkpoints != v1alpha1.CellCheckpointsGEDS || len(c.Spec.Sites) != 2 {
		t.Errorf("geds-backed.yaml: streams %+v, cells %+v, %d sites; want both in GEDS and the default sites", c.Spec.Streams, c.Spec.Cells, len(c.Spec.Sites))
	}
}
