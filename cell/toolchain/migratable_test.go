package toolchain

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestMigratableCommand(t *testing.T) {
	tc := fixed
	tc.WasmOpt, tc.ToolsDir = "/usr/bin/wasm-opt", "/cache/tools"
	opts := Options{Sources: []string{"a.cc"}, Output: "a.wasm", Migratable: true, AsyncifyDataSize: 4096}
	argv := tc.Command(opts)
	want := []string{"a.cc", "-x", "c", "/cache/tools/cloudskin-migrate-4096.c", "-x", "none",
		"-Wl,--export=" + ExportAsyncifyData, "-Wl,--export=" + ExportMemoryGrow}
	if i := slices.Index(argv, "a.cc"); i < 0 || !slices.Equal(argv[i:i+len(want)], want) {
		t.Errorf("Command = %q, want the sources followed by %q", argv, want)
	}
	for _, tt := range []struct {
		opt  string
		want []string
	}{
		{"", []string{"/usr/bin/wasm-opt", "a.wasm", "--asyncify", "--pass-arg=asyncify-imports@wasi_snapshot_preview1.*,mpi.*,cloudskin.*", "-O2", "--debuginfo", "--strip-dwarf", "-o", "a.wasm"}},
		{"-O0", []string{"/usr/bin/wasm-opt", "a.wasm", "--asyncify", "--pass-arg=asyncify-imports@wasi_snapshot_preview1.*,mpi.*,cloudskin.*", "--debuginfo", "--strip-dwarf", "-o", "a.wasm"}},
		{"-Oz", []string{"/usr/bin/wasm-opt", "a.wasm", "--asyncify", "--pass-arg=asyncify-imports@wasi_snapshot_preview1.*,mpi.*,cloudskin.*", "-Oz", "--debuginfo", "--strip-dwarf", "-o", "a.wasm"}},
	} {
		opts.OptLevel = tt.opt
		if got := tc.AsyncifyCommand(opts); !slices.Equal(got, tt.want) {
			t.Errorf("AsyncifyCommand(%q) = %q, want %q", tt.opt, got, tt.want)
		}
	}
	if !bytes.Contains(MigrateSupport(4096), []byte("[4096]")) {
		t.Errorf("MigrateSupport(4096) does not reserve 4096 bytes:\n%s", MigrateSupport(4096))
	}
}

func TestMigratableErrors(t *testing.T) {
	tc := fixed
	err := tc.Compile(context.Background(), Options{Sources: []string{"a.c"}, Output: "a.wasm", Migratable: true})
	if err == nil || !strings.Contains(err.Error(), "wasm-opt") {
		t.Errorf("Migratable without wasm-opt: %v, want an error naming wasm-opt", err)
	}
	tc.WasmOpt, tc.ToolsDir = "/usr/bin/wasm-opt", t.TempDir()
	err = tc.Compile(context.Background(), Options{Sources: []string{"a.c"}, Output: "a.wasm", Migratable: true, AsyncifyDataSize: 100})
	if err == nil || !strings.Contains(err.Error(), "multiple of 8") {
		t.Errorf("AsyncifyDataSize 100: %v, want an error", err)
	}
}

// TestMigratableExamples builds every example both ways and checks that
// the migratable module has Asyncify's and the support object's exports,
// WASI and MPI imports only, and a name section. It logs the size cost.
// Set CLOUDSKIN_MIGRATABLE_OUT to keep the modules there (name.wasm and
// name.migratable.wasm) for timing them with cloudskin cell mpirun.
func TestMigratableExamples(t *testing.T) {
	tc := find(t)
	if tc.WasmOpt == "" {
		t.Skip("no wasm-opt (binaryen) on PATH")
	}
	out := os.Getenv("CLOUDSKIN_MIGRATABLE_OUT")
	if out == "" {
		out = t.TempDir()
	}
	for _, src := range examples(t) {
		name := strings.TrimSuffix(filepath.Base(src), ".c")
		t.Run(name, func(t *testing.T) {
			plainPath := filepath.Join(out, name+".wasm")
			migPath := filepath.Join(out, name+".migratable.wasm")
			compile(t, tc, Options{Sources: []string{src}, Output: plainPath, SIMD: true})
			m := compile(t, tc, Options{Sources: []string{src}, Output: migPath, SIMD: true, Migratable: true})
			for imp, kind := range m.imports {
				mod, _, _ := strings.Cut(imp, ".")
				if kind != kindFunc || (mod != "wasi_snapshot_preview1" && mod != "mpi") {
					t.Errorf("unexpected import %s (kind %d)", imp, kind)
				}
			}
			for _, e := range []string{"_start", "memory", "asyncify_start_unwind", "asyncify_stop_unwind",
				"asyncify_start_rewind", "asyncify_stop_rewind", ExportMemoryGrow} {
				if _, ok := m.exports[e]; !ok {
					t.Errorf("no export %q", e)
				}
			}
			if g, err := m.exportedGlobal(ExportAsyncifyData); err != nil || g.mutable {
				t.Errorf("%s: %+v, %v; want an immutable global (an address)", ExportAsyncifyData, g, err)
			}
			if sp, err := m.exportedGlobal("__stack_pointer"); err != nil || !sp.mutable {
				t.Errorf("__stack_pointer: %+v, %v; want a mutable global", sp, err)
			}
			mig, err := os.ReadFile(migPath)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(mig, []byte("\x04name")) || !bytes.Contains(mig, []byte("main")) {
				t.Error("the migratable module has no name section naming main")
			}
			plain, err := os.Stat(plainPath)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d -> %d bytes (%+.0f%%)", name, plain.Size(), len(mig), 100*(float64(len(mig))/float64(plain.Size())-1))
		})
	}
}
