// Package dashboardtest drives Debian's Chromium, headless, for the tests
// of the dashboard page: the page's own tests in package dashboard and the
// end-to-end tests of the cloudskin binary. A test that needs the browser
// is skipped, with a message naming `make deps`, where Chromium is not
// installed.
package dashboardtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Chromium is where Debian's chromium package installs the browser.
const Chromium = "/usr/bin/chromium"

// ScreenshotDirEnv names a directory screenshots are also copied to, so
// that a person can look at them after the test.
const ScreenshotDirEnv = "CLOUDSKIN_SCREENSHOT_DIR"

// Browser is one headless Chromium with one tab, for one test.
type Browser struct {
	ctx context.Context

	mu         sync.Mutex
	exceptions []string
}

// New starts Chromium with a fresh profile in a temporary directory and a
// 1280×900 window, or skips t when Chromium is not installed. The browser
// stops when the test ends.
func New(t testing.TB) *Browser {
	t.Helper()
	if _, err := os.Stat(Chromium); err != nil {
		t.Skipf("dashboardtest: %s not found (Debian package chromium; `make deps` installs it): %v", Chromium, err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(Chromium),
		chromedp.Headless,
		chromedp.NoSandbox, // tests run as root in containers, where the sandbox cannot start
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), // /dev/shm is small in containers
		chromedp.Flag("password-store", "basic"),     // no desktop keyring
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	b := &Browser{}
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithListener(b.listen))
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first run starts the browser and binds it to ctx, which has no
	// deadline: callers put deadlines on single steps (see Within).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("dashboardtest: start %s: %v", Chromium, err)
	}
	b.ctx = ctx
	return b
}

// listen records the page's uncaught exceptions. It runs in the loop
// that reads the browser's messages, so it only appends.
func (b *Browser) listen(ev any) {
	e, ok := ev.(*runtime.EventExceptionThrown)
	if !ok || e.ExceptionDetails == nil {
		return
	}
	d := e.ExceptionDetails
	text := d.Text
	if d.Exception != nil && d.Exception.Description != "" {
		text += " " + d.Exception.Description
	}
	b.mu.Lock()
	b.exceptions = append(b.exceptions, fmt.Sprintf("%s (%s:%d)", text, d.URL, d.LineNumber+1))
	b.mu.Unlock()
}

// Context is the tab's context, without a deadline.
func (b *Browser) Context() context.Context { return b.ctx }

// Within returns the tab's context bounded to d, for one step.
func (b *Browser) Within(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(b.ctx, d)
}

// Exceptions returns the uncaught JavaScript exceptions seen so far.
func (b *Browser) Exceptions() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.exceptions...)
}

// NoExceptions fails t if the page threw anything it did not catch.
func (b *Browser) NoExceptions(t testing.TB) {
	t.Helper()
	if ex := b.Exceptions(); len(ex) > 0 {
		t.Errorf("the page threw %d uncaught exception(s):\n%s", len(ex), strings.Join(ex, "\n"))
	}
}

// Screenshot saves the whole page as PNG in dir under name (e.g.
// "dashboard.png") and, when $CLOUDSKIN_SCREENSHOT_DIR is set, copies it
// there too. It returns the path in dir.
func (b *Browser) Screenshot(t testing.TB, dir, name string) string {
	t.Helper()
	ctx, cancel := b.Within(15 * time.Second)
	defer cancel()
	// From the top, so the page's sticky header is where a reader expects it.
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`)); err != nil {
		t.Fatalf("dashboardtest: scroll to the top: %v", err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 means PNG
	if err != nil {
		t.Fatalf("dashboardtest: screenshot: %v", err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("dashboardtest: %v", err)
	}
	if keep := os.Getenv(ScreenshotDirEnv); keep != "" {
		if err := os.MkdirAll(keep, 0o755); err != nil {
			t.Fatalf("dashboardtest: $%s: %v", ScreenshotDirEnv, err)
		}
		kept := filepath.Join(keep, name)
		if err := os.WriteFile(kept, png, 0o644); err != nil {
			t.Fatalf("dashboardtest: $%s: %v", ScreenshotDirEnv, err)
		}
		t.Logf("screenshot: %s", kept)
	}
	return path
}

// WaitFor waits up to d until the JavaScript expression cond is true in
// the page, polling; on timeout it fails t with what, and the expression
// desc (if not empty) evaluated, to show what the page had instead.
func (b *Browser) WaitFor(t testing.TB, d time.Duration, what, cond, desc string) {
	t.Helper()
	ctx, cancel := b.Within(d)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](cond, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(d)))
	if err == nil {
		return
	}
	got := ""
	if desc != "" {
		dctx, dcancel := b.Within(5 * time.Second)
		defer dcancel()
		if s, derr := chromedp.Run(dctx, chromedp.Evaluate[string](desc)); derr == nil {
			got = "\npage has: " + s
		}
	}
	t.Fatalf("%s: not within %s: %v%s", what, d, err, got)
}

// Eval evaluates a JavaScript expression in the page and decodes its value.
func Eval[T any](t testing.TB, b *Browser, expr string) T {
	t.Helper()
	ctx, cancel := b.Within(10 * time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %q: %v", expr, err)
	}
	return v
}

// Do runs steps (navigation, typing, clicks) with a deadline of d.
func (b *Browser) Do(t testing.TB, d time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := b.Within(d)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}
