// Package dashboard is the web page of the continuum (L3): sites, the block
// catalog, applications with their replicas and placement reasons,
// migrations, the Learning Plane's agents and live charts, served by the
// control plane at /ui/ and fed only by its public API (/api/v1), exactly
// as the CLI is.
//
// The page is plain HTML, CSS and JavaScript modules embedded in the binary
// with go:embed: no build step, no npm, no CDN, nothing fetched at run time.
// Its charts are a few dozen lines of SVG of our own rather than a charting
// library, because the page draws only time-series lines and a library
// would be the largest file in it. The Go side only serves those files;
// everything the page shows comes from the API, with the API's own
// authentication (a bearer token the page asks for on a 401).
package dashboard

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/cloudskin/cloudskin/internal/component"
)

// Prefix is the path the page is served under.
const Prefix = "/ui/"

// indexFile is what Prefix itself serves.
const indexFile = "index.html"

// contentSecurityPolicy lets the page load only its own files and talk
// only to its own origin: even if an API string were ever put into the
// page as HTML, no script it carried could run (no inline scripts) or
// send data elsewhere.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

//go:embed ui
var embedded embed.FS

// contentTypes are the only kinds of file the page is made of; load
// refuses others, so no file is served with a guessed type.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
}

// Dashboard is the component that serves the page.
type Dashboard struct {
	files map[string]asset
}

// asset is one embedded file, ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// New returns the dashboard component.
func New() *Dashboard { return &Dashboard{} }

// Name implements component.Component.
func (d *Dashboard) Name() string { return "dashboard" }

// Setup mounts GET /ui/ (the page and its files) and GET / (a redirect to
// /ui/) on the host's server and announces the page.
func (d *Dashboard) Setup(h *component.Host) error {
	files, err := load(embedded, "ui")
	if err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	d.files = files
	h.Server.HandleFunc("GET "+Prefix, d.serveFile)
	h.Server.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		// 302, not 301: browsers keep a permanent redirect forever, and
		// the root may serve something else one day.
		http.Redirect(w, r, Prefix, http.StatusFound)
	})
	h.Announce(d.Name(), "web UI", h.ControlPlaneURL+Prefix)
	return nil
}

// Run has nothing to do: the page is served by the host's server.
func (d *Dashboard) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

// load reads every file under dir of fsys, keyed by its path below dir.
func load(fsys fs.FS, dir string) (map[string]asset, error) {
	files := map[string]asset{}
	err := fs.WalkDir(fsys, dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			return fmt.Errorf("embedded file %s: no content type for %q", p, path.Ext(p))
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return fmt.Errorf("embedded file %s: %w", p, err)
		}
		sum := sha256.Sum256(body)
		files[strings.TrimPrefix(p, dir+"/")] = asset{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if _, ok := files[indexFile]; !ok {
		return nil, fmt.Errorf("embedded files under %s lack %s", dir, indexFile)
	}
	return files, nil
}

// serveFile answers GET /ui/NAME. Every answer must be revalidated
// (no-cache) and carries an ETag, so a browser asks each time but gets a
// body only when the binary, and so the file, changed: the file names
// carry no version, and a page half old and half new would break.
func (d *Dashboard) serveFile(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, Prefix)
	if name == "" {
		name = indexFile
	}
	f, ok := d.files[name] // an exact key: no path is ever opened
	if !ok {
		http.NotFound(w, r)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", f.contentType)
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("ETag", f.etag)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	if f.contentType == contentTypes[".html"] {
		hdr.Set("Content-Security-Policy", contentSecurityPolicy)
	}
	// ServeContent answers If-None-Match with 304, HEAD and ranges.
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.body))
}
