package cell

import (
	"fmt"
	"os"
	"strings"

	"github.com/cloudskin/cloudskin/cell/wasi"
)

// ParseDir parses a --dir value: HOST[:GUEST][:ro]. GUEST defaults to
// HOST, so `--dir data` shows ./data to the program as "data".
func ParseDir(s string) (wasi.Preopen, error) {
	parts := strings.Split(s, ":")
	p := wasi.Preopen{}
	if n := len(parts); n > 1 && (parts[n-1] == "ro" || parts[n-1] == "rw") {
		p.ReadOnly = parts[n-1] == "ro"
		parts = parts[:n-1]
	}
	switch len(parts) {
	case 1:
		p.HostDir, p.GuestPath = parts[0], parts[0]
	case 2:
		p.HostDir, p.GuestPath = parts[0], parts[1]
	default:
		return p, fmt.Errorf("--dir %q: want HOST[:GUEST][:ro]", s)
	}
	if p.HostDir == "" || p.GuestPath == "" {
		return p, fmt.Errorf("--dir %q: empty directory", s)
	}
	info, err := os.Stat(p.HostDir)
	if err != nil {
		return p, fmt.Errorf("--dir %q: %w", s, err)
	}
	if !info.IsDir() {
		return p, fmt.Errorf("--dir %q: %s is not a directory", s, p.HostDir)
	}
	return p, nil
}
