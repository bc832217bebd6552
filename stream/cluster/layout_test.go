package cluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLayoutIsRecorded(t *testing.T) {
	dir := t.TempDir()
	l, err := loadLayout(dir, 0)
	if err != nil || l.Containers != DefaultContainers {
		t.Fatalf("new layout: %+v, %v; want %d containers", l, err, DefaultContainers)
	}
	if l, err := loadLayout(dir, 0); err != nil || l.Containers != DefaultContainers {
		t.Fatalf("reloaded: %+v, %v", l, err)
	}
	if _, err := loadLayout(dir, 4); err == nil || !strings.Contains(err.Error(), "records 8 containers, 4 were asked for") {
		t.Fatalf("changing the count: %v, want a refusal", err)
	}
	for _, bad := range []struct{ data, want string }{
		{`{"format":2,"containers":8,"hash":"fnv1a64-fmix64-mod"}`, "format 2"},
		{`{"format":1,"containers":0,"hash":"fnv1a64-fmix64-mod"}`, "containers 0"},
		{`{"format":1,"containers":8,"hash":"crc32"}`, `hash "crc32"`},
		{`{"format":1,`, "decoding"},
	} {
		if err := os.WriteFile(filepath.Join(dir, layoutFile), []byte(bad.data), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := loadLayout(dir, 0); err == nil || !strings.Contains(err.Error(), bad.want) || !strings.Contains(err.Error(), layoutFile) {
			t.Errorf("layout %s: %v, want an error naming the file and %q", bad.data, err, bad.want)
		}
	}
	if _, err := loadLayout(t.TempDir(), MaxContainers+1); err == nil {
		t.Fatal("too many containers accepted")
	}
}

func FuzzParseLayout(f *testing.F) {
	f.Add([]byte(`{"format":1,"containers":8,"hash":"fnv1a64-fmix64-mod"}`))
	f.Add([]byte(`{"format":1,"containers":-1}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := parseLayout(data)
		if err != nil {
			return
		}
		if l.Format != 1 || l.Containers < 1 || l.Containers > MaxContainers || l.Hash != hashName {
			t.Fatalf("accepted %+v from %q", l, data)
		}
	})
}
