// Package browsertest runs headless Chromium for tests through chromedp.
//
// New starts one browser per test (Debian's /usr/bin/chromium, or the first
// "chromium" on PATH) with a fresh profile in t.TempDir() and returns a
// chromedp context for its first tab. Isolated opens a further tab in a
// browser context of its own — separate cookies, storage and cache, like a
// second device — so one browser can play both the desktop and the phone of
// a login flow. Everything is closed when the test ends, and the chromedp
// goroutines are gone by then, so packages that use this run goleak.
//
// Each tab's console output and uncaught exceptions are captured and written
// to the test log when the test fails (or always, with -v and
// HERALD_BROWSER_CONSOLE=1). Screenshots saves numbered PNGs into
// $HERALD_SCREENSHOTS or, by default, a directory of the test's own.
//
// When Chromium is missing the test is skipped with a loud reason, or fails
// when the environment variable CI is "true": in CI a missing browser is a
// broken setup, not a reason to pass.
package browsertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/heraldpush/herald/internal/testbin"
)

// Binary returns the path of Chromium, or "" when there is none.
func Binary() string {
	return testbin.Find([]string{"chromium", "chromium-browser"}, "/usr/bin/chromium", "/usr/lib/chromium/chromium")
}

// Require skips the test, or fails it under CI=true, when Chromium is not
// installed, and returns its path otherwise.
func Require(t testing.TB) string {
	t.Helper()
	return testbin.Require(t, Binary(), "chromium is not installed (apt-get install chromium): the browser tests did NOT run")
}

// An Option changes how New starts the browser.
type Option func(*config)

type config struct {
	width, height int
	flags         map[string]any
	startTimeout  time.Duration
}

// WithWindowSize sets the browser window's size in CSS pixels (default
// 1280×800).
func WithWindowSize(width, height int) Option {
	return func(c *config) { c.width, c.height = width, height }
}

// WithFlag adds a Chromium command-line flag (value true for a bare
// switch, false to remove one of the defaults).
func WithFlag(name string, value any) Option {
	return func(c *config) { c.flags[name] = value }
}

// WithStartTimeout bounds how long the browser may take to start and open
// its first tab (default 60 s: a loaded 2-core CI machine can be slow).
func WithStartTimeout(d time.Duration) Option {
	return func(c *config) { c.startTimeout = d }
}

// closeTimeout bounds a graceful browser shutdown at cleanup; after it the
// process is killed.
const closeTimeout = 10 * time.Second

// New starts a headless Chromium for the test and returns a chromedp
// context for its first tab, with the browser already running. The browser
// is closed, and its goroutines and profile directory are gone, when the
// test ends. Use the context with chromedp.Do / chromedp.Run; do not share
// it between goroutines (open more tabs with Tab or Isolated).
func New(t testing.TB, opts ...Option) context.Context {
	t.Helper()
	bin := Require(t)
	cfg := config{width: 1280, height: 800, flags: map[string]any{}, startTimeout: 60 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	var stderr lockedBuffer
	allocOpts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(cfg.width, cfg.height),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
		chromedp.CombinedOutput(&stderr),
	}
	for name, value := range cfg.flags {
		allocOpts = append(allocOpts, chromedp.Flag(name, value))
	}
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(), allocOpts...)
	console := newConsole(t, "tab 1")
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithListener(console.listen))
	t.Cleanup(func() {
		// Close the browser gracefully, then make sure the process and
		// every chromedp goroutine are gone before goleak looks.
		cctx, ccancel := context.WithTimeout(context.Background(), closeTimeout)
		_ = chromedp.Cancel(cctx)
		ccancel()
		cancel()
		allocCancel()
	})
	t.Cleanup(console.report) // runs first: the log is complete by then

	// An empty Do starts the browser and attaches the first tab. The
	// browser lives as long as the context of that first Do, so it must be
	// ctx itself, not a child with a timeout: bound the start with a timer.
	timer := time.AfterFunc(cfg.startTimeout, cancel)
	err := chromedp.Do(ctx)
	timer.Stop()
	if err != nil {
		t.Fatalf("browsertest: starting %s: %v\nbrowser output:\n%s", bin, err, stderr.String())
	}
	return context.WithValue(ctx, consoleKey{}, console)
}

// Tab opens another tab in the same browser context as parent (sharing its
// cookies) and returns its chromedp context, closed when the test ends.
func Tab(t testing.TB, parent context.Context) context.Context {
	t.Helper()
	return open(t, parent, "tab", false)
}

// Isolated opens a tab in a new browser context of its own — no cookies,
// storage or cache shared with any other tab, as on a second device — and
// returns its chromedp context. The tab and its browser context are closed
// when the test ends. parent is any context returned by New, Tab or
// Isolated.
func Isolated(t testing.TB, parent context.Context) context.Context {
	t.Helper()
	return open(t, parent, "isolated tab", true)
}

func open(t testing.TB, parent context.Context, what string, isolated bool) context.Context {
	t.Helper()
	if chromedp.FromContext(parent) == nil || chromedp.FromContext(parent).Browser == nil {
		t.Fatal("browsertest: parent is not a context from browsertest.New")
	}
	console := newConsole(t, what)
	opts := []chromedp.ContextOption{chromedp.WithListener(console.listen)}
	if isolated {
		opts = append(opts, chromedp.WithNewBrowserContext())
	}
	ctx, cancel := chromedp.NewContext(parent, opts...)
	t.Cleanup(cancel)
	t.Cleanup(console.report)
	// As in New: the tab lives as long as its first Do's context.
	timer := time.AfterFunc(30*time.Second, cancel)
	err := chromedp.Do(ctx)
	timer.Stop()
	if err != nil {
		t.Fatalf("browsertest: opening %s: %v", what, err)
	}
	return context.WithValue(ctx, consoleKey{}, console)
}

type consoleKey struct{}

// Console returns what the tab of ctx (a context from New, Tab or Isolated)
// has written to its console so far, uncaught exceptions included, one
// line each.
func Console(ctx context.Context) []string {
	c, _ := ctx.Value(consoleKey{}).(*console)
	if c == nil {
		return nil
	}
	return c.Lines()
}

// Phone is an action that makes the tab look like a phone: a 390×844
// viewport at device scale 2, mobile layout and touch.
func Phone() chromedp.Action[chromedp.Void] {
	return chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch)
}

// console collects one tab's console output for the test log.
type console struct {
	t    testing.TB
	name string

	mu    sync.Mutex
	lines []string
}

// maxConsoleLines bounds what one tab keeps; a page that logs in a loop
// must not eat the test's memory.
const maxConsoleLines = 2000

func newConsole(t testing.TB, name string) *console {
	return &console{t: t, name: name}
}

// listen runs on chromedp's event goroutine: it must be quick and must not
// call back into the browser.
func (c *console) listen(ev any) {
	var line string
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		args := make([]string, 0, len(ev.Args))
		for _, a := range ev.Args {
			args = append(args, remoteText(a))
		}
		line = fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " "))
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			text += " " + d.Exception.Description
		}
		line = fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber+1, text)
	default:
		return
	}
	c.mu.Lock()
	if len(c.lines) < maxConsoleLines {
		c.lines = append(c.lines, time.Now().Format("15:04:05.000")+" "+line)
	}
	c.mu.Unlock()
}

func remoteText(a *runtime.RemoteObject) string {
	if a == nil {
		return ""
	}
	if len(a.Value) > 0 {
		v := string(a.Value)
		if len(v) >= 2 && v[0] == '"' {
			return strings.Trim(v, `"`)
		}
		return v
	}
	if a.Description != "" {
		return a.Description
	}
	return string(a.Type)
}

// Lines returns what the tab has written to its console so far.
func (c *console) Lines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.lines...)
}

func (c *console) report() {
	if !c.t.Failed() && os.Getenv("HERALD_BROWSER_CONSOLE") != "1" {
		return
	}
	lines := c.Lines()
	if len(lines) == 0 {
		return
	}
	c.t.Logf("browsertest: %s console:\n  %s", c.name, strings.Join(lines, "\n  "))
}

// Screenshots saves numbered PNG screenshots for a test.
type Screenshots struct {
	t   testing.TB
	dir string

	mu sync.Mutex
	n  int
}

// ScreenshotDirEnv names the environment variable that sets where
// screenshots go; without it they go to a temporary directory of the test.
const ScreenshotDirEnv = "HERALD_SCREENSHOTS"

// NewScreenshots returns a Screenshots that writes into $HERALD_SCREENSHOTS
// (created if needed) or, when that is unset, into t.TempDir(). Files are
// named "<prefix>-NN-<step>.png"; prefix defaults to the test's name.
func NewScreenshots(t testing.TB, prefix string) *Screenshots {
	t.Helper()
	dir := os.Getenv(ScreenshotDirEnv)
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("browsertest: screenshot directory: %v", err)
	}
	if prefix == "" {
		prefix = t.Name()
	}
	return &Screenshots{t: t, dir: filepath.Join(dir, sanitize(prefix))}
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func sanitize(s string) string {
	return strings.Trim(unsafeName.ReplaceAllString(s, "-"), "-")
}

// Dir returns the directory the screenshots go to.
func (s *Screenshots) Dir() string { return filepath.Dir(s.dir) }

// Take captures the visible part of the tab of ctx and saves it; it
// returns the file's path. A failure is reported with t.Errorf (a missing
// screenshot should not hide the assertion that follows).
func (s *Screenshots) Take(ctx context.Context, step string) string {
	s.t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		s.t.Errorf("browsertest: screenshot %q: %v", step, err)
		return ""
	}
	s.mu.Lock()
	s.n++
	path := fmt.Sprintf("%s-%02d-%s.png", s.dir, s.n, sanitize(step))
	s.mu.Unlock()
	if err := os.WriteFile(path, png, 0o644); err != nil {
		s.t.Errorf("browsertest: saving screenshot: %v", err)
		return ""
	}
	return path
}

// WaitJS polls a JavaScript expression in the tab until it is true, up to
// timeout; it fails the test with the expression and the last error
// otherwise. Use it to wait for page state instead of sleeping.
func WaitJS(t testing.TB, ctx context.Context, timeout time.Duration, expr string) {
	t.Helper()
	if err := WaitTrue(ctx, timeout, expr); err != nil {
		t.Fatal(err)
	}
}

// WaitTrue is WaitJS returning an error instead of failing the test.
func WaitTrue(ctx context.Context, timeout time.Duration, expr string) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("Boolean("+expr+")"))
		if err == nil && ok {
			return nil
		}
		last = err
		if time.Now().After(deadline) {
			if last == nil {
				last = errors.New("still false")
			}
			return fmt.Errorf("browsertest: waiting %v for %s: %w", timeout, expr, last)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("browsertest: waiting for %s: %w", expr, ctx.Err())
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// lockedBuffer collects the browser's output for error messages.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 64<<10 { // keep the start; it says why a launch failed
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
