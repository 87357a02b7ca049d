package browsertest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.uber.org/goleak"

	"github.com/heraldpush/herald/internal/browsertest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// page sets a cookie on the first visit and shows whether the browser sent
// one back, so isolation between browser contexts is visible.
func page(w http.ResponseWriter, r *http.Request) {
	seen := "none"
	if c, err := r.Cookie("who"); err == nil {
		seen = c.Value
	}
	if v := r.URL.Query().Get("set"); v != "" {
		http.SetCookie(w, &http.Cookie{Name: "who", Value: v, Path: "/"})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<!doctype html><meta name="viewport" content="width=device-width"><title>t</title><p id="seen">%s</p>
<script>console.log("hello", 42); window.ready = true;</script>`, seen)
}

func TestBrowser(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(page))
	defer srv.Close()

	desktop := browsertest.New(t)
	if err := chromedp.Do(desktop, chromedp.Navigate(srv.URL+"/?set=desktop")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, desktop, 10*time.Second, "window.ready")
	if err := chromedp.Do(desktop, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	seen, err := chromedp.Run(desktop, chromedp.Text(chromedp.ID("seen")))
	if err != nil {
		t.Fatal(err)
	}
	if seen != "desktop" {
		t.Fatalf("desktop tab did not keep its cookie: %q", seen)
	}

	// A second tab of the same context shares the cookie; an isolated one
	// does not.
	tab := browsertest.Tab(t, desktop)
	if err := chromedp.Do(tab, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	if seen, _ := chromedp.Run(tab, chromedp.Text(chromedp.ID("seen"))); seen != "desktop" {
		t.Fatalf("second tab: cookie %q, want desktop", seen)
	}
	phone := browsertest.Isolated(t, desktop)
	if err := chromedp.Do(phone, browsertest.Phone(), chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	if seen, _ := chromedp.Run(phone, chromedp.Text(chromedp.ID("seen"))); seen != "none" {
		t.Fatalf("isolated tab saw cookie %q", seen)
	}
	width, err := chromedp.Run(phone, chromedp.Evaluate[int]("window.innerWidth"))
	if err != nil || width != 390 {
		t.Fatalf("phone width %d (%v), want 390", width, err)
	}

	if lines := browsertest.Console(desktop); len(lines) == 0 || !strings.Contains(lines[0], "console.log: hello 42") {
		t.Fatalf("console capture: %q", lines)
	}

	shots := browsertest.NewScreenshots(t, "")
	path := shots.Take(phone, "phone page")
	st, err := os.Stat(path)
	if err != nil || st.Size() < 100 {
		t.Fatalf("screenshot %s: %v", path, err)
	}
	if !strings.HasSuffix(path, "TestBrowser-01-phone-page.png") {
		t.Fatalf("screenshot name %s", path)
	}
}
