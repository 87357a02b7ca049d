package herald_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/auth"
	"github.com/heraldpush/herald/internal/hubtest"
	"github.com/heraldpush/herald/internal/uring"
	"github.com/heraldpush/herald/sse"
)

// testKey is an obviously fake HMAC key for tests.
const testKey = "herald-test-key-not-a-secret"

func mint(t testing.TB, spec auth.TokenSpec) string {
	t.Helper()
	tok, err := auth.SignHMAC([]byte(testKey), spec)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// testHub is a hub served over a real HTTP server.
type testHub struct {
	*herald.Hub
	srv      *httptest.Server
	url      string // the hub endpoint
	pubToken string
	subToken string // may receive every private update
}

func newTestHub(t testing.TB, opts ...herald.Option) *testHub {
	t.Helper()
	v, err := auth.New(auth.Config{
		PublisherKeys:  []auth.Key{auth.HMACKey([]byte(testKey))},
		SubscriberKeys: []auth.Key{auth.HMACKey([]byte(testKey))},
	})
	if err != nil {
		t.Fatal(err)
	}
	base := []herald.Option{herald.WithAuthorizer(v), herald.WithAnonymous(true)}
	hub := herald.New(append(base, opts...)...)
	mux := http.NewServeMux()
	mux.Handle("/.well-known/mercure", hub)
	return serveTestHub(t, hub, mux)
}

// serveTestHub serves mux, which mounts hub at /.well-known/mercure, until
// the test ends, with tokens for every topic.
func serveTestHub(t testing.TB, hub *herald.Hub, mux http.Handler) *testHub {
	t.Helper()
	srv := hubtest.Serve(t, mux, hub.Close)
	return &testHub{
		Hub:      hub,
		srv:      srv,
		url:      srv.URL + "/.well-known/mercure",
		pubToken: mint(t, auth.TokenSpec{Publish: []string{"*"}}),
		subToken: mint(t, auth.TokenSpec{Subscribe: []string{"*"}}),
	}
}

// publish posts an update and returns the status and body.
func (th *testHub) publish(t testing.TB, form url.Values) (int, string) {
	t.Helper()
	return postForm(t, th.url, th.pubToken, form)
}

func postForm(t testing.TB, hubURL, token string, form url.Values) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, hubURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// mustPublish publishes data on topic and returns the update id.
func (th *testHub) mustPublish(t testing.TB, topic, data string, extra ...string) string {
	t.Helper()
	form := url.Values{"topic": {topic}, "data": {data}}
	for i := 0; i+1 < len(extra); i += 2 {
		form.Add(extra[i], extra[i+1])
	}
	status, body := th.publish(t, form)
	if status != http.StatusOK {
		t.Fatalf("publish %q: %d %s", data, status, body)
	}
	return body
}

// stream is a client's subscription, read by a goroutine.
type stream struct {
	resp   *http.Response
	events chan sse.Event
	done   chan struct{} // closed when the stream ended
	err    error         // why it ended, set before done closes
	cancel context.CancelFunc
	once   sync.Once
}

// subscribe opens a stream; query is the raw query string.
func (th *testHub) subscribe(t testing.TB, query string, header http.Header) *stream {
	t.Helper()
	s, status := openStream(t, th.url+"?"+query, header)
	if status != http.StatusOK {
		t.Fatalf("subscribe %s: status %d", query, status)
	}
	return s
}

func openStream(t testing.TB, u string, header http.Header) (*stream, int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	req.Header.Set("Accept", "text/event-stream")
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("subscribe: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return nil, resp.StatusCode
	}
	s := &stream{resp: resp, events: make(chan sse.Event, 4096), done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(s.done)
		defer close(s.events)
		dec := sse.NewDecoder(resp.Body)
		for {
			ev, err := dec.Next()
			if err != nil {
				s.err = err
				return
			}
			s.events <- ev
		}
	}()
	t.Cleanup(s.close)
	return s, resp.StatusCode
}

func (s *stream) close() {
	s.once.Do(func() {
		s.cancel()
		s.resp.Body.Close()
		<-s.done
	})
}

// next waits for the next event.
func (s *stream) next(t testing.TB) sse.Event {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			t.Fatalf("stream ended: %v", s.err)
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return sse.Event{}
}

// expectNone checks that no event arrives for d.
func (s *stream) expectNone(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		if ok {
			t.Fatalf("unexpected event %+v", ev)
		}
	case <-time.After(d):
	}
}

// waitEnd waits until the server ends the stream.
func (s *stream) waitEnd(t testing.TB, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case _, ok := <-s.events:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("stream still open after %v", within)
		}
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// eachStreamWriter runs f once for each way the hub writes a stream:
// hijacked (plain writes), on net/http, and hijacked through io_uring.
func eachStreamWriter(t *testing.T, f func(t *testing.T, opts ...herald.Option)) {
	for _, hijack := range []bool{true, false} {
		t.Run(fmt.Sprintf("hijack=%v", hijack), func(t *testing.T) {
			f(t, herald.WithHijack(hijack))
		})
	}
	// Hijacked streams written through the shards' io_uring (Linux). Where
	// the kernel refuses a ring the hub falls back to plain writes and this
	// case would only repeat the first, so it is skipped, loudly.
	t.Run("hijack=true,io_uring", func(t *testing.T) {
		r, err := uring.New(1)
		if err != nil {
			t.Skipf("io_uring unavailable here (%v); the hub would write without it", err)
		}
		r.Close()
		f(t, herald.WithHijack(true), herald.WithIOUring(true))
	})
}

var errTimeout = errors.New("timeout")
