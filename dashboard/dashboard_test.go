package dashboard

import (
	"context"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/cloudskin/cloudskin/internal/component"
	"github.com/cloudskin/cloudskin/internal/httpserver"
	"github.com/cloudskin/cloudskin/internal/logging"
	"github.com/cloudskin/cloudskin/internal/metrics"
)

// serve sets the dashboard up on a real httpserver, as `cloudskin up`
// does, serves it on a free port and returns its base URL and host.
// routes register more handlers (a fake API) before serving.
func serve(t testing.TB, routes ...func(*httpserver.Server)) (string, *component.Host) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	h := &component.Host{
		Log:             logging.Discard(),
		Server:          httpserver.New(logging.Discard(), metrics.New("test", "test")),
		ControlPlaneURL: base,
	}
	if err := New().Setup(h); err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		r(h.Server)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Server.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return base, h
}

// noRedirects is a client that shows redirects instead of following them.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func fetch(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return fetch(t, req)
}

func TestRootRedirectsToThePage(t *testing.T) {
	base, _ := serve(t)
	resp, _ := get(t, base+"/")
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != Prefix {
		t.Fatalf("GET / = %d, Location %q; want 302 to %s", resp.StatusCode, resp.Header.Get("Location"), Prefix)
	}
	// Only the root itself: other unknown paths stay 404s.
	if resp, _ := get(t, base+"/nothing-here"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nothing-here = %d, want 404", resp.StatusCode)
	}
	// /ui without its slash goes to /ui/ (the mux's own redirect).
	if resp, _ := get(t, base+"/ui"); resp.StatusCode/100 != 3 || resp.Header.Get("Location") != Prefix {
		t.Errorf("GET /ui = %d to %q, want a redirect to %s", resp.StatusCode, resp.Header.Get("Location"), Prefix)
	}
}

func TestIndexIsServedWithHeadersAndRevalidates(t *testing.T) {
	base, h := serve(t)
	resp, body := get(t, base+Prefix)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `<script type="module" src="app.js">`) {
		t.Fatalf("GET %s = %d:\n%s", Prefix, resp.StatusCode, body)
	}
	for name, want := range map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"Cache-Control":           "no-cache",
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": contentSecurityPolicy,
	} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	etag := resp.Header.Get("ETag")
	if !regexp.MustCompile(`^"[0-9a-f]{16}"$`).MatchString(etag) {
		t.Fatalf("ETag %q", etag)
	}
	req, _ := http.NewRequest(http.MethodGet, base+Prefix, nil)
	req.Header.Set("If-None-Match", etag)
	if resp, body := fetch(t, req); resp.StatusCode != http.StatusNotModified || body != "" {
		t.Errorf("GET with If-None-Match of the current ETag = %d with %d bytes, want 304 and none", resp.StatusCode, len(body))
	}
	req, _ = http.NewRequest(http.MethodHead, base+Prefix+"style.css", nil)
	if resp, body := fetch(t, req); resp.StatusCode != http.StatusOK || body != "" || resp.Header.Get("Content-Type") != "text/css; charset=utf-8" {
		t.Errorf("HEAD style.css = %d, %q, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	}

	eps := h.Endpoints()
	if len(eps) != 1 || eps[0].Component != "dashboard" || eps[0].What != "web UI" || eps[0].URL != base+Prefix {
		t.Errorf("announced %+v, want the page at %s", eps, base+Prefix)
	}
}

// TestEveryReferencedFileIsEmbedded follows the page's references (the
// files index.html loads, the modules each module imports) and fetches
// each: a file renamed or left out of ui/ fails here, not in a browser.
func TestEveryReferencedFileIsEmbedded(t *testing.T) {
	base, _ := serve(t)
	ref := regexp.MustCompile(`(?:src|href)="([a-z]+\.(?:js|css))"|from '\./([a-z]+\.js)'`)
	seen := map[string]bool{}
	queue := []string{"index.html"}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if seen[name] {
			continue
		}
		seen[name] = true
		path := Prefix + name
		if name == "index.html" {
			path = Prefix
		}
		resp, body := get(t, base+path)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d", path, resp.StatusCode)
			continue
		}
		if want := contentTypes[name[strings.LastIndex(name, "."):]]; resp.Header.Get("Content-Type") != want {
			t.Errorf("GET %s: Content-Type %q, want %q", path, resp.Header.Get("Content-Type"), want)
		}
		for _, m := range ref.FindAllStringSubmatch(body, -1) {
			queue = append(queue, m[1]+m[2])
		}
	}
	for _, want := range []string{"app.js", "api.js", "chart.js", "dom.js", "format.js", "ticks.js", "views.js", "style.css"} {
		if !seen[want] {
			t.Errorf("%s is not reached from index.html", want)
		}
	}
	// ... and nothing embedded is left unreferenced.
	files, err := load(embedded, "ui")
	if err != nil {
		t.Fatal(err)
	}
	for name := range files {
		if !seen[name] {
			t.Errorf("ui/%s is embedded but nothing loads it", name)
		}
	}
}

func TestUnknownFilesAre404(t *testing.T) {
	base, _ := serve(t)
	for _, p := range []string{"nope.js", "ui/app.js", "APP.JS", "app.js/", "%2e%2e/dashboard.go", "index.html/x"} {
		if resp, _ := get(t, base+Prefix+p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s%s = %d, want 404", Prefix, p, resp.StatusCode)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, base+Prefix, strings.NewReader("x"))
	if resp, _ := fetch(t, req); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST %s = %d, want 405", Prefix, resp.StatusCode)
	}
}

// TestScriptsNeverParseHTML holds the page to its rule: text from the API
// becomes text nodes, never markup. None of the browser's HTML-parsing
// or code-evaluating entry points may appear in the scripts.
func TestScriptsNeverParseHTML(t *testing.T) {
	banned := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|createContextualFragment|DOMParser|\beval\(|new Function|setTimeout\(['"]`)
	n := 0
	err := fs.WalkDir(embedded, "ui", func(p string, e fs.DirEntry, err error) error {
		if err != nil || !strings.HasSuffix(p, ".js") {
			return err
		}
		n++
		src, err := fs.ReadFile(embedded, p)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(src), "\n") {
			if m := banned.FindString(line); m != "" {
				t.Errorf("%s:%d uses %s", p, i+1, m)
			}
		}
		return nil
	})
	if err != nil || n < 5 {
		t.Fatalf("walked %d scripts: %v", n, err)
	}
}

func TestLoadRefusesWhatItCannotServe(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"no index":     {"ui/app.js": {Data: []byte("x")}},
		"unknown type": {"ui/index.html": {Data: []byte("x")}, "ui/data.bin": {Data: []byte("x")}},
	} {
		if _, err := load(fsys, "ui"); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
	files, err := load(fstest.MapFS{"ui/index.html": {Data: []byte("hi")}, "ui/sub/a.svg": {Data: []byte("<svg/>")}}, "ui")
	if err != nil || string(files["index.html"].body) != "hi" || files["sub/a.svg"].contentType != "image/svg+xml" {
		t.Fatalf("load = %v, %v", files, err)
	}
}

// FuzzServeFile: whatever the path, the answer is an embedded file
// exactly or a 404, never a panic, a 5xx or anything else.
func FuzzServeFile(f *testing.F) {
	files, err := load(embedded, "ui")
	if err != nil {
		f.Fatal(err)
	}
	d := &Dashboard{files: files}
	for _, seed := range []string{"", "index.html", "app.js", "../dashboard.go", "/etc/passwd", "a/../app.js", "\x00", "style.css?x=1"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, name string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.URL.Path = Prefix + name
		w := httptest.NewRecorder()
		d.serveFile(w, r)
		key := name
		if key == "" {
			key = indexFile
		}
		switch f, ok := files[key]; {
		case ok && (w.Code != http.StatusOK || w.Body.String() != string(f.body)):
			t.Fatalf("%q: %d, %d bytes; want the file", name, w.Code, w.Body.Len())
		case !ok && w.Code != http.StatusNotFound:
			t.Fatalf("%q: %d; want 404", name, w.Code)
		}
	})
}

func BenchmarkServeIndex(b *testing.B) {
	files, err := load(embedded, "ui")
	if err != nil {
		b.Fatal(err)
	}
	d := &Dashboard{files: files}
	r := httptest.NewRequest(http.MethodGet, Prefix, nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		d.serveFile(w, r)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}
