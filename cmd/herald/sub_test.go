package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/auth"
	"github.com/heraldpush/herald/internal/hubtest"
	"github.com/heraldpush/herald/internal/ssevectors"
)

// cliRun is one run of the herald command with a fake environment.
type cliRun struct {
	stdout, stderr syncBuffer
	vars           map[string]string
	stdin          io.Reader
}

func (r *cliRun) env() *env {
	in := r.stdin
	if in == nil {
		in = strings.NewReader("")
	}
	return &env{stdin: in, stdout: &r.stdout, stderr: &r.stderr, getenv: func(k string) string { return r.vars[k] }}
}

// herald runs the command to its end.
func (r *cliRun) herald(t *testing.T, args ...string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return run(ctx, r.env(), args)
}

// start runs the command in the background; wait returns its status.
func (r *cliRun) start(t *testing.T, args ...string) (wait func() int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	done := make(chan int, 1)
	go func() { done <- run(ctx, r.env(), args) }()
	t.Cleanup(cancel)
	return func() int {
		t.Helper()
		select {
		case code := <-done:
			return code
		case <-time.After(30 * time.Second):
			cancel()
			t.Fatal("the command did not finish")
			return -1
		}
	}
}

// noLeaks checks, once the test and its cleanups are done, that it left
// no goroutine behind.
func noLeaks(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

const cliTestKey = "herald-cli-test-key-not-a-secret"

func cliToken(t *testing.T, spec auth.TokenSpec) string {
	t.Helper()
	tok, err := auth.SignHMAC([]byte(cliTestKey), spec)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// newCLIHub serves a real hub, tokens required, and returns its endpoint.
func newCLIHub(t *testing.T) string {
	t.Helper()
	v, err := auth.New(auth.Config{
		PublisherKeys:  []auth.Key{auth.HMACKey([]byte(cliTestKey))},
		SubscriberKeys: []auth.Key{auth.HMACKey([]byte(cliTestKey))},
	})
	if err != nil {
		t.Fatal(err)
	}
	hub := herald.New(herald.WithAuthorizer(v))
	mux := http.NewServeMux()
	mux.Handle("/.well-known/mercure", hub)
	return hubtest.Serve(t, mux, hub.Close).URL + "/.well-known/mercure"
}

// TestSubVectors: "herald sub --json --no-reconnect URL" prints exactly
// what a browser dispatches for every parser vector, one JSON line with
// the keys type, data and id per event, when a server writes the vector
// in chunks.
func TestSubVectors(t *testing.T) {
	noLeaks(t)
	for _, v := range ssevectors.Load(t) {
		t.Run(v.Name, func(t *testing.T) {
			chunks := v.Delivery()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				for _, c := range chunks {
					w.Write(c)
					w.(http.Flusher).Flush()
				}
			}))
			defer srv.Close()
			var want strings.Builder
			for _, e := range v.Events {
				var line bytes.Buffer
				enc := json.NewEncoder(&line)
				enc.SetEscapeHTML(false)
				enc.Encode(struct {
					Type string `json:"type"`
					Data string `json:"data"`
					ID   string `json:"id"`
				}{e.Type, e.Data, e.ID})
				want.Write(line.Bytes())
			}
			var r cliRun
			if code := r.herald(t, "sub", "--json", "--no-reconnect", srv.URL); code != 0 {
				t.Fatalf("exit %d: %s", code, r.stderr.String())
			}
			got := r.stdout.String()
			if got != want.String() {
				t.Fatalf("output:\n%.2000s\nwant:\n%.2000s", got, want.String())
			}
			// Each line is one object with exactly the three keys.
			for _, line := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
				if line == "" {
					continue
				}
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil || len(m) != 3 || m["type"] == nil || m["data"] == nil || m["id"] == nil {
					t.Fatalf("line %.200q: %v %v", line, m, err)
				}
			}
		})
	}
}

// TestSubHub tails Mercure topics on a real hub while updates are
// published with herald pub.
func TestSubHub(t *testing.T) {
	noLeaks(t)
	hub := newCLIHub(t)
	subTok := cliToken(t, auth.TokenSpec{Subscribe: []string{"https://example.com/books/{id}"}})
	pubTok := cliToken(t, auth.TokenSpec{Publish: []string{"*"}})

	var s cliRun
	wait := s.start(t, "sub", "--hub", hub, "--topic", "https://example.com/books/{id}", "--token", subTok, "--json", "--count", "3")
	s.stderr.waitFor(t, "connected to "+hub+"?topic=https%3A%2F%2Fexample.com%2Fbooks%2F%7Bid%7D")

	pub := func(args ...string) string {
		var p cliRun
		p.vars = map[string]string{"HERALD_TOKEN": pubTok}
		if code := p.herald(t, append([]string{"pub", "--hub", hub}, args...)...); code != 0 {
			t.Fatalf("pub exit %d: %s", code, p.stderr.String())
		}
		return strings.TrimSpace(p.stdout.String())
	}
	id1 := pub("--topic", "https://example.com/books/1", "--data", "first")
	pub("--topic", "https://example.com/authors/1", "--data", "not subscribed")
	pub("--topic", "https://example.com/books/2", "--data", "line 1\nline 2", "--id", "b2", "--type", "update")
	pub("--topic", "https://example.com/books/3", "--data", `{"a":"<b>"}`, "--id", "b3")
	if code := wait(); code != 0 {
		t.Fatalf("sub exit %d: %s", code, s.stderr.String())
	}
	want := fmt.Sprintf(`{"type":"message","data":"first","id":"%s"}
{"type":"update","data":"line 1\nline 2","id":"b2"}
{"type":"message","data":"{\"a\":\"<b>\"}","id":"b3"}
`, id1)
	if got := s.stdout.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}

	// Resume after b2 with --last-event-id, draft-08 match= selector.
	var r cliRun
	r.vars = map[string]string{"HERALD_TOKEN": subTok}
	if code := r.herald(t, "sub", hub, "--match", "https://example.com/books/3", "--last-event-id", "b2", "--count", "1"); code != 0 {
		t.Fatalf("resume exit %d: %s", code, r.stderr.String())
	}
	if got, want := r.stdout.String(), "[message] id: b3\n{\"a\":\"<b>\"}\n\n"; got != want {
		t.Errorf("resumed: %q, want %q", got, want)
	}
}

// TestSubFinal: after a final update, the hub answers 204 and herald sub
// exits 1 with the reason.
func TestSubFinal(t *testing.T) {
	noLeaks(t)
	hub := newCLIHub(t)
	pubTok := cliToken(t, auth.TokenSpec{Publish: []string{"*"}, Subscribe: []string{"*"}})
	topic := "https://example.com/logins/42"

	var s cliRun
	wait := s.start(t, "sub", "--hub", hub, "--topic", topic, "--token", pubTok)
	s.stderr.waitFor(t, "connected")
	var p cliRun
	if code := p.herald(t, "pub", "--hub", hub, "--topic", topic, "--data", "approved", "--type", "2fa-complete", "--final", "--token", pubTok); code != 0 {
		t.Fatalf("pub exit %d: %s", code, p.stderr.String())
	}
	if code := wait(); code != 1 {
		t.Fatalf("exit %d, want 1: %s", code, s.stderr.String())
	}
	if !strings.Contains(s.stdout.String(), "[2fa-complete] id: urn:uuid:") || !strings.Contains(s.stdout.String(), "\napproved\n") {
		t.Errorf("stdout %q", s.stdout.String())
	}
	if !strings.HasSuffix(s.stderr.String(), "herald sub: server answered 204: not reconnecting\n") {
		t.Errorf("stderr %q", s.stderr.String())
	}
}

func TestSubRefused(t *testing.T) {
	noLeaks(t)
	hub := newCLIHub(t)
	var r cliRun
	if code := r.herald(t, "sub", "--hub", hub, "--topic", "x"); code != 1 {
		t.Fatalf("exit %d", code)
	}
	if want := "herald sub: server answered 401 Unauthorized: a token is required to subscribe\n"; r.stderr.String() != want {
		t.Errorf("stderr %q, want %q", r.stderr.String(), want)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<html>not a stream</html>")
	}))
	defer srv.Close()
	r = cliRun{}
	if code := r.herald(t, "sub", srv.URL); code != 1 || !strings.Contains(r.stderr.String(), `server answered 200 with Content-Type "text/html; charset=utf-8": not an event stream`) {
		t.Errorf("exit %d: %q", code, r.stderr.String())
	}
}

// TestSubReconnects: herald sub reconnects with Last-Event-ID after the
// stream ends, waiting the server's retry.
func TestSubReconnects(t *testing.T) {
	noLeaks(t)
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n := len(seen)
		seen = append(seen, r.Header.Get("Last-Event-ID")+"|"+r.Header.Get("Authorization")+"|"+r.Header.Get("X-Trace"))
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		if n == 0 {
			io.WriteString(w, "retry: 100\nid: 1\ndata: a\n\n")
			return
		}
		io.WriteString(w, "id: 2\ndata: b\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	var r cliRun
	r.vars = map[string]string{"HERALD_TOKEN": "from-env", "HERALD_HEADER": "X-Trace: env"}
	if code := r.herald(t, "sub", "--json", "--count=2", srv.URL, "--header", "X-Trace: flag"); code != 0 {
		t.Fatalf("exit %d: %s", code, r.stderr.String())
	}
	if want := "{\"type\":\"message\",\"data\":\"a\",\"id\":\"1\"}\n{\"type\":\"message\",\"data\":\"b\",\"id\":\"2\"}\n"; r.stdout.String() != want {
		t.Errorf("stdout %q", r.stdout.String())
	}
	if want := []string{"|Bearer from-env|flag", "1|Bearer from-env|flag"}; !reflect.DeepEqual(seen, want) {
		t.Errorf("requests %q, want %q", seen, want)
	}
	if !strings.Contains(r.stderr.String(), "herald sub: the server ended the stream; reconnecting in 1") {
		t.Errorf("stderr %q", r.stderr.String())
	}
}

func TestSubTimeout(t *testing.T) {
	noLeaks(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	var r cliRun
	if code := r.herald(t, "sub", "--timeout", "300ms", srv.URL); code != 0 {
		t.Errorf("without --count: exit %d: %s", code, r.stderr.String())
	}
	r = cliRun{}
	if code := r.herald(t, "sub", "--timeout", "300ms", "--count", "2", srv.URL); code != 1 {
		t.Errorf("with --count: exit %d", code)
	}
	if !strings.Contains(r.stderr.String(), "herald sub: timed out after 300ms with 1 of 2 events") {
		t.Errorf("stderr %q", r.stderr.String())
	}
	// Interrupted: exit 0.
	r = cliRun{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() { done <- run(ctx, r.env(), []string{"sub", srv.URL}) }()
	r.stdout.waitFor(t, "one")
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("interrupted: exit %d", code)
	}
}

func TestSubUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"http://a/", "http://b/"},
		{"http://a/", "--hub", "http://b/"},
		{"--topic", "x"},
		{"--header", "no colon", "http://a/"},
		{"--header", ": empty name", "http://a/"},
		{"--count", "-1", "http://a/"},
		{"ftp://a/"},
		{"--bogus"},
	} {
		var r cliRun
		if code := r.herald(t, append([]string{"sub"}, args...)...); code != 2 {
			t.Errorf("sub %q: exit %d, want 2", args, code)
		}
		if !strings.Contains(r.stderr.String(), "herald sub") && !strings.Contains(r.stderr.String(), "flag provided but not defined") {
			t.Errorf("sub %q: stderr %q", args, r.stderr.String())
		}
	}
	var r cliRun
	if code := r.herald(t, "sub", "-h"); code != 0 || !strings.Contains(r.stderr.String(), "Exit status") {
		t.Errorf("-h: exit %d %q", code, r.stderr.String())
	}
	r = cliRun{vars: map[string]string{"HERALD_COUNT": "many"}}
	if code := r.herald(t, "sub", "http://a/"); code != 2 || !strings.Contains(r.stderr.String(), "HERALD_COUNT") {
		t.Errorf("bad env: exit %d %q", code, r.stderr.String())
	}
}

func TestSubConnectionFailure(t *testing.T) {
	noLeaks(t)
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	var r cliRun
	if code := r.herald(t, "sub", "--no-reconnect", url); code != 1 || !strings.Contains(r.stderr.String(), "connection refused") {
		t.Errorf("exit %d: %q", code, r.stderr.String())
	}
}
