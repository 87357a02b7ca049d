package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/heraldpush/herald/auth"
	"github.com/heraldpush/herald/internal/browsertest"
	"github.com/heraldpush/herald/internal/dashboard"
)

// updateDocsEnv, set to 1, makes TestDashboardBrowser save its screenshot
// as docs/img/dashboard.png.
const updateDocsEnv = "HERALD_UPDATE_DOCS"

// TestDashboardBrowser drives the full dashboard in Chromium: live numbers,
// recent disconnect reasons, and the console subscribing and publishing
// with a pasted token.
func TestDashboardBrowser(t *testing.T) {
	opsNoLeaks(t)
	s := startOps(t, nil, "--dashboard", "full", "--anonymous")
	ctx := browsertest.New(t, browsertest.WithWindowSize(1360, 1280))
	if err := chromedp.Do(ctx, chromedp.Navigate(s.base+"/")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, ctx, 30*time.Second, `document.body.dataset.updates >= 1`)

	// Activity: three streams, one of which leaves, one whose token
	// expires; a few publishes.
	c := opsClient(t)
	streams := []*opsStream{s.subscribe(t, c), s.subscribe(t, c), s.subscribe(t, c)}
	expiring := s.subscribe(t, c, "Authorization: Bearer "+opsToken(t, auth.TokenSpec{Subscribe: []string{"*"}, TTL: 2 * time.Second}))
	s.waitMetric(t, "herald_subscribers", eq(4))
	for i := range 5 {
		if code := s.publish(t, c, fmt.Sprint("d", i), "x"); code != 200 {
			t.Fatalf("publish: %d", code)
		}
	}
	streams[2].close()
	s.waitMetric(t, `herald_disconnects_total{reason="token_expired"}`, eq(1))
	expiring.expect(t, "d4")
	browsertest.WaitJS(t, ctx, 30*time.Second, `document.getElementById("subscribers").textContent === "2"`)
	browsertest.WaitJS(t, ctx, 30*time.Second, `!!document.querySelector('#reasons tr[data-reason="token_expired"]') && !!document.querySelector('#reasons tr[data-reason="client_gone"]')`)
	browsertest.WaitJS(t, ctx, 30*time.Second, `[...document.querySelectorAll("#recent li")].some(li => li.textContent.includes("token_expired"))`)
	browsertest.WaitJS(t, ctx, 30*time.Second, `document.getElementById("topics").textContent === "1"`)
	browsertest.WaitJS(t, ctx, 30*time.Second, `[...document.querySelectorAll("#top-topics td")].some(td => td.textContent === `+jsString(opsTopic)+`)`)

	// The console: subscribe and publish with a pasted token.
	tok := opsToken(t, auth.TokenSpec{Publish: []string{"*"}, Subscribe: []string{"*"}})
	set := fmt.Sprintf(`(() => {
		document.getElementById("token").value = %s;
		document.getElementById("topic").value = "https://example.com/dashboard-test";
		document.getElementById("data").value = "hello from the dashboard";
		document.getElementById("private").checked = true;
		document.getElementById("subscribe").click();
		return true;
	})()`, jsString(tok))
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](set)); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, ctx, 30*time.Second, `document.body.dataset.subscribed === "true"`)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("publish").click(), true`)); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, ctx, 30*time.Second, `document.getElementById("pub-status").textContent.startsWith("published urn:uuid:")`)
	browsertest.WaitJS(t, ctx, 30*time.Second, `[...document.querySelectorAll("#received pre")].some(p => p.textContent === "hello from the dashboard")`)
	// A private update's topic is not listed by name.
	browsertest.WaitJS(t, ctx, 30*time.Second, `document.getElementById("topics").textContent === "2"`)
	names, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("#top-topics td.topic")].map(td => td.textContent).join(" ")`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(names, "dashboard-test") {
		t.Errorf("a private topic is listed: %s", names)
	}
	// A refused publish says why.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("token").value = "not-a-token", document.getElementById("publish").click(), true`)); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, ctx, 30*time.Second, `document.getElementById("pub-status").textContent.startsWith("refused: 401")`)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("token").value = "", true`)); err != nil {
		t.Fatal(err)
	}
	// Let the rate charts fill before the picture: a few seconds of
	// traffic, or twenty with streams coming and going for the docs.
	warm := 2 * time.Second
	if os.Getenv(updateDocsEnv) == "1" {
		warm = 20 * time.Second
	}
	var extra []*opsStream
	for i, start := 0, time.Now(); time.Since(start) < warm; i++ {
		s.publish(t, c, fmt.Sprint("e", i), strings.Repeat("x", 200+i%7*300))
		if i%20 == 0 {
			extra = append(extra, s.subscribe(t, c))
			if len(extra) > 3 {
				extra[0].close()
				extra = extra[1:]
			}
		}
		time.Sleep(time.Duration(40+i%5*20) * time.Millisecond)
	}
	browsertest.WaitJS(t, ctx, 30*time.Second, `document.body.dataset.updates >= 6`)

	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if os.Getenv(updateDocsEnv) == "1" {
		dir = filepath.Join("..", "..", "docs", "img")
		os.MkdirAll(dir, 0o755)
	}
	path := filepath.Join(dir, "dashboard.png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)

	if lines := browsertest.Console(ctx); len(lines) > 0 {
		for _, l := range lines {
			if strings.Contains(l, "Content Security Policy") || strings.Contains(l, "Uncaught") {
				t.Errorf("browser console: %s", l)
			}
		}
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestDashboardReadOnly checks the default mode over plain HTTP: the page
// and its assets come from Herald alone, the stats stream flows, and no
// topic name or console is exposed.
func TestDashboardReadOnly(t *testing.T) {
	opsNoLeaks(t)
	s := startOps(t, nil, "--anonymous")
	c := opsClient(t)
	resp, err := c.Get(s.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "/dashboard/app.js") {
		t.Fatalf("/: %d", resp.StatusCode)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	// Nothing is loaded from elsewhere.
	for _, m := range regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(string(page), -1) {
		if !strings.HasPrefix(m[1], "/") || strings.HasPrefix(m[1], "//") {
			if m[1] != "data:," {
				t.Errorf("external asset %q", m[1])
			}
		}
	}
	for _, asset := range []string{"/dashboard/app.js", "/dashboard/app.css"} {
		resp, err := c.Get(s.base + asset)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(body) < 100 {
			t.Errorf("%s: %d, %d bytes", asset, resp.StatusCode, len(body))
		}
		if strings.Contains(string(body), "http://") || strings.Contains(string(body), "https://") && asset == "/dashboard/app.css" {
			t.Errorf("%s refers to another site", asset)
		}
	}

	if code := s.publish(t, c, "p1", "x"); code != 200 {
		t.Fatal(code)
	}
	resp, err = c.Get(s.base + "/dashboard/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	br := bufio.NewReader(resp.Body)
	var ev dashboard.Event
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			if err := json.Unmarshal([]byte(data), &ev); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if ev.Mode != "read-only" || ev.Stats.Published != 1 || ev.Topics.Active != 1 || len(ev.Topics.Top) != 0 {
		t.Errorf("event: mode %s, published %d, topics %+v; want read-only, 1, one active and no names", ev.Mode, ev.Stats.Published, ev.Topics)
	}
	if ev.Connections < 1 || ev.Stats.Node == "" {
		t.Errorf("event: connections %d, node %q", ev.Connections, ev.Stats.Node)
	}
	// The stream ends with the server (it must not hold up a shutdown).
	done := make(chan struct{})
	go func() {
		io.Copy(io.Discard, br)
		close(done)
	}()
	start := time.Now()
	if code := s.stop(); code != 0 {
		t.Errorf("exit %d", code)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the stats stream outlived the server")
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("shutdown took %v", took)
	}
}
