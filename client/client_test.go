package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/sse"
	"go.uber.org/goleak"
)

func TestNewRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		url  string
		opts *Options
	}{
		{"", nil},
		{"ftp://example.com/", nil},
		{"http://", nil},
		{"http://[::1", nil},
		{"/relative", nil},
		{"http://example.com/", &Options{Method: "BAD METHOD"}},
	} {
		if _, err := New(tc.url, tc.opts); err == nil {
			t.Errorf("New(%q) accepted it", tc.url)
		}
	}
}

func TestRequestHeaders(t *testing.T) {
	ts := newTestServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	h := http.Header{}
	h.Set("Authorization", "Bearer tok")
	h.Set("X-Custom", "1")
	h.Set("Last-Event-ID", "ignored: the client manages it")
	c := newClient(t, ts.URL+"/events?x=1", &Options{Header: h})
	h.Set("X-Custom", "changed after New")
	c.Run(context.Background())
	r := ts.requests()[0]
	for k, want := range map[string]string{
		"Accept":        "text/event-stream",
		"Cache-Control": "no-cache",
		"Authorization": "Bearer tok",
		"X-Custom":      "1",
	} {
		if got := r.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if _, ok := r.Header["Last-Event-Id"]; ok {
		t.Errorf("Last-Event-ID sent on a first connection without one: %q", r.Header.Get("Last-Event-ID"))
	}
	if r.Method != http.MethodGet || r.Path != "/events" {
		t.Errorf("request %s %s, want GET /events", r.Method, r.Path)
	}
}

// fatalCase is a response that must stop the client without a retry.
func testFatal(t *testing.T, handle http.HandlerFunc, check func(*testing.T, *ResponseError)) {
	t.Helper()
	ts := newTestServer(t, func(n int, w http.ResponseWriter, r *http.Request) { handle(w, r) })
	clk := newFakeClock()
	c := newClient(t, ts.URL, &Options{hooks: &hooks{clock: clk}})
	var reported []error
	c.OnError(func(err error) {
		if c.State() != Closed {
			t.Errorf("OnError with a fatal error in state %v", c.State())
		}
		reported = append(reported, err)
	})
	opened := false
	c.OnOpen(func(*http.Response) { opened = true })
	err := c.Run(context.Background())
	var re *ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("Run() = %v, want a *ResponseError", err)
	}
	check(t, re)
	if len(reported) != 1 || reported[0] != err {
		t.Errorf("OnError got %v, want the error Run returned once", reported)
	}
	if opened {
		t.Error("OnOpen was called")
	}
	if n := len(ts.requests()); n != 1 {
		t.Errorf("%d requests, want 1: a failed response is never retried", n)
	}
	if len(clk.made) != 0 {
		t.Error("the client scheduled a reconnection")
	}
	if c.State() != Closed {
		t.Errorf("state %v after Run, want closed", c.State())
	}
}

func Test204StopsForGood(t *testing.T) {
	testFatal(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}, func(t *testing.T, re *ResponseError) {
		if !errors.Is(re, ErrNoContent) {
			t.Errorf("errors.Is(%v, ErrNoContent) = false", re)
		}
		if re.StatusCode != 204 || re.Error() != "server answered 204: not reconnecting" {
			t.Errorf("got %d %q", re.StatusCode, re.Error())
		}
	})
}

func Test500StopsForGood(t *testing.T) {
	testFatal(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "the hub\nis broken", http.StatusInternalServerError)
	}, func(t *testing.T, re *ResponseError) {
		if errors.Is(re, ErrNoContent) {
			t.Error("a 500 matches ErrNoContent")
		}
		if re.StatusCode != 500 || re.Message != "the hub is broken" {
			t.Errorf("got %d %q", re.StatusCode, re.Message)
		}
		if want := "server answered 500 Internal Server Error: the hub is broken"; re.Error() != want {
			t.Errorf("Error() = %q, want %q", re.Error(), want)
		}
	})
}

func TestWrongMediaTypeStopsForGood(t *testing.T) {
	for _, ct := range []string{"text/plain", "", "text/event-streams", "application/json; charset=utf-8", "text/html"} {
		t.Run(ct, func(t *testing.T) {
			testFatal(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header()["Content-Type"] = []string{ct}
				io.WriteString(w, "data: not an event stream\n\n")
			}, func(t *testing.T, re *ResponseError) {
				if re.StatusCode != 200 || re.ContentType != ct {
					t.Errorf("got %d %q", re.StatusCode, re.ContentType)
				}
				if !strings.Contains(re.Error(), "not an event stream") {
					t.Errorf("Error() = %q", re.Error())
				}
			})
		})
	}
}

func TestMediaTypeParametersAllowed(t *testing.T) {
	for _, ct := range []string{"text/event-stream", "text/event-stream; charset=utf-8", "Text/Event-Stream", "text/event-stream;charset=\"latin1\"", "text/event-stream; bogus"} {
		t.Run(ct, func(t *testing.T) {
			ts := newTestServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", ct)
				io.WriteString(w, "data: ok\n\n")
			})
			c := newClient(t, ts.URL, &Options{MaxRetries: -1})
			var got []string
			c.OnMessage(func(ev sse.Event) { got = append(got, ev.Data) })
			if err := c.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0] != "ok" {
				t.Errorf("got %q", got)
			}
		})
	}
}

func TestRetryResponse(t *testing.T) {
	ts := newTestServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n < 2 {
			http.Error(w, "deploying", http.StatusServiceUnavailable)
			return
		}
		openStream(w)
		write(w, "data: back\n\n")
	})
	clk := newFakeClock()
	clk.instant = true
	c := newClient(t, ts.URL, &Options{MaxRetries: -1, hooks: &hooks{clock: clk},
		RetryResponse: func(r *http.Response) bool { return r.StatusCode == http.StatusServiceUnavailable }})
	c.opts.MaxRetries = 0 // reconnect; the third response ends with EOF
	var errs []error
	c.OnError(func(err error) { errs = append(errs, err) })
	ctx, cancel := context.WithCancel(context.Background())
	c.OnMessage(func(ev sse.Event) { cancel() })
	err := c.Run(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run() = %v", err)
	}
	if len(errs) != 2 {
		t.Fatalf("OnError got %v, want two retries", errs)
	}
	var re *RetryError
	var resp *ResponseError
	if !errors.As(errs[0], &re) || !errors.As(errs[0], &resp) || resp.StatusCode != 503 || re.Attempt != 1 {
		t.Errorf("first error %#v", errs[0])
	}
}

func TestRedirects(t *testing.T) {
	for _, code := range []int{301, 302, 303, 307, 308} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			ts := newTestServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/old" {
					http.Redirect(w, r, "/new", code)
					return
				}
				openStream(w)
				write(w, "data: moved\n\n")
			})
			h := http.Header{"X-Custom": {"kept"}, "Authorization": {"Bearer same-host"}}
			c := newClient(t, ts.URL+"/old", &Options{MaxRetries: -1, Header: h, LastEventID: "7"})
			var got []string
			c.OnMessage(func(ev sse.Event) { got = append(got, ev.Data) })
			if err := c.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("got %q", got)
			}
			reqs := ts.requests()
			if len(reqs) != 2 || reqs[1].Path != "/new" {
				t.Fatalf("requests %+v", reqs)
			}
			for _, k := range []string{"X-Custom", "Authorization", "Last-Event-ID", "Accept"} {
				if reqs[1].Header.Get(k) != reqs[0].Header.Get(k) {
					t.Errorf("%s: %q after the redirect, %q before", k, reqs[1].Header.Get(k), reqs[0].Header.Get(k))
				}
			}
		})
	}
}

// TestRedirectPOST: a 307 or 308 re-sends the method and body; a 301, 302
// or 303 turns a POST into a GET without a body, as browsers do.
func TestRedirectPOST(t *testing.T) {
	for _, code := range []int{301, 302, 303, 307, 308} {
		for _, fresh := range []bool{false, true} {
			t.Run(fmt.Sprint(code, fresh), func(t *testing.T) {
				ts := newTestServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == "/old" {
						http.Redirect(w, r, "/new", code)
						return
					}
					openStream(w)
					write(w, "data: x\n\n")
				})
				o := &Options{MaxRetries: -1}
				if fresh {
					o.NewBody = func() (io.Reader, error) { return strings.NewReader(`{"prompt":"hi"}`), nil }
				} else {
					o.Body = []byte(`{"prompt":"hi"}`)
				}
				c := newClient(t, ts.URL+"/old", o)
				if err := c.Run(context.Background()); err != nil {
					t.Fatal(err)
				}
				reqs := ts.requests()
				if len(reqs) != 2 {
					t.Fatalf("requests %+v", reqs)
				}
				if reqs[0].Method != "POST" || reqs[0].Body != `{"prompt":"hi"}` {
					t.Errorf("first request %s %q", reqs[0].Method, reqs[0].Body)
				}
				wantMethod, wantBody := "GET", ""
				if code == 307 || code == 308 {
					wantMethod, wantBody = "POST", `{"prompt":"hi"}`
				}
				if reqs[1].Method != wantMethod || reqs[1].Body != wantBody {
					t.Errorf("after %d: %s %q, want %s %q", code, reqs[1].Method, reqs[1].Body, wantMethod, wantBody)
				}
			})
		}
	}
}

// TestRedirectCrossHost: Authorization and Cookie are not sent to another
// host, other custom headers are.
func TestRedirectCrossHost(t *testing.T) {
	target := newTestServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		openStream(w)
		write(w, "data: x\n\n")
	})
	_, port, _ := net.SplitHostPort(target.Listener.Addr().String())
	origin := newTestServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://localhost:"+port+"/elsewhere", http.StatusTemporaryRedirect)
	})
	h := http.Header{"X-Custom": {"kept"}, "Authorization": {"Bearer secret"}, "Cookie": {"s=secret"}}
	c := newClient(t, origin.URL, &Options{MaxRetries: -1, Header: h})
	if err := c.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := target.requests()[0]
	if r.Header.Get("X-Custom") != "kept" {
		t.Error("X-Custom dropped")
	}
	if r.Header.Get("Authorization") != "" || r.Header.Get("Cookie") != "" {
		t.Errorf("credentials sent to another host: %v", r.Header)
	}
}

// eofServer answers every request with an empty stream that ends at once.
func eofServer(t *testing.T, first string) *testServer {
	return newTestServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		openStream(w)
		if n == 0 {
			write(w, first)
		}
	})
}

// delays runs c and returns the first n delays it waits, firing each.
func delays(t *testing.T, clk *fakeClock, n int) []time.Duration {
	t.Helper()
	var ds []time.Duration
	for range n {
		ft := clk.nextTimer(t)
		ds = append(ds, ft.d)
		ft.Fire()
	}
	return ds
}

func TestServerRetryHonoured(t *testing.T) {
	for _, tc := range []struct {
		stream string
		base   time.Duration // the backoff's base
		rt     time.Duration // ReconnectionTime
	}{
		{"", 3 * time.Second, 3 * time.Second},
		{"retry: 7000\n\n", 7 * time.Second, 7 * time.Second},
		{"retry: 7000\nretry: x\n", 7 * time.Second, 7 * time.Second}, // unfinished block: retry counts
		{"retry: 0\n\n", MinServerRetry, 0},
		{"retry: 99999999999999999999999\n\n", DefaultMaxDelay, 1<<63 - 1},
	} {
		t.Run(tc.stream, func(t *testing.T) {
			ts := eofServer(t, tc.stream)
			clk := newFakeClock()
			c := newClient(t, ts.URL, &Options{hooks: &hooks{clock: clk, rand: seqRand(0, 0.5)}})
			var retries []*RetryError
			c.OnError(func(err error) {
				var re *RetryError
				if errors.As(err, &re) {
					retries = append(retries, re)
				}
			})
			wait := runAsync(t, c, context.Background())
			ds := delays(t, clk, 2)
			if ds[0] != tc.base {
				t.Errorf("first wait %v, want the reconnection time %v", ds[0], tc.base)
			}
			if want := min(2*tc.base, DefaultMaxDelay) * 5 / 4; ds[1] != want {
				t.Errorf("second wait %v, want %v", ds[1], want)
			}
			if got := c.ReconnectionTime(); got != tc.rt {
				t.Errorf("ReconnectionTime() = %v, want %v", got, tc.rt)
			}
			c.Close()
			if err := wait(); err != nil {
				t.Fatal(err)
			}
			if len(retries) < 2 || retries[0].Delay != ds[0] || retries[0].Attempt != 1 || !errors.Is(retries[0], io.EOF) {
				t.Errorf("OnError: %v", retries)
			}
		})
	}
}

func TestBackoffBounds(t *testing.T) {
	for _, base := range []time.Duration{0, time.Millisecond, 3 * time.Second, 29 * time.Second, time.Minute, 1<<63 - 1} {
		for _, max := range []time.Duration{time.Millisecond, 30 * time.Second, 1<<63 - 1} {
			for n := range 70 {
				for _, r := range []float64{0, 0.25, 0.5, 0.999999, -1, 1, 2} {
					got := backoff(base, max, n, r)
					d := min(base, max)
					for range n {
						if d >= max/2 {
							d = max
							break
						}
						d *= 2
					}
					lo, hi := d, d+d/2
					if hi < d {
						hi = 1<<63 - 1
					}
					if got < lo || got > hi || got < 0 {
						t.Fatalf("backoff(%v, %v, %d, %v) = %v, want in [%v, %v]", base, max, n, r, got, lo, hi)
					}
					if base > 0 && got == 0 {
						t.Fatalf("backoff(%v, %v, %d, %v) = 0", base, max, n, r)
					}
				}
			}
		}
	}
}

func TestJitterRange(t *testing.T) {
	for _, tc := range []struct {
		r    float64
		want time.Duration
	}{
		{0, 3 * time.Second},
		{0.5, 3750 * time.Millisecond},
		{0.999, 4498500 * time.Microsecond},
	} {
		if got := backoff(3*time.Second, 30*time.Second, 0, tc.r); got != tc.want {
			t.Errorf("r=%v: %v, want %v", tc.r, got, tc.want)
		}
		if got := backoff(3*time.Second, 30*time.Second, 9, tc.r); got != 30*time.Second+tc.want*10-30*time.Second {
			t.Errorf("at the cap, r=%v: %v, want %v", tc.r, got, tc.want*10)
		}
	}
	// Through the client, with the random source it was given.
	ts := eofServer(t, "")
	clk := newFakeClock()
	c := newClient(t, ts.URL, &Options{hooks: &hooks{clock: clk, rand: seqRand(0, 0.999, 0.5, 0.25)}})
	wait := runAsync(t, c, context.Background())
	got := delays(t, clk, 4)
	c.Close()
	wait()
	want := []time.Duration{3 * time.Second, 6 * time.Second * 14995 / 10000, 12 * time.Second * 5 / 4, 24 * time.Second * 9 / 8}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("wait %d: %v, want %v", i, got[i], want[i])
		}
	}
}

// TestBackoffGrowsAndResets: reconnections that never get a healthy
// connection double the wait up to the cap; one connection that stays open
// for HealthyAfter brings it back to the reconnection time, not to zero.
func TestBackoffGrowsAndResets(t *testing.T) {
	release := make(chan struct{})
	var hold atomic.Int32
	hold.Store(-1)
	ts := newTestServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		openStream(w)
		if n == 0 {
			write(w, "retry: 2000\n\n")
		}
		if int32(n) == hold.Load() {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	})
	clk := newFakeClock()
	c := newClient(t, ts.URL, &Options{MaxDelay: 20 * time.Second, hooks: &hooks{clock: clk, rand: seqRand(0)}})
	opened := make(chan struct{}, 100)
	c.OnOpen(func(*http.Response) { opened <- struct{}{} })
	wait := runAsync(t, c, context.Background())
	s := time.Second
	// The sixth wait's timer opens connection 6 as soon as it fires: hold
	// that connection before firing it, or the handler may run first.
	got := delays(t, clk, 5)
	ft := clk.nextTimer(t)
	got = append(got, ft.d)
	if want := []time.Duration{2 * s, 4 * s, 8 * s, 16 * s, 20 * s, 20 * s}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("waits %v, want %v", got, want)
	}
	// Connection 6 stays open 59 s: not healthy, the backoff stays at the cap.
	hold.Store(6)
	ft.Fire()
	for range 7 {
		recvWithin(t, opened, "a connection to open")
	}
	ft = clk.nextTimerAfter(t, func() {
		clk.Advance(59 * time.Second)
		sendWithin(t, release, "the held connection 6 to be released")
	})
	if ft.d != 20*s {
		t.Fatalf("after 59 s open: wait %v, want the cap 20s", ft.d)
	}
	// Connection 7 stays open 60 s: healthy, back to the server's 2 s.
	hold.Store(7)
	ft.Fire()
	recvWithin(t, opened, "connection 7 to open")
	ft = clk.nextTimerAfter(t, func() {
		clk.Advance(60 * time.Second)
		sendWithin(t, release, "the held connection 7 to be released")
	})
	if ft.d != 2*s {
		t.Fatalf("after a healthy connection: wait %v, want 2s", ft.d)
	}
	ft.Fire()
	if got := delays(t, clk, 2); got[0] != 4*s || got[1] != 8*s {
		t.Errorf("then %v, want [4s 8s]", got)
	}
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
}

// recvWithin receives from ch, failing the test if nothing comes within
// 10 s (a generous bound: a missed event must fail, not hang the suite).
func recvWithin(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("waited 10s for %s", what)
	}
}

// sendWithin sends on ch, failing the test if nobody receives within 10 s.
func sendWithin(t *testing.T, ch chan<- struct{}, what string) {
	t.Helper()
	select {
	case ch <- struct{}{}:
	case <-time.After(10 * time.Second):
		t.Fatalf("waited 10s for %s", what)
	}
}

// nextTimerAfter runs f and returns the next timer the client makes.
func (c *fakeClock) nextTimerAfter(t *testing.T, f func()) *fakeTimer {
	t.Helper()
	f()
	return c.nextTimer(t)
}

func TestReadTimeout(t *testing.T) {
	ts := newTestServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		openStream(w)
		if n == 0 {
			write(w, ":\n")
			<-r.Context().Done() // then silence, until the client gives up
		}
	})
	clk := newFakeClock()
	c := newClient(t, ts.URL, &Options{ReadTimeout: 45 * time.Second, hooks: &hooks{clock: clk, rand: seqRand(0)}})
	errc := make(chan error, 10)
	c.OnError(func(err error) { errc <- err })
	wait := runAsync(t, c, context.Background())
	rt := clk.nextTimer(t)
	if rt.d != 45*time.Second {
		t.Fatalf("read timer %v", rt.d)
	}
	// The heartbeat resets it.
	deadline := time.Now().Add(10 * time.Second)
	for rt.Resets() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a heartbeat did not reset the read timer")
		}
		time.Sleep(time.Millisecond)
	}
	clk.Advance(44 * time.Second)
	select {
	case err := <-errc:
		t.Fatalf("dropped before the timeout: %v", err)
	default:
	}
	clk.Advance(time.Second)
	err := <-errc
	if !errors.Is(err, ErrReadTimeout) {
		t.Fatalf("OnError(%v), want ErrReadTimeout", err)
	}
	if want := "read timeout: nothing received for 45s; reconnecting in 3s (attempt 1)"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	// It reconnects.
	clk.nextTimer(t).Fire()
	ts.next(t)
	ts.next(t)
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
}

// TestReadTimeoutWaitingForHeaders: the read timeout also covers a server
// that accepts the request and never answers.
func TestReadTimeoutWaitingForHeaders(t *testing.T) {
	ts := newTestServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	clk := newFakeClock()
	c := newClient(t, ts.URL, &Options{ReadTimeout: time.Second, MaxRetries: -1, hooks: &hooks{clock: clk}})
	wait := runAsync(t, c, context.Background())
	ts.next(t)
	clk.nextTimer(t).Fire()
	if err := wait(); !errors.Is(err, ErrReadTimeout) {
		t.Fatalf("Run() = %v, want ErrReadTimeout", err)
	}
}

func TestLastEventIDOnlyWhenNonEmpty(t *testing.T) {
	streams := []string{
		"data: no id yet\n\n",
		"id: 5\ndata: a\n\n",
		"data: b\n\nid: 6\ndata: unfinished, so its id is dropped\n",
		"id\ndata: reset\n\n", // a bare id resets to empty
		"id: 9\n\n",           // an id-only block still commits
		"id: \n\n",            // an empty value resets too
		"",
	}
	ts := newTestServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n >= len(streams) {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		openStream(w)
		write(w, streams[n])
	})
	clk := newFakeClock()
	clk.instant = true
	c := newClient(t, ts.URL, &Options{hooks: &hooks{clock: clk}})
	var ids []string
	c.OnMessage(func(ev sse.Event) { ids = append(ids, ev.ID) })
	if err := c.Run(context.Background()); !errors.Is(err, ErrNoContent) {
		t.Fatalf("Run() = %v", err)
	}
	want := []string{"", "", "5", "5", "", "9", ""}
	reqs := ts.requests()
	if len(reqs) != len(want)+1 {
		t.Fatalf("%d requests", len(reqs))
	}
	for i, w := range want {
		v, ok := reqs[i].Header["Last-Event-Id"]
		switch {
		case w == "" && ok:
			t.Errorf("request %d sent Last-Event-ID %q, want none", i, v)
		case w != "" && (len(v) != 1 || v[0] != w):
			t.Errorf("request %d sent Last-Event-ID %q, want %q", i, v, w)
		}
	}
	if fmt.Sprint(ids) != fmt.Sprint([]string{"", "5", "5", ""}) {
		t.Errorf("event ids %q", ids)
	}
}

func TestLastEventIDOption(t *testing.T) {
	ts := newTestServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		openStream(w)
		write(w, "data: before any id field\n\n")
	})
	c := newClient(t, ts.URL, &Options{LastEventID: "urn:uuid:1", MaxRetries: -1})
	var ev sse.Event
	c.OnMessage(func(e sse.Event) { ev = e })
	if err := c.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := ts.requests()[0].Header.Get("Last-Event-ID"); got != "urn:uuid:1" {
		t.Errorf("Last-Event-ID %q", got)
	}
	if ev.ID != "urn:uuid:1" || c.LastEventID() != "urn:uuid:1" {
		t.Errorf("event id %q, LastEventID %q", ev.ID, c.LastEventID())
	}
}

func TestPOSTBodyResentOnReconnect(t *testing.T) {
	for _, fresh := range []bool{false, true} {
		t.Run(fmt.Sprint("NewBody=", fresh), func(t *testing.T) {
			ts := newTestServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
				if n == 3 {
					w.WriteHeader(http.StatusNoContent)
					return
				}
				openStream(w)
				write(w, fmt.Sprintf("id: %d\ndata: token %d\n\n", n, n))
			})
			clk := newFakeClock()
			clk.instant = true
			body := `{"model":"x","stream":true}`
			o := &Options{hooks: &hooks{clock: clk}, Header: http.Header{"Content-Type": {"application/json"}}}
			calls := 0
			if fresh {
				o.NewBody = func() (io.Reader, error) { calls++; return strings.NewReader(body), nil }
			} else {
				b := []byte(body)
				o.Body = b
				defer func() { b[0] = 'X' }() // New copied it
			}
			c := newClient(t, ts.URL, o)
			if err := c.Run(context.Background()); !errors.Is(err, ErrNoContent) {
				t.Fatalf("Run() = %v", err)
			}
			for i, r := range ts.requests() {
				if r.Method != "POST" || r.Body != body || r.Header.Get("Content-Type") != "application/json" {
					t.Errorf("request %d: %s %q %q", i, r.Method, r.Body, r.Header.Get("Content-Type"))
				}
				if i > 0 && r.Header.Get("Last-Event-ID") != fmt.Sprint(i-1) {
					t.Errorf("request %d: Last-Event-ID %q", i, r.Header.Get("Last-Event-ID"))
				}
			}
			if fresh && calls != 4 {
				t.Errorf("NewBody called %d times, want 4", calls)
			}
		})
	}
}

func TestNewBodyErrorStops(t *testing.T) {
	ts := eofServer(t, "")
	boom := errors.New("boom")
	c := newClient(t, ts.URL, &Options{NewBody: func() (io.Reader, error) { return nil, boom }})
	if err := c.Run(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("Run() = %v", err)
	}
	if len(ts.requests()) != 0 {
		t.Error("a request was sent")
	}
}

func TestCookieJar(t *testing.T) {
	ts := newTestServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 0 {
			http.SetCookie(w, &http.Cookie{Name: "session", Value: "abc"})
		}
		if n == 2 {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		openStream(w)
	})
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(ts.URL)
	jar.SetCookies(u, []*http.Cookie{{Name: "pre", Value: "1"}})
	clk := newFakeClock()
	clk.instant = true
	hc := &http.Client{Jar: jar, Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	c := newClient(t, ts.URL, &Options{HTTPClient: hc, hooks: &hooks{clock: clk}})
	if err := c.Run(context.Background()); !errors.Is(err, ErrNoContent) {
		t.Fatalf("Run() = %v", err)
	}
	reqs := ts.requests()
	if got := reqs[0].Header.Get("Cookie"); got != "pre=1" {
		t.Errorf("first request Cookie %q", got)
	}
	if got := reqs[1].Header.Get("Cookie"); !strings.Contains(got, "session=abc") {
		t.Errorf("reconnection Cookie %q", got)
	}
}

func TestMaxRetries(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // connections are refused
	clk := newFakeClock()
	clk.instant = true
	c := newClient(t, "http://"+addr+"/", &Options{MaxRetries: 3, hooks: &hooks{clock: clk}})
	var retries int
	c.OnError(func(err error) {
		if _, ok := err.(*RetryError); ok {
			retries++
		}
	})
	err = c.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "giving up after 3 reconnection attempts") {
		t.Fatalf("Run() = %v", err)
	}
	var op *net.OpError
	if !errors.As(err, &op) {
		t.Errorf("the cause is lost: %v", err)
	}
	if retries != 3 {
		t.Errorf("%d retries reported, want 3", retries)
	}
}

// TestMaxRetriesCountsUnhealthyConnections: a server that opens streams
// and drops them at once exhausts the limit too; a healthy one resets it.
func TestMaxRetriesCountsUnhealthyConnections(t *testing.T) {
	ts := eofServer(t, "data: x\n\n")
	clk := newFakeClock()
	clk.instant = true
	c := newClient(t, ts.URL, &Options{MaxRetries: 2, hooks: &hooks{clock: clk}})
	err := c.Run(context.Background())
	if !errors.Is(err, io.EOF) || len(ts.requests()) != 3 {
		t.Fatalf("Run() = %v after %d requests", err, len(ts.requests()))
	}
}

func TestNoReconnect(t *testing.T) {
	ts := eofServer(t, "data: only\n\n")
	c := newClient(t, ts.URL, &Options{MaxRetries: -1})
	errs := 0
	c.OnError(func(error) { errs++ })
	if err := c.Run(context.Background()); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	if n := len(ts.requests()); n != 1 || errs != 0 {
		t.Errorf("%d requests, %d errors", n, errs)
	}
}

func TestEventTooLarge(t *testing.T) {
	ts := eofServer(t, "data: small\n\ndata: 0123456789abcdef\n\n")
	c := newClient(t, ts.URL, &Options{MaxEventSize: 16})
	var got []string
	c.OnMessage(func(ev sse.Event) { got = append(got, ev.Data) })
	if err := c.Run(context.Background()); !errors.Is(err, sse.ErrEventTooLarge) {
		t.Fatalf("Run() = %v", err)
	}
	if len(got) != 1 || len(ts.requests()) != 1 {
		t.Errorf("got %q in %d requests", got, len(ts.requests()))
	}
}

func TestCallbacksAndState(t *testing.T) {
	ts := newTestServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Mercure-Last-Event-ID", "earliest")
		openStream(w)
		write(w, "data: m1\n\nevent: tick\ndata: t1\n\nevent: other\ndata: o\n\ndata: m2\n\n")
	})
	clk := newFakeClock()
	clk.instant = true
	c := newClient(t, ts.URL, &Options{hooks: &hooks{clock: clk}})
	if c.State() != Connecting {
		t.Errorf("new client in state %v", c.State())
	}
	var log []string
	c.OnOpen(func(r *http.Response) {
		log = append(log, "open "+c.State().String()+" "+r.Header.Get("Mercure-Last-Event-ID"))
		if n, err := r.Body.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Error("OnOpen's response has a readable body")
		}
	})
	c.OnMessage(func(ev sse.Event) { log = append(log, "message "+ev.Data) })
	c.OnEvent("tick", func(ev sse.Event) { log = append(log, "tick "+ev.Data) })
	c.OnEvent("tick", func(ev sse.Event) { log = append(log, "tick again "+ev.Data) })
	c.OnError(func(err error) { log = append(log, fmt.Sprintf("error %v %v", c.State(), errors.Is(err, io.EOF))) })
	c.Run(context.Background())
	want := []string{"open open earliest", "message m1", "tick t1", "tick again t1", "message m2", "error connecting true", "error closed false"}
	if fmt.Sprint(log) != fmt.Sprint(want) {
		t.Errorf("got  %q\nwant %q", log, want)
	}
	if c.State() != Closed {
		t.Errorf("state %v", c.State())
	}
}

func TestContextCancel(t *testing.T) {
	ts := newTestServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		openStream(w)
		write(w, "data: x\n\n")
		<-r.Context().Done()
	})
	ctx, cancel := context.WithCancel(context.Background())
	c := newClient(t, ts.URL, nil)
	c.OnMessage(func(sse.Event) { cancel() })
	errs := 0
	c.OnError(func(error) { errs++ })
	if err := c.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run() = %v", err)
	}
	if errs != 0 || c.State() != Closed {
		t.Errorf("%d errors, state %v", errs, c.State())
	}
	// Canceled while waiting to reconnect.
	ts2 := eofServer(t, "")
	clk := newFakeClock()
	c = newClient(t, ts2.URL, &Options{hooks: &hooks{clock: clk}})
	ctx, cancel = context.WithCancel(context.Background())
	wait := runAsync(t, c, ctx)
	clk.nextTimer(t)
	cancel()
	if err := wait(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run() = %v", err)
	}
}

func TestRunOnce(t *testing.T) {
	ts := eofServer(t, "data: x\n\n")
	c := newClient(t, ts.URL, &Options{MaxRetries: -1})
	if err := c.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.Run(context.Background()); err != ErrClosed {
		t.Errorf("second Run() = %v", err)
	}
	c2 := newClient(t, ts.URL, nil)
	c2.Close()
	c2.Close()
	if err := c2.Run(context.Background()); err != nil {
		t.Errorf("Run() after Close = %v", err)
	}
	for _, err := range c2.Events(context.Background()) {
		if err != ErrClosed {
			t.Errorf("Events after Run yielded %v", err)
		}
	}
	if len(ts.requests()) != 1 {
		t.Error("a closed client sent a request")
	}
}

func TestEventsIterator(t *testing.T) {
	ts := newTestServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		openStream(w)
		for i := 0; ; i++ {
			if _, err := fmt.Fprintf(w, "id: %d\ndata: %d\n\n", i, i); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			if i%100 == 99 {
				select {
				case <-r.Context().Done():
					return
				case <-time.After(time.Millisecond):
				}
			}
		}
	})
	c := newClient(t, ts.URL, nil)
	n := 0
	for ev, err := range c.Events(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Data != fmt.Sprint(n) {
			t.Fatalf("event %d: %q", n, ev.Data)
		}
		if n++; n == 500 {
			break
		}
	}
	if c.State() != Closed || c.LastEventID() != "499" {
		t.Errorf("after break: state %v, last id %q", c.State(), c.LastEventID())
	}
	// The iterator yields the error that stops the client, last.
	ts2 := newTestServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusForbidden)
	})
	c = newClient(t, ts2.URL, nil)
	var errs []error
	for _, err := range c.Events(context.Background()) {
		errs = append(errs, err)
	}
	var re *ResponseError
	if len(errs) != 1 || !errors.As(errs[0], &re) || re.StatusCode != 403 {
		t.Errorf("yielded %v", errs)
	}
}

func TestCloseFromCallback(t *testing.T) {
	ts := newTestServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		openStream(w)
		write(w, strings.Repeat("data: x\n\n", 10))
		<-r.Context().Done()
	})
	c := newClient(t, ts.URL, nil)
	n := 0
	c.OnMessage(func(sse.Event) {
		if n++; n == 3 {
			c.Close()
		}
	})
	c.OnMessage(func(sse.Event) {
		if n == 3 {
			t.Error("a second callback ran after Close")
		}
	})
	if err := c.Run(context.Background()); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	if n != 3 {
		t.Errorf("%d events delivered, want 3", n)
	}
}

// TestCloseRacesDelivery closes clients at random moments while events
// pour in, from other goroutines, while they also read its state. Run it
// with -race; -count raises the number of rounds.
func TestCloseRacesDelivery(t *testing.T) {
	ts := newTestServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		openStream(w)
		for i := 0; ; i++ {
			if _, err := fmt.Fprintf(w, "id: %d\ndata: %d\n\n", i, i); err != nil {
				return
			}
			if i%8 == 0 {
				w.(http.Flusher).Flush()
			}
			if r.Context().Err() != nil {
				return
			}
		}
	})
	rounds := 200
	if testing.Short() {
		rounds = 20
	}
	for i := range rounds {
		c := newClient(t, ts.URL, nil)
		var returned atomic.Bool
		var late atomic.Int32
		got := make(chan struct{}, 1)
		handler := func(sse.Event) {
			if returned.Load() {
				late.Add(1)
			}
			select {
			case got <- struct{}{}:
			default:
			}
		}
		c.OnMessage(handler)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { // reader of state
			defer wg.Done()
			for c.State() != Closed {
				_ = c.LastEventID()
				_ = c.ReconnectionTime()
				time.Sleep(50 * time.Microsecond)
			}
		}()
		go func() { // closer, at a varying moment
			defer wg.Done()
			if i%3 != 0 {
				<-got
			}
			for range i % 7 {
				time.Sleep(10 * time.Microsecond)
			}
			c.Close()
			if i%2 == 0 {
				c.Close()
			}
		}()
		var err error
		if i%2 == 0 {
			err = c.Run(context.Background())
		} else {
			for _, e := range c.Events(context.Background()) {
				if e != nil {
					err = e
				}
			}
		}
		returned.Store(true)
		if err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		wg.Wait()
		if late.Load() != 0 {
			t.Fatalf("round %d: a callback ran after Run returned", i)
		}
		if c.State() != Closed {
			t.Fatalf("round %d: state %v", i, c.State())
		}
	}
}

// TestNoGoroutineAfterClose: once Run has returned after Close, nothing
// the client started is left: no reader, no timer, no idle connection of
// its own transport, whether it was closed while waiting to reconnect
// (an idle keep-alive connection in its pool) or while reading a stream
// (a read timer and a live connection).
func TestNoGoroutineAfterClose(t *testing.T) {
	release := make(chan struct{})
	ts := newTestServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		openStream(w)
		write(w, "data: x\n\n")
		if n == 1 {
			select { // a stream that stays open
			case <-r.Context().Done():
			case <-release:
			}
		}
	})
	defer close(release)
	for _, live := range []bool{false, true} {
		t.Run(fmt.Sprint("live=", live), func(t *testing.T) {
			before := goleak.IgnoreCurrent()
			o := &Options{ReadTimeout: time.Hour, InitialDelay: time.Hour}
			if live {
				o.InitialDelay = time.Millisecond
			}
			c := newClient(t, ts.URL, o)
			n := 0
			c.OnMessage(func(sse.Event) {
				if n++; live && n == 1 {
					c.Close()
				}
			})
			c.OnError(func(error) {
				if !live {
					c.Close() // while waiting to reconnect
				}
			})
			if err := c.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			goleak.VerifyNone(t, before, goleak.IgnoreTopFunction("net/http.(*conn).serve"))
		})
	}
}
