package enginetest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestTestdataCurrent rebuilds the test modules from their WAT sources and
// checks that the committed .wasm files match.
func TestTestdataCurrent(t *testing.T) {
	if _, err := exec.LookPath("wat2wasm"); err != nil {
		t.Skip("wat2wasm not installed (Debian package wabt; scripts/install-deps.sh)")
	}
	dir := t.TempDir()
	out, err := exec.Command("sh", "testdata/build.sh", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("testdata/build.sh: %v\n%s", err, out)
	}
	wats, _ := filepath.Glob("testdata/*.wat")
	if len(wats) == 0 {
		t.Fatal("no testdata/*.wat")
	}
	for _, wat := range wats {
		name := filepath.Base(wat[:len(wat)-len(".wat")])
		fresh, err := os.ReadFile(filepath.Join(dir, name+".wasm"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fresh, Module(name)) {
			t.Errorf("testdata/%s.wasm is stale: run testdata/build.sh", name)
		}
	}
	if got, want := len(ModuleNames()), len(wats); got != want {
		t.Errorf("%d .wasm files for %d .wat files", got, want)
	}
}
