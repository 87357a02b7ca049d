package client

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock that moves only when a test says so. Every timer it
// makes is sent on made (buffered), so a test sees each delay the client
// asks for.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
	made   chan *fakeTimer
	// instant fires every timer as soon as it is made, for tests that do
	// not look at delays.
	instant bool
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), made: make(chan *fakeTimer, 4096)}
}

type fakeTimer struct {
	c      *fakeClock
	d      time.Duration // as first asked for
	due    time.Time
	f      func()
	active bool
	resets int
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) timer {
	if c.instant {
		f()
		return &fakeTimer{c: c, d: d, f: f}
	}
	c.mu.Lock()
	t := &fakeTimer{c: c, d: d, due: c.now.Add(d), f: f, active: true}
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	select {
	case c.made <- t:
	default:
		panic("fakeClock: too many timers nobody looked at")
	}
	return t
}

// Advance moves the clock forward and fires the timers that fall due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []func()
	for _, t := range c.timers {
		if t.active && !t.due.After(c.now) {
			t.active = false
			due = append(due, t.f)
		}
	}
	c.mu.Unlock()
	for _, f := range due {
		f()
	}
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.active
	t.active = false
	return was
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.active
	t.active = true
	t.due = t.c.now.Add(d)
	t.resets++
	return was
}

// Resets reports how many times the timer was reset.
func (t *fakeTimer) Resets() int {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	return t.resets
}

// Fire moves the clock to the timer's due time, firing it.
func (t *fakeTimer) Fire() {
	t.c.mu.Lock()
	d := t.due.Sub(t.c.now)
	t.c.mu.Unlock()
	t.c.Advance(max(d, 0))
}

// nextTimer waits for the client to make a timer.
func (c *fakeClock) nextTimer(t *testing.T) *fakeTimer {
	t.Helper()
	select {
	case ft := <-c.made:
		return ft
	case <-time.After(10 * time.Second):
		t.Fatal("the client made no timer within 10s")
		return nil
	}
}

// seqRand returns the values in turn, then repeats the last.
func seqRand(vals ...float64) func() float64 {
	var mu sync.Mutex
	i := 0
	return func() float64 {
		mu.Lock()
		defer mu.Unlock()
		v := vals[min(i, len(vals)-1)]
		i++
		return v
	}
}

// request is what a test server saw of one request.
type request struct {
	Method string
	Path   string
	Header http.Header
	Body   string
}

// testServer serves request n (from 0) with handle(n, w, r) and records
// every request.
type testServer struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []request
	seen chan request
}

func newTestServer(t *testing.T, handle func(n int, w http.ResponseWriter, r *http.Request)) *testServer {
	t.Helper()
	ts := &testServer{seen: make(chan request, 1024)}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rq := request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: string(body)}
		ts.mu.Lock()
		n := len(ts.reqs)
		ts.reqs = append(ts.reqs, rq)
		ts.mu.Unlock()
		select {
		case ts.seen <- rq:
		default:
		}
		handle(n, w, r)
	}))
	t.Cleanup(ts.Close)
	return ts
}

func (ts *testServer) requests() []request {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]request(nil), ts.reqs...)
}

// next waits for the next request.
func (ts *testServer) next(t *testing.T) request {
	t.Helper()
	select {
	case r := <-ts.seen:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no request within 10s")
		return request{}
	}
}

// openStream answers with the headers of an event stream, flushed.
func openStream(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
}

// write writes s and flushes it.
func write(w http.ResponseWriter, s string) {
	io.WriteString(w, s)
	w.(http.Flusher).Flush()
}

// runAsync runs c in a goroutine; the returned function waits for Run's
// result.
func runAsync(t *testing.T, c *Client, ctx context.Context) func() error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	var err error
	return func() error {
		t.Helper()
		once.Do(func() {
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				c.Close()
				t.Fatal("Run did not return within 20s")
			}
		})
		return err
	}
}

// newClient is New for tests, failing the test on error.
func newClient(t *testing.T, url string, o *Options) *Client {
	t.Helper()
	c, err := New(url, o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
