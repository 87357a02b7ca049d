package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/crypto/bcrypt"

	"github.com/heraldpush/herald/internal/hubtest"
	"github.com/heraldpush/herald/sse"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testKey signs the hub tokens in tests (not a secret).
var testKey = []byte("twofactor-test-key-0123456789abcdef")

// site is one instance of the app served over real HTTP, with a count of
// the subscription requests it saw.
type site struct {
	url  string
	app  *App
	subs *subLog
}

// subLog records every subscription request the server sees: the count
// proves that a browser stopped reconnecting.
type subLog struct {
	mu       sync.Mutex
	statuses []int
	total    atomic.Int64
}

func (l *subLog) add(status int) {
	l.mu.Lock()
	l.statuses = append(l.statuses, status)
	l.mu.Unlock()
}

func (l *subLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprint(l.statuses)
}

func (l *subLog) count(status int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.statuses {
		if s == status {
			n++
		}
	}
	return n
}

// recorder notes a response's status and still lets the hub take the
// connection over (Hijack) or flush it.
type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Flush() { r.ResponseWriter.(http.Flusher).Flush() }

func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if r.status == 0 {
		r.status = http.StatusOK // a hijacked stream writes its own 200
	}
	return r.ResponseWriter.(http.Hijacker).Hijack()
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// startSite runs the app with cfg (Key defaults to testKey) on a free
// port until the test ends.
func startSite(t *testing.T, cfg Config) *site {
	t.Helper()
	if cfg.Key == nil {
		cfg.Key = testKey
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	app, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	app.users = fastHashes()
	s := &site{app: app, subs: &subLog{}}
	srv := hubtest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != hubPath {
			app.ServeHTTP(w, r)
			return
		}
		s.subs.total.Add(1)
		rec := &recorder{ResponseWriter: w}
		app.ServeHTTP(rec, r)
		s.subs.add(rec.status)
	}), app.Close)
	s.url = srv.URL
	return s
}

var (
	fastOnce sync.Once
	fast     map[string][]byte
)

// fastHashes are the demo passwords hashed at bcrypt's lowest cost: the
// same code path, a hundred times faster under the race detector.
// TestDemoHashes checks the real ones.
func fastHashes() map[string][]byte {
	fastOnce.Do(func() {
		fast = map[string][]byte{}
		for _, u := range DemoUsers {
			h, err := bcrypt.GenerateFromPassword([]byte(u.Password), bcrypt.MinCost)
			if err != nil {
				panic(err)
			}
			fast[u.Name] = h
		}
	})
	return fast
}

// client is a browser stand-in for the HTTP-level tests: a cookie jar and
// no automatic redirects, so each answer can be checked.
type client struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newClient(t *testing.T, base string) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// do sends a request as a same-origin browser would (Origin header on
// POST) and returns the status and body.
func (c *client) do(method, path string, form url.Values) (int, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, c.base+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if method == http.MethodPost {
		req.Header.Set("Origin", c.base)
	}
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (c *client) cookie(name string) string {
	u, _ := url.Parse(c.base + "/login/") // the flow cookie lives under /login
	if name == "mercureAuthorization" {
		u, _ = url.Parse(c.base + hubPath)
	}
	for _, ck := range c.c.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

var (
	topicRE = regexp.MustCompile(`data-topic="([^"]+)"`)
	lastRE  = regexp.MustCompile(`data-last-event-id="([^"]+)"`)
	csrfRE  = regexp.MustCompile(`(?:data-csrf|name="csrf" value)="([^"]+)"`)
	linkRE  = regexp.MustCompile(`id="approve-link" class="link" href="([^"]+)"`)
)

func find(t *testing.T, re *regexp.Regexp, body string) string {
	t.Helper()
	m := re.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no %s in:\n%s", re, body)
	}
	return m[1]
}

// desktopFlow is a password login seen from the HTTP side.
type desktopFlow struct {
	*client
	topic, lastID, csrf, approvePath string
}

func loginDesktop(t *testing.T, base, user, password string) *desktopFlow {
	t.Helper()
	c := newClient(t, base)
	if st, body := c.do(http.MethodPost, "/login", url.Values{"username": {user}, "password": {password}}); st != http.StatusSeeOther {
		t.Fatalf("login: %d %s", st, body)
	}
	st, body := c.do(http.MethodGet, "/login/wait", nil)
	if st != http.StatusOK {
		t.Fatalf("wait page: %d", st)
	}
	link := find(t, linkRE, body)
	u, _ := url.Parse(link)
	return &desktopFlow{client: c, topic: find(t, topicRE, body), lastID: find(t, lastRE, body),
		csrf: find(t, csrfRE, body), approvePath: u.Path}
}

// phoneClient is a phone signed in on base.
type phoneClient struct{ *client }

func loginPhone(t *testing.T, base, user, password string) *phoneClient {
	t.Helper()
	c := newClient(t, base)
	if st, body := c.do(http.MethodPost, "/phone/login", url.Values{"username": {user}, "password": {password}}); st != http.StatusSeeOther {
		t.Fatalf("phone login: %d %s", st, body)
	}
	return &phoneClient{c}
}

// decide opens the approval page and answers; it returns the answer's
// status and body.
func (p *phoneClient) decide(path, decision string) (int, string) {
	p.t.Helper()
	st, body := p.do(http.MethodGet, path, nil)
	if st != http.StatusOK {
		return st, body
	}
	return p.do(http.MethodPost, path, url.Values{"csrf": {find(p.t, csrfRE, body)}, "decision": {decision}})
}

// events is a stream read in the background.
type events struct {
	resp *http.Response
	ch   chan sse.Event
	done chan struct{}
}

// subscribe opens the hub stream the way the waiting page does, with the
// cookies of c, and returns the response status and, on 200, the stream.
func (c *client) subscribe(query string, header http.Header) (int, *events) {
	c.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.base+hubPath+"?"+query, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.c.Do(req)
	if err != nil {
		cancel()
		c.t.Fatalf("subscribe: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return resp.StatusCode, nil
	}
	e := &events{resp: resp, ch: make(chan sse.Event, 64), done: make(chan struct{})}
	go func() {
		defer close(e.done)
		defer close(e.ch)
		dec := sse.NewDecoder(resp.Body)
		for {
			ev, err := dec.Next()
			if err != nil {
				return
			}
			e.ch <- ev
		}
	}()
	c.t.Cleanup(func() {
		cancel()
		resp.Body.Close()
		<-e.done
	})
	return resp.StatusCode, e
}

func (e *events) next(t *testing.T) sse.Event {
	t.Helper()
	select {
	case ev, ok := <-e.ch:
		if !ok {
			t.Fatal("stream ended before the event")
		}
		return ev
	case <-time.After(15 * time.Second):
		t.Fatal("no event within 15 s")
	}
	return sse.Event{}
}

// ended waits for the server to end the stream.
func (e *events) ended(t *testing.T) {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case _, ok := <-e.ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("the stream is still open 15 s after the final update")
		}
	}
}

func query(topic, lastID string) string {
	q := url.Values{"topic": {topic}}
	if lastID != "" {
		q.Set("lastEventID", lastID)
	}
	return q.Encode()
}

// httpServer serves h on a free port until the test ends.
func httpServer(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv.URL
}
