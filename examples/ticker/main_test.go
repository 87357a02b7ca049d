package main

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.uber.org/goleak"

	"github.com/heraldpush/herald/internal/browsertest"
	"github.com/heraldpush/herald/sse"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// start runs the ticker on a free port with a fast tick and returns its
// base URL; it stops when the test ends.
func start(t *testing.T, every time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, every) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

// read opens the stream with an optional Last-Event-ID and returns the
// first n events.
func read(t *testing.T, base, lastID string, n int) []sse.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/.well-known/mercure?topic="+Topic, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("subscribe: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	dec := sse.NewDecoder(resp.Body)
	var evs []sse.Event
	for len(evs) < n {
		ev, err := dec.Next()
		if err != nil {
			t.Fatalf("after %d events: %v", len(evs), err)
		}
		evs = append(evs, ev)
	}
	return evs
}

func TestStreamAndResume(t *testing.T) {
	base := start(t, 20*time.Millisecond)
	evs := read(t, base, "", 3)
	first, err := strconv.Atoi(evs[0].ID)
	if err != nil {
		t.Fatalf("id %q is not a number", evs[0].ID)
	}
	for i, ev := range evs {
		if ev.Type != "tick" || ev.ID != strconv.Itoa(first+i) {
			t.Fatalf("event %d: %+v, want event tick with id %d", i, ev, first+i)
		}
		if _, err := time.Parse(time.RFC3339Nano, ev.Data); err != nil {
			t.Fatalf("data %q: %v", ev.Data, err)
		}
	}
	// Resume from the first id: the hub replays from the one after it,
	// without a gap or a duplicate.
	again := read(t, base, evs[0].ID, 3)
	for i, ev := range again {
		if want := strconv.Itoa(first + 1 + i); ev.ID != want {
			t.Fatalf("resumed event %d has id %s, want %s", i, ev.ID, want)
		}
	}
}

func TestPage(t *testing.T) {
	base := start(t, 50*time.Millisecond)
	ctx := browsertest.New(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, ctx, 20*time.Second, "window.ticks.length >= 5")
	ticks, err := chromedp.Run(ctx, chromedp.Evaluate[[]int]("window.ticks"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(ticks); i++ {
		if ticks[i] != ticks[i-1]+1 {
			t.Fatalf("ticks not consecutive: %v", ticks)
		}
	}
	state, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("state")))
	if err != nil || state != "open" {
		t.Fatalf("state %q (%v), want open", state, err)
	}
	browsertest.NewScreenshots(t, "ticker").Take(ctx, "page")
}
