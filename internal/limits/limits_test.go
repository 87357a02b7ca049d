package limits

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/heraldpush/herald"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const hubPath = "/.well-known/mercure"

// server is a hub behind a Limiter, served by net/http on loopback.
type server struct {
	hub  *herald.Hub
	lim  *Limiter
	addr string

	mu       sync.Mutex
	rejected map[string]int
}

func startServer(t *testing.T, cfg Config, hubOpts ...herald.Option) *server {
	t.Helper()
	s := &server{rejected: map[string]int{}}
	cfg.OnReject = func(limit string) {
		s.mu.Lock()
		s.rejected[limit]++
		s.mu.Unlock()
	}
	cfg.IsStream = func(r *http.Request) bool { return r.Method == http.MethodGet }
	lim, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	opts := append([]herald.Option{herald.WithAnonymous(true), herald.WithPublishWithoutToken(true), herald.WithObserver(lim)}, hubOpts...)
	hub := herald.New(opts...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(hubPath, hub)
	srv := &http.Server{Handler: lim.Handler(mux), ConnContext: lim.ConnContext, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(lim.Listener(ln))
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		hub.Close(ctx)
		srv.Close()
		<-done
	})
	s.hub, s.lim, s.addr = hub, lim, ln.Addr().String()
	return s
}

func (s *server) rejections(limit string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rejected[limit]
}

// stream is a raw HTTP/1.1 subscription.
type stream struct {
	conn   net.Conn
	status int
	header http.Header
	ids    chan string
}

func dial(t *testing.T, addr, from string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// subscribe opens a stream from the local address from ("" for any) with
// extra request header lines.
func subscribe(t *testing.T, addr, from string, headers ...string) *stream {
	t.Helper()
	c := dial(t, addr, from)
	req := "GET " + hubPath + "?topic=" + url.QueryEscape("https://example.com/t") + " HTTP/1.1\r\nHost: herald\r\n"
	for _, h := range headers {
		req += h + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Time{})
	st := &stream{conn: c, status: resp.StatusCode, header: resp.Header, ids: make(chan string, 64)}
	go func() {
		defer close(st.ids)
		if resp.StatusCode != http.StatusOK {
			io.Copy(io.Discard, resp.Body)
			return
		}
		lines := bufio.NewReader(resp.Body)
		for {
			l, err := lines.ReadString('\n')
			if err != nil {
				return
			}
			if strings.HasPrefix(l, "id: ") {
				st.ids <- strings.TrimSpace(l[4:])
			}
		}
	}()
	return st
}

func (st *stream) expect(t *testing.T, id string) {
	t.Helper()
	select {
	case got, ok := <-st.ids:
		if !ok {
			t.Fatalf("stream ended before %s", id)
		}
		if got != id {
			t.Fatalf("got %s, want %s", got, id)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", id)
	}
}

func (s *server) publish(t *testing.T, id string) {
	t.Helper()
	err := s.hub.Publish(context.Background(), &herald.Update{ID: id, Topics: []string{"https://example.com/t"}, Data: "x"})
	if err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestMaxConnsCountsStreamsOffNetHTTP(t *testing.T) {
	s := startServer(t, Config{MaxConns: 2})
	a := subscribe(t, s.addr, "")
	b := subscribe(t, s.addr, "")
	if a.status != 200 || b.status != 200 {
		t.Fatalf("statuses %d %d", a.status, b.status)
	}
	waitFor(t, "two subscribers", func() bool { return s.hub.Stats().Subscribers == 2 })
	// The hub has taken both streams off net/http and closed its side of
	// them; they must still count.
	if n := s.lim.Conns(); n != 2 {
		t.Fatalf("Conns() = %d, want 2", n)
	}
	c := subscribe(t, s.addr, "")
	if c.status != http.StatusServiceUnavailable || c.header.Get("Retry-After") != "1" {
		t.Fatalf("third stream: status %d, Retry-After %q; want 503 with Retry-After 1", c.status, c.header.Get("Retry-After"))
	}
	if got := s.rejections(LimitConnections); got != 1 {
		t.Errorf("rejections = %d, want 1", got)
	}
	// The streams already open are untouched.
	s.publish(t, "u1")
	a.expect(t, "u1")
	b.expect(t, "u1")

	// When one ends its slot is free again.
	a.conn.Close()
	waitFor(t, "the slot to be freed", func() bool { return s.lim.Conns() <= 2 && s.hub.Stats().Subscribers == 1 })
	waitFor(t, "the refused connection to close", func() bool { return s.lim.Conns() == 1 })
	d := subscribe(t, s.addr, "")
	if d.status != 200 {
		t.Fatalf("after a stream ended: status %d", d.status)
	}
	s.publish(t, "u2")
	b.expect(t, "u2")
	d.expect(t, "u2")
}

func TestMaxConnsPerIP(t *testing.T) {
	s := startServer(t, Config{MaxConnsPerIP: 1})
	a := subscribe(t, s.addr, "127.0.0.1")
	if a.status != 200 {
		t.Fatalf("status %d", a.status)
	}
	waitFor(t, "the subscriber", func() bool { return s.hub.Stats().Subscribers == 1 })
	b := subscribe(t, s.addr, "127.0.0.1")
	if b.status != http.StatusServiceUnavailable || b.header.Get("Retry-After") == "" {
		t.Fatalf("second stream from the same address: %d", b.status)
	}
	c := subscribe(t, s.addr, "127.0.0.2")
	if c.status != 200 {
		t.Fatalf("stream from another address: %d", c.status)
	}
	if got := s.rejections(LimitConnectionsPerIP); got != 1 {
		t.Errorf("rejections = %d", got)
	}
	s.publish(t, "u1")
	a.expect(t, "u1")
	c.expect(t, "u1")
}

func TestMaxConnsPerIPBehindProxy(t *testing.T) {
	trusted, err := ParsePrefixes([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, Config{MaxConnsPerIP: 1, TrustedProxies: trusted})
	// The proxy's own connections are not limited per address; its
	// clients' streams are.
	a := subscribe(t, s.addr, "127.0.0.1", "X-Forwarded-For: 198.51.100.7")
	b := subscribe(t, s.addr, "127.0.0.1", "X-Forwarded-For: 198.51.100.8")
	if a.status != 200 || b.status != 200 {
		t.Fatalf("statuses %d %d", a.status, b.status)
	}
	waitFor(t, "two subscribers", func() bool { return s.hub.Stats().Subscribers == 2 })
	c := subscribe(t, s.addr, "127.0.0.1", "X-Forwarded-For: 203.0.113.1, 198.51.100.7")
	if c.status != http.StatusServiceUnavailable {
		t.Fatalf("second stream of 198.51.100.7: %d", c.status)
	}
	// A client cannot forge its way past the proxy: only the address the
	// proxy appended counts.
	// A direct connection from an untrusted address is not believed.
	d := subscribe(t, s.addr, "127.0.0.2", "X-Forwarded-For: 198.51.100.9")
	if d.status != 200 {
		t.Fatalf("direct stream: %d", d.status)
	}
	e := subscribe(t, s.addr, "127.0.0.2", "X-Forwarded-For: 198.51.100.10")
	if e.status != http.StatusServiceUnavailable {
		t.Fatalf("second direct stream from 127.0.0.2 (forged header ignored): %d", e.status)
	}
	s.publish(t, "u1")
	a.expect(t, "u1")
	b.expect(t, "u1")
	d.expect(t, "u1")

	// When 198.51.100.7's stream ends, it may open another.
	a.conn.Close()
	waitFor(t, "the stream to end", func() bool { return s.hub.Stats().Subscribers == 2 })
	waitFor(t, "the slot to be freed", func() bool {
		s.lim.mu.Lock()
		defer s.lim.mu.Unlock()
		return s.lim.perIP[netip.MustParseAddr("198.51.100.7")] == 0
	})
	f := subscribe(t, s.addr, "127.0.0.1", "X-Forwarded-For: 198.51.100.7")
	if f.status != 200 {
		t.Fatalf("stream after the first ended: %d", f.status)
	}
}

func TestClientIP(t *testing.T) {
	trusted, _ := ParsePrefixes([]string{"10.0.0.0/8", "127.0.0.1"})
	l, err := New(Config{TrustedProxies: trusted})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		remote string
		xff    []string
		want   string
	}{
		{"192.0.2.1:5000", []string{"198.51.100.1"}, "192.0.2.1"}, // untrusted peer: header ignored
		{"127.0.0.1:5000", nil, "127.0.0.1"},
		{"127.0.0.1:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"127.0.0.1:5000", []string{"203.0.113.9, 198.51.100.1, 10.1.2.3"}, "198.51.100.1"},
		{"127.0.0.1:5000", []string{"203.0.113.9", "198.51.100.1"}, "198.51.100.1"},
		{"127.0.0.1:5000", []string{"garbage, 198.51.100.1"}, "198.51.100.1"},
		{"127.0.0.1:5000", []string{"10.0.0.1"}, "10.0.0.1"},
		{"[::1]:5000", []string{"198.51.100.1"}, "::1"},
	} {
		r, _ := http.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := l.ClientIP(r).String(); got != tc.want {
			t.Errorf("ClientIP(%s, %q) = %s, want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
}

func post(t *testing.T, addr, token, from string) *http.Response {
	t.Helper()
	tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}).DialContext}
	defer tr.CloseIdleConnections()
	form := url.Values{"topic": {"https://example.com/t"}, "data": {"x"}}
	req, _ := http.NewRequest("POST", "http://"+addr+hubPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func TestPublishRate(t *testing.T) {
	// The hub publishes without a token; the tokens here only pick the
	// rate bucket.
	s := startServer(t, Config{PublishRate: 0.5, PublishBurst: 2})
	st := subscribe(t, s.addr, "")
	waitFor(t, "the subscriber", func() bool { return s.hub.Stats().Subscribers == 1 })
	for i := range 2 {
		if resp := post(t, s.addr, "token-a", "127.0.0.1"); resp.StatusCode != 200 {
			t.Fatalf("publish %d: %d", i, resp.StatusCode)
		}
	}
	resp := post(t, s.addr, "token-a", "127.0.0.1")
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third publish: %d, want 429", resp.StatusCode)
	}
	ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || ra < 1 || ra > 2 {
		t.Errorf("Retry-After %q, want 1 or 2 (one token every 2 s)", resp.Header.Get("Retry-After"))
	}
	if got := s.rejections(LimitPublishRate); got != 1 {
		t.Errorf("rejections = %d", got)
	}
	// Another token has its own bucket; requests without a token are
	// limited by address.
	if resp := post(t, s.addr, "token-b", "127.0.0.1"); resp.StatusCode != 200 {
		t.Errorf("other token: %d", resp.StatusCode)
	}
	for i := range 2 {
		if resp := post(t, s.addr, "", "127.0.0.3"); resp.StatusCode != 200 {
			t.Fatalf("anonymous publish %d: %d", i, resp.StatusCode)
		}
	}
	if resp := post(t, s.addr, "", "127.0.0.3"); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("third anonymous publish from one address: %d", resp.StatusCode)
	}
	if resp := post(t, s.addr, "", "127.0.0.4"); resp.StatusCode != 200 {
		t.Errorf("anonymous publish from another address: %d", resp.StatusCode)
	}
	// The stream received every accepted update and nothing else.
	for range 6 {
		select {
		case <-st.ids:
		case <-time.After(10 * time.Second):
			t.Fatal("an accepted update did not arrive")
		}
	}
	s.publish(t, "last")
	st.expect(t, "last")
}

func TestRateLimiterIsBounded(t *testing.T) {
	rl := newRateLimiter(1, 1, 3)
	now := time.Now()
	for i := range 10 {
		if d := rl.reserve(fmt.Sprint("k", i), now); d != 0 {
			t.Fatalf("key %d: wait %v", i, d)
		}
	}
	if n := rl.size(); n != 3 {
		t.Fatalf("size = %d, want 3", n)
	}
	// The most recent keys are still remembered.
	if d := rl.reserve("k9", now); d <= 0 {
		t.Errorf("k9 was forgotten")
	}
	// A refused reservation takes nothing: the wait does not grow.
	d1 := rl.reserve("k9", now)
	d2 := rl.reserve("k9", now)
	if d1 != d2 {
		t.Errorf("waits %v then %v: a refused request consumed a token", d1, d2)
	}
}

func TestOverloadClosesAtOnce(t *testing.T) {
	s := startServer(t, Config{MaxConns: 1, MaxPending: 1})
	a := subscribe(t, s.addr, "")
	if a.status != 200 {
		t.Fatal(a.status)
	}
	waitFor(t, "the subscriber", func() bool { return s.hub.Stats().Subscribers == 1 })
	// The first connection over the limit waits for its request and a 503;
	// the next one is closed at once.
	waiting := dial(t, s.addr, "")
	waitFor(t, "the first refused connection to be accepted", func() bool { return s.lim.pending.Load() == 1 })
	closed := dial(t, s.addr, "")
	closed.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := closed.Read(make([]byte, 1)); err == nil || n != 0 {
		t.Fatalf("second refused connection: read %d, %v; want it closed", n, err)
	}
	if got := s.rejections(LimitOverload); got != 1 {
		t.Errorf("overload rejections = %d", got)
	}
	io.WriteString(waiting, "GET "+hubPath+"?topic=x HTTP/1.1\r\nHost: h\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(waiting), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || !resp.Close {
		t.Errorf("waiting connection: %d, close %v", resp.StatusCode, resp.Close)
	}
	s.publish(t, "u1")
	a.expect(t, "u1")
}

func TestDeadlinesSpareStreams(t *testing.T) {
	// Streams on net/http (not hijacked) must not inherit the deadline of
	// an earlier request on the same connection.
	s := startServer(t, Config{ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond}, herald.WithHijack(false))
	c := dial(t, s.addr, "")
	br := bufio.NewReader(c)
	io.WriteString(c, "POST "+hubPath+" HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 60\r\n\r\ntopic=https://example.com/t&da")
	// The server gives up on the body after the read timeout: it answers
	// 400 or just closes the connection, well before this deadline.
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if resp, err := http.ReadResponse(br, nil); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("publish with a body that stops coming: %d, want 400", resp.StatusCode)
		}
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the server waited for the body past its read timeout")
	}
	// A fresh connection for the stream (the first one may be closed
	// after the body error).
	st := subscribe(t, s.addr, "")
	waitFor(t, "the subscriber", func() bool { return s.hub.Stats().Subscribers == 1 })
	time.Sleep(400 * time.Millisecond) // past both timeouts
	s.publish(t, "late")
	st.expect(t, "late")
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{{MaxConns: -1}, {PublishRate: -1}, {RateKey: "user"}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
	if _, err := ParsePrefixes([]string{"10.0.0.0/33"}); err == nil {
		t.Error("bad prefix accepted")
	}
	if _, err := ParsePrefixes([]string{"proxy.local"}); err == nil {
		t.Error("host name accepted")
	}
}
