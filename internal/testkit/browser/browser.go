package browser

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// DefaultTimeout bounds one Do call: long enough for a slow CI machine,
// short enough that a broken page fails the test instead of hanging it.
const DefaultTimeout = 30 * time.Second

// Width and Height are the size of the browser window.
const (
	Width  = 1440
	Height = 900
)

// candidates are where Chromium is looked for, in order; CHROMIUM overrides them.
var candidates = []string{"/usr/bin/chromium", "/usr/bin/chromium-browser", "chromium", "chromium-browser", "google-chrome"}

// errNotFound is the failure when no Chromium can be found.
var errNotFound = errors.New("chromium not found: apt-get install chromium (or set CHROMIUM to its path)")

// Browser is a headless Chromium started for one test; it stops when the test ends.
type Browser struct {
	root context.Context // root keeps the browser process alive
}

// Start starts headless Chromium with a fresh profile in t.TempDir(). It fails
// the test when Chromium cannot be found or started.
func Start(t testing.TB) *Browser {
	t.Helper()
	path, err := find()
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("password-store", "basic"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(Width, Height),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	root, cancelRoot := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelRoot()
		cancelAlloc()
	})
	// The first Run starts the browser; it must not have a timeout of its own.
	if err := chromedp.Do(root); err != nil {
		t.Fatalf("browser: start %s: %v", path, err)
	}
	return &Browser{root: root}
}

func find() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return exec.LookPath(p)
	}
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			return p, nil
		}
	}
	return "", errNotFound
}

// Page is one tab in its own browser context: a person with their own cookies.
type Page struct {
	ctx context.Context

	mu   sync.Mutex // mu protects logs
	logs []string
}

// NewPage opens a tab in a new browser context, so its cookies are its own
// (a second person). It closes when the test ends.
func (b *Browser) NewPage(t testing.TB) *Page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.root, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("browser: open a page: %v", err)
	}
	p := &Page{ctx: ctx}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			p.mu.Lock()
			p.logs = append(p.logs, m.String())
			p.mu.Unlock()
		}
	}()
	return p
}

// Context returns the page's chromedp context, for chromedp.Run.
func (p *Page) Context() context.Context { return p.ctx }

// Logs returns what the page wrote to its console so far, uncaught
// exceptions included.
func (p *Page) Logs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.logs...)
}

// Do runs the actions on the page within DefaultTimeout and fails the test on
// an error, naming what was being done and what the page logged.
func (p *Page) Do(t testing.TB, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := p.Try(DefaultTimeout, steps...); err != nil {
		t.Fatalf("browser: %s: %v%s", what, err, p.logText())
	}
}

// Try runs the actions within timeout and returns the error.
func (p *Page) Try(timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(p.ctx, timeout)
	defer cancel()
	return chromedp.Do(ctx, steps...)
}

// Eval evaluates a JavaScript expression on the page and decodes its value.
func Eval[T any](t testing.TB, p *Page, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, DefaultTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("browser: evaluate %s: %v%s", expr, err, p.logText())
	}
	return v
}

// WaitFor polls a JavaScript condition until it is true or timeout passes,
// and fails the test then. Use it for what a selector cannot express.
func (p *Page) WaitFor(t testing.TB, what, cond string, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, timeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(timeout))); err != nil {
		t.Fatalf("browser: waiting until %s: %v%s", what, err, p.logText())
	}
}

// WaitAcrossReload polls a JavaScript condition like WaitFor, through a
// reload or navigation of the page: an evaluation that the reload cuts off
// (its document and script context are gone) is started again on the new
// document until the condition holds or timeout passes. Use it after an
// action that reloads the page, with a condition only the new page meets,
// before acting on the new page's nodes.
func (p *Page) WaitAcrossReload(t testing.TB, what, cond string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		// Short rounds: a round whose context the reload destroyed fails
		// at once or hangs until its own deadline, never the whole wait.
		round := min(2*time.Second, time.Until(deadline))
		ctx, cancel := context.WithTimeout(p.ctx, round)
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(round)))
		cancel()
		if err == nil {
			return
		}
		if p.ctx.Err() != nil || !time.Now().Before(deadline) {
			t.Fatalf("browser: waiting until %s: %v%s", what, err, p.logText())
		}
	}
}

// Screenshot returns a PNG of the whole page.
func (p *Page) Screenshot(t testing.TB) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, DefaultTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("browser: screenshot: %v", err)
	}
	return png
}

func (p *Page) logText() string {
	logs := p.Logs()
	if len(logs) == 0 {
		return ""
	}
	return "\npage console:\n  " + strings.Join(logs, "\n  ")
}
