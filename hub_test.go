package herald_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/auth"
)

const book = "https://example.com/books/1"

func TestSubscribeHeadersAndDelivery(t *testing.T) {
	eachStreamWriter(t, func(t *testing.T, opts ...herald.Option) {
		th := newTestHub(t, opts...)
		s := th.subscribe(t, "topic="+url.QueryEscape(book), nil)
		h := s.resp.Header
		for k, want := range map[string]string{
			"Content-Type":      "text/event-stream",
			"X-Accel-Buffering": "no",
			"Connection":        "keep-alive",
		} {
			if got := h.Get(k); got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
		if cc := h.Get("Cache-Control"); !strings.Contains(cc, "no-cache") {
			t.Errorf("Cache-Control = %q, want no-cache", cc)
		}
		if h.Get("Content-Length") != "" {
			t.Error("a stream must not have a Content-Length")
		}
		id := th.mustPublish(t, book, "hello", "type", "greeting", "retry", "2500")
		ev := s.next(t)
		if ev.Data != "hello" || ev.Type != "greeting" || ev.ID != id {
			t.Fatalf("got %+v, want hello/greeting/%s", ev, id)
		}
		if !strings.HasPrefix(id, "urn:uuid:") {
			t.Errorf("generated id %q is not a URN UUID", id)
		}
	})
}

func TestMultilineDataArrivesIntact(t *testing.T) {
	eachStreamWriter(t, func(t *testing.T, opts ...herald.Option) {
		th := newTestHub(t, opts...)
		s := th.subscribe(t, "topic="+url.QueryEscape(book), nil)
		for _, tc := range []struct{ in, want string }{
			{"a\nb", "a\nb"},
			{"a\r\nb", "a\nb"},
			{"a\rb", "a\nb"},
			{"\n\nx\r\n\r\n", "\n\nx\n\n"},
			{" leading space", " leading space"},
			{"", ""},
			{"data: fake\n\nid: forged", "data: fake\n\nid: forged"},
		} {
			th.mustPublish(t, book, tc.in)
			if ev := s.next(t); ev.Data != tc.want {
				t.Errorf("data %q arrived as %q, want %q", tc.in, ev.Data, tc.want)
			}
		}
	})
}

func TestForgedFieldsRefused(t *testing.T) {
	th := newTestHub(t)
	s := th.subscribe(t, "topic=*", nil)
	for _, form := range []url.Values{
		{"topic": {book}, "id": {"1\nevent: forged"}},
		{"topic": {book}, "id": {"1\rdata: x"}},
		{"topic": {book}, "type": {"x\ndata: forged"}},
		{"topic": {book}, "type": {"x\r"}},
		{"topic": {book}, "retry": {"+100"}},
		{"topic": {book}, "retry": {"10x"}},
		{"topic": {book}, "id": {"#frag"}},
		{"topic": {book}, "id": {"earliest"}},
		{"topic": {book}, "type": {"mercure"}},
		{"topic": {"*"}},
		{"data": {"no topic"}},
		{"topic": {book}, "data": {"\xff\xfe"}},
	} {
		status, body := th.publish(t, form)
		if status != http.StatusBadRequest {
			t.Errorf("%v: status %d (%s), want 400", form, status, body)
		}
	}
	th.mustPublish(t, book, "legit")
	if ev := s.next(t); ev.Data != "legit" {
		t.Fatalf("subscriber saw %+v before the legitimate update", ev)
	}
}

func TestPublishRequiresToken(t *testing.T) {
	th := newTestHub(t)
	form := url.Values{"topic": {book}, "data": {"x"}}
	status, _ := postForm(t, th.url, "", form)
	if status != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", status)
	}
	status, _ = postForm(t, th.url, "not.a.token", form)
	if status != http.StatusUnauthorized {
		t.Errorf("bad token: %d, want 401", status)
	}
	narrow := mint(t, auth.TokenSpec{Publish: []string{"https://example.com/other"}})
	status, _ = postForm(t, th.url, narrow, form)
	if status != http.StatusForbidden {
		t.Errorf("token for another topic: %d, want 403", status)
	}
	subOnly := mint(t, auth.TokenSpec{Subscribe: []string{"*"}})
	status, _ = postForm(t, th.url, subOnly, form)
	if status != http.StatusForbidden {
		t.Errorf("subscriber token: %d, want 403", status)
	}
	tmpl := mint(t, auth.TokenSpec{Publish: []string{"https://example.com/books/{id}"}})
	if status, body := postForm(t, th.url, tmpl, form); status != http.StatusOK {
		t.Errorf("template token: %d %s, want 200", status, body)
	}
}

func TestPublishTooLarge(t *testing.T) {
	th := newTestHub(t, herald.WithMaxPublishSize(1024))
	status, _ := th.publish(t, url.Values{"topic": {book}, "data": {strings.Repeat("x", 2048)}})
	if status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", status)
	}
}

func TestPrivateUpdates(t *testing.T) {
	eachStreamWriter(t, func(t *testing.T, opts ...herald.Option) {
		th := newTestHub(t, opts...)
		anon := th.subscribe(t, "topic="+url.QueryEscape(book), nil)
		other := th.subscribe(t, "topic="+url.QueryEscape(book), bearer(mint(t, auth.TokenSpec{Subscribe: []string{"https://example.com/books/2"}})))
		allowed := th.subscribe(t, "topic="+url.QueryEscape(book), bearer(mint(t, auth.TokenSpec{Subscribe: []string{"https://example.com/books/{id}"}})))
		th.mustPublish(t, book, "secret", "private", "on")
		th.mustPublish(t, book, "public")
		if ev := allowed.next(t); ev.Data != "secret" {
			t.Fatalf("allowed subscriber got %q first, want the private update", ev.Data)
		}
		for name, s := range map[string]*stream{"anonymous": anon, "other topic": other} {
			if ev := s.next(t); ev.Data != "public" {
				t.Errorf("%s subscriber got %q, want only the public update", name, ev.Data)
			}
		}
		// Replay honours the private flag too.
		replay := th.subscribe(t, "topic="+url.QueryEscape(book)+"&lastEventID=earliest", nil)
		if ev := replay.next(t); ev.Data != "public" {
			t.Errorf("anonymous replay got %q, want only the public update", ev.Data)
		}
	})
}

func TestAnonymousSubscribersNeedOptIn(t *testing.T) {
	th := newTestHub(t, herald.WithAnonymous(false))
	_, status := openStream(t, th.url+"?topic=*", nil)
	if status != http.StatusUnauthorized {
		t.Fatalf("anonymous subscribe: %d, want 401", status)
	}
	s := th.subscribe(t, "topic=*", bearer(th.subToken))
	th.mustPublish(t, book, "x")
	s.next(t)
}

func TestSelectors(t *testing.T) {
	th := newTestHub(t)
	tmpl := th.subscribe(t, "topic="+url.QueryEscape("https://example.com/books/{id}"), nil)
	pattern := th.subscribe(t, "match_urlpattern="+url.QueryEscape("https://example.com/books/:id"), nil)
	exact := th.subscribe(t, "match="+url.QueryEscape("https://example.com/books/2"), nil)
	alt := th.subscribe(t, "topic="+url.QueryEscape("https://example.com/authors/7"), nil)
	th.mustPublish(t, "https://example.com/books/2", "two", "topic", "https://example.com/authors/7")
	th.mustPublish(t, "https://example.com/books/3", "three")
	for name, s := range map[string]*stream{"template": tmpl, "urlpattern": pattern} {
		if a, b := s.next(t).Data, s.next(t).Data; a != "two" || b != "three" {
			t.Errorf("%s: got %q, %q", name, a, b)
		}
	}
	if d := exact.next(t).Data; d != "two" {
		t.Errorf("exact: %q", d)
	}
	if d := alt.next(t).Data; d != "two" {
		t.Errorf("alternate topic: %q", d)
	}
	exact.expectNone(t, 100*time.Millisecond)

	for _, q := range []string{"", "match_regexp=x", "topic=" + strings.Repeat("x", 5000)} {
		if _, status := openStream(t, th.url+"?"+q, nil); status != http.StatusBadRequest {
			t.Errorf("query %.40q: status %d, want 400", q, status)
		}
	}
	var many []string
	for i := 0; i <= herald.DefaultMaxSelectors; i++ {
		many = append(many, "topic=t"+strconv.Itoa(i))
	}
	if _, status := openStream(t, th.url+"?"+strings.Join(many, "&"), nil); status != http.StatusBadRequest {
		t.Errorf("too many selectors: status %d, want 400", status)
	}
}

func TestResumeThousand(t *testing.T) {
	eachStreamWriter(t, func(t *testing.T, opts ...herald.Option) {
		th := newTestHub(t, opts...)
		q := "topic=" + url.QueryEscape(book)
		s := th.subscribe(t, q, nil)
		th.mustPublish(t, book, "before")
		last := s.next(t).ID
		s.close()
		want := make([]string, 1000)
		for i := range want {
			want[i] = th.mustPublish(t, book, strconv.Itoa(i), "id", fmt.Sprintf("u-%04d", i))
		}
		for _, how := range []string{"header", "last_event_id", "lastEventID"} {
			var r *stream
			if how == "header" {
				r = th.subscribe(t, q, http.Header{"Last-Event-Id": {last}})
			} else {
				r = th.subscribe(t, q+"&"+how+"="+url.QueryEscape(last), nil)
			}
			for _, h := range []string{"Last-Event-ID", "Mercure-Last-Event-ID"} {
				if got := r.resp.Header.Get(h); got != last {
					t.Errorf("%s: response %s = %q, want %q", how, h, got, last)
				}
			}
			for i, id := range want {
				ev := r.next(t)
				if ev.ID != id || ev.Data != strconv.Itoa(i) {
					t.Fatalf("%s: event %d = %+v, want id %s", how, i, ev, id)
				}
			}
			r.expectNone(t, 50*time.Millisecond)
			r.close()
		}
	})
}

func TestResumeUnknownIDSaysEarliest(t *testing.T) {
	th := newTestHub(t, herald.WithTransport(herald.NewMemoryTransport(herald.MemoryConfig{Size: 10})))
	for i := 0; i < 20; i++ {
		th.mustPublish(t, book, strconv.Itoa(i), "id", "e"+strconv.Itoa(i))
	}
	for _, cursor := range []string{"never-published", "e3"} { // e3 was evicted
		r := th.subscribe(t, "topic="+url.QueryEscape(book), http.Header{"Last-Event-Id": {cursor}})
		if got := r.resp.Header.Get("Mercure-Last-Event-ID"); got != "earliest" {
			t.Errorf("cursor %s: Mercure-Last-Event-ID = %q, want earliest", cursor, got)
		}
		if ev := r.next(t); ev.ID != "e10" {
			t.Errorf("cursor %s: first replayed %s, want the oldest kept (e10)", cursor, ev.ID)
		}
	}
	r := th.subscribe(t, "topic="+url.QueryEscape(book)+"&lastEventID=earliest", nil)
	if ev := r.next(t); ev.ID != "e10" {
		t.Errorf("earliest: first replayed %s, want e10", ev.ID)
	}
}

// TestResumeRacesPublishing resumes streams again and again while
// publishers run hot, and checks every stream for gaps and duplicates.
func TestResumeRacesPublishing(t *testing.T) {
	eachStreamWriter(t, func(t *testing.T, opts ...herald.Option) {
		th := newTestHub(t, opts...)
		const total = 3000
		q := "topic=" + url.QueryEscape(book)
		first := th.mustPublish(t, book, "0", "id", "0")
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i < total; i++ {
				hub := th.Hub
				if err := hub.Publish(context.Background(), &herald.Update{ID: strconv.Itoa(i), Topics: []string{book}, Data: strconv.Itoa(i)}); err != nil {
					t.Errorf("publish: %v", err)
					return
				}
			}
		}()
		for c := 0; c < 4; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				last := first
				for next := 1; next < total; {
					r, status := openStream(t, th.url+"?"+q, http.Header{"Last-Event-Id": {last}})
					if status != http.StatusOK {
						t.Errorf("resume: %d", status)
						return
					}
					// Read a varying number of events, then drop the stream;
					// a stream the hub ends (a slow reader) is resumed too.
				read:
					for n := 0; n < 50+next%97 && next < total; n++ {
						select {
						case ev, ok := <-r.events:
							if !ok {
								break read
							}
							if ev.ID != strconv.Itoa(next) {
								t.Errorf("after %s got %s, want %d (gap or duplicate)", last, ev.ID, next)
								r.close()
								return
							}
							last = ev.ID
							next++
						case <-time.After(10 * time.Second):
							t.Errorf("stalled at %d", next)
							r.close()
							return
						}
					}
					r.close()
				}
			}()
		}
		wg.Wait()
	})
}

// TestStalledSubscriberDoesNotDelayOthers stalls one subscriber (it never
// reads) on a topic that carries megabytes, while a thousand others follow
// another topic: they must keep receiving promptly, and the stalled one is
// dropped once its queue is full.
func TestStalledSubscriberDoesNotDelayOthers(t *testing.T) {
	eachStreamWriter(t, func(t *testing.T, opts ...herald.Option) {
		var slow atomic.Int64
		obs := &countingObserver{onDisconnect: func(r herald.DisconnectReason) {
			if r == herald.ReasonSlow || r == herald.ReasonWriteTimeout {
				slow.Add(1)
			}
		}}
		opts = append(opts, herald.WithQueueLimits(64, 256<<10), herald.WithObserver(obs), herald.WithWriteTimeout(3*time.Second))
		th := newTestHub(t, opts...)
		const heavy = "https://example.com/heavy"
		stalled := dialStalled(t, th.srv.Listener.Addr().String(), "/.well-known/mercure?topic="+url.QueryEscape(heavy))
		defer stalled.Close()

		const fast = 1000
		streams := make([]*stream, fast)
		for i := range streams {
			streams[i] = th.subscribe(t, "topic="+url.QueryEscape(book), nil)
		}
		// Fill the stalled stream's socket and queue: far more than a
		// loopback socket buffers.
		payload := strings.Repeat("x", 32<<10)
		for i := 0; i < 400 && slow.Load() == 0; i++ {
			th.mustPublish(t, heavy, payload)
		}
		const updates = 50
		var wg sync.WaitGroup
		var got atomic.Int64
		var worst atomic.Int64
		for _, s := range streams {
			wg.Add(1)
			go func(s *stream) {
				defer wg.Done()
				for i := 0; i < updates; i++ {
					select {
					case ev, ok := <-s.events:
						if !ok {
							t.Errorf("fast subscriber dropped after %d: %v", i, s.err)
							return
						}
						sent, _ := strconv.ParseInt(ev.Data, 10, 64)
						lat := time.Now().UnixNano() - sent
						for {
							w := worst.Load()
							if lat <= w || worst.CompareAndSwap(w, lat) {
								break
							}
						}
						got.Add(1)
					case <-time.After(30 * time.Second):
						t.Errorf("fast subscriber stalled at %d", i)
						return
					}
				}
			}(s)
		}
		for i := 0; i < updates; i++ {
			th.mustPublish(t, book, strconv.FormatInt(time.Now().UnixNano(), 10))
		}
		wg.Wait()
		if g := got.Load(); g != fast*updates {
			t.Fatalf("fast subscribers got %d updates, want %d", g, fast*updates)
		}
		t.Logf("worst delivery latency to %d fast subscribers beside a stalled one: %v", fast, time.Duration(worst.Load()))
		eventually(t, 15*time.Second, "the stalled subscriber to be dropped", func() bool { return slow.Load() >= 1 })
	})
}

// dialStalled opens a stream whose client never reads, with a tiny
// receive buffer so that the server's writes back up.
func dialStalled(t testing.TB, addr, path string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", path, addr)
	br := bufio.NewReader(conn)
	line, err := br.ReadString('\n')
	if err != nil || !strings.Contains(line, "200") {
		t.Fatalf("stalled subscribe: %q %v", line, err)
	}
	return conn
}

type countingObserver struct {
	onDisconnect func(herald.DisconnectReason)
	connected    atomic.Int64
}

func (o *countingObserver) Published(*herald.Update, time.Duration, error) {}
func (o *countingObserver) Connected(int)                                  { o.connected.Add(1) }
func (o *countingObserver) Disconnected(r herald.DisconnectReason) {
	if o.onDisconnect != nil {
		o.onDisconnect(r)
	}
}

// rawStream opens a stream over a bare TCP connection, so that every line
// the hub writes (heartbeat comments included) can be read as it comes; the
// connection closes when the test ends and reads fail after timeout.
func (th *testHub) rawStream(t *testing.T, query string, timeout time.Duration) *bufio.Reader {
	t.Helper()
	conn, err := net.Dial("tcp", th.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET /.well-known/mercure?%s HTTP/1.1\r\nHost: h\r\n\r\n", query)
	conn.SetReadDeadline(time.Now().Add(timeout))
	return bufio.NewReader(conn)
}

func TestHeartbeat(t *testing.T) {
	eachStreamWriter(t, func(t *testing.T, opts ...herald.Option) {
		th := newTestHub(t, append(opts, herald.WithHeartbeat(time.Second))...)
		br := th.rawStream(t, "topic=x", 10*time.Second)
		comments := 0
		for comments < 3 { // the opening comment and two heartbeats
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("after %d comments: %v", comments, err)
			}
			if line == ":\n" {
				comments++
			}
		}
	})
}

// TestHeartbeatAfterData checks that a stream that carried an update in the
// middle of a heartbeat period is not left quiet for the rest of that period
// and a whole next one: the gap between any two writes stays near the
// period.
func TestHeartbeatAfterData(t *testing.T) {
	const period = 3 * time.Second
	eachStreamWriter(t, func(t *testing.T, opts ...herald.Option) {
		th := newTestHub(t, append(opts, herald.WithHeartbeat(period))...)
		br := th.rawStream(t, "topic=x", 30*time.Second)
		var last time.Time
		published := false
		writes := 0
		for writes < 5 { // the opening comment, the update, three more
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("after %d writes: %v", writes, err)
			}
			if line != ":\n" && !strings.HasPrefix(line, "data: ") {
				continue
			}
			now := time.Now()
			// A second of slack beyond the period for the once-a-second
			// wheel, and one more for a loaded test machine; the fault
			// this guards against makes gaps of up to two periods.
			if writes > 0 && now.Sub(last) > period+2*time.Second {
				t.Fatalf("write %d came %v after the one before (heartbeat period %v)", writes, now.Sub(last).Round(time.Millisecond), period)
			}
			last = now
			writes++
			if !published {
				published = true
				time.Sleep(period / 2) // the stream's bytes wait in its socket
				th.mustPublish(t, "x", "mid-period")
			}
		}
	})
}

func TestMaxLifetimeEndsStreams(t *testing.T) {
	eachStreamWriter(t, func(t *testing.T, opts ...herald.Option) {
		var reason atomic.Value
		obs := &countingObserver{onDisconnect: func(r herald.DisconnectReason) { reason.Store(r) }}
		th := newTestHub(t, append(opts, herald.WithMaxLifetime(time.Second), herald.WithObserver(obs))...)
		s := th.subscribe(t, "topic=x", nil)
		s.waitEnd(t, 10*time.Second)
		eventually(t, 5*time.Second, "lifetime reason", func() bool { return reason.Load() == herald.ReasonLifetime })
	})
}

func TestTokenExpiryEndsStream(t *testing.T) {
	eachStreamWriter(t, func(t *testing.T, opts ...herald.Option) {
		var reason atomic.Value
		obs := &countingObserver{onDisconnect: func(r herald.DisconnectReason) { reason.Store(r) }}
		th := newTestHub(t, append(opts, herald.WithObserver(obs))...)
		tok := mint(t, auth.TokenSpec{Subscribe: []string{"*"}, TTL: 2 * time.Second})
		s := th.subscribe(t, "topic=x", bearer(tok))
		s.waitEnd(t, 10*time.Second)
		eventually(t, 5*time.Second, "token_expired reason", func() bool { return reason.Load() == herald.ReasonExpired })
	})
}

func TestFinalUpdateEndsStreams(t *testing.T) {
	eachStreamWriter(t, func(t *testing.T, opts ...herald.Option) {
		th := newTestHub(t, opts...)
		topic := "https://example.com/login/abc"
		done := th.subscribe(t, "topic="+url.QueryEscape(topic), nil)
		mixed := th.subscribe(t, "topic="+url.QueryEscape(topic)+"&topic=other", nil)
		th.mustPublish(t, topic, "approved", "type", "2fa-complete", "final", "on")
		if ev := done.next(t); ev.Type != "2fa-complete" {
			t.Fatalf("got %+v", ev)
		}
		done.waitEnd(t, 5*time.Second)
		if ev := mixed.next(t); ev.Type != "2fa-complete" {
			t.Fatalf("got %+v", ev)
		}
		mixed.expectNone(t, 200*time.Millisecond) // still open: "other" is not finished
		if _, status := openStream(t, th.url+"?topic="+url.QueryEscape(topic), nil); status != http.StatusNoContent {
			t.Fatalf("reconnect to a finished topic: %d, want 204", status)
		}
	})
}

func TestCORS(t *testing.T) {
	th := newTestHub(t, herald.WithCORSOrigins("https://app.example"))
	req, _ := http.NewRequest(http.MethodOptions, th.url, nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "GET")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example" {
		t.Errorf("allowed origin: ACAO = %q", got)
	}
	if got := resp.Header.Get("Access-Control-Allow-Credentials"); got != "true" {
		t.Errorf("allowed origin: ACAC = %q", got)
	}
	req.Header.Set("Origin", "https://evil.example")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("foreign origin reflected: ACAO = %q", got)
	}
}

// TestShutdownLosesNothing closes a hub while publishers run; every update
// it accepted is received by clients that resume on a new hub sharing the
// transport.
func TestShutdownLosesNothing(t *testing.T) {
	eachStreamWriter(t, func(t *testing.T, opts ...herald.Option) {
		tr := herald.NewMemoryTransport(herald.MemoryConfig{})
		defer tr.Close()
		opts = append(opts, herald.WithTransport(tr))
		th := newTestHub(t, opts...)
		q := "topic=" + url.QueryEscape(book)
		const clients = 20
		streams := make([]*stream, clients)
		for i := range streams {
			streams[i] = th.subscribe(t, q, nil)
		}
		var accepted []string
		var mu sync.Mutex
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				u := &herald.Update{Topics: []string{book}, Data: strconv.Itoa(i)}
				if err := th.Hub.Publish(context.Background(), u); err != nil {
					return // closed: not accepted
				}
				mu.Lock()
				accepted = append(accepted, u.ID)
				mu.Unlock()
			}
		}()
		time.Sleep(100 * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := th.Hub.Close(ctx); err != nil {
			t.Fatal(err)
		}
		close(stop)
		wg.Wait()

		next := newTestHub(t, herald.WithTransport(tr))
		for i, s := range streams {
			var seen []string
			for ev := range s.events {
				seen = append(seen, ev.ID)
			}
			last := ""
			if len(seen) > 0 {
				last = seen[len(seen)-1]
			}
			h := http.Header{}
			if last != "" {
				h.Set("Last-Event-ID", last)
			}
			r := next.subscribe(t, q+"&lastEventID=earliest", h)
			if last == "" {
				r.resp.Header.Get("Last-Event-ID") // replayed from earliest
			}
			for len(seen) < len(accepted) {
				seen = append(seen, r.next(t).ID)
			}
			for j := range accepted {
				if seen[j] != accepted[j] {
					t.Fatalf("client %d: update %d is %s, want %s", i, j, seen[j], accepted[j])
				}
			}
			r.close()
		}
	})
}

func TestPrivateFinalUpdateEndsUnauthorizedStreams(t *testing.T) {
	th := newTestHub(t)
	topic := "https://example.com/login/private"
	anon := th.subscribe(t, "topic="+url.QueryEscape(topic), nil)
	th.mustPublish(t, topic, "done", "private", "on", "final", "on")
	select {
	case ev, ok := <-anon.events:
		if ok {
			t.Fatalf("anonymous subscriber received the private update %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream stayed open after its only topic finished")
	}
	if _, status := openStream(t, th.url+"?topic="+url.QueryEscape(topic), nil); status != http.StatusNoContent {
		t.Fatalf("reconnect: %d, want 204", status)
	}
}

// TestConcurrentPublishersReachEveryone publishes from several goroutines
// as fast as the hub takes updates, while shards are busy writing: every
// subscriber must get every update once, each publisher's in order. A
// stream the hub drops as too slow resumes with Last-Event-ID, as
// EventSource would.
func TestConcurrentPublishersReachEveryone(t *testing.T) {
	eachStreamWriter(t, func(t *testing.T, opts ...herald.Option) {
		th := newTestHub(t, opts...)
		const subs, publishers, each = 100, 4, 1000
		q := "topic=" + url.QueryEscape(book)
		streams := make([]*stream, subs)
		for i := range streams {
			streams[i] = th.subscribe(t, q, nil)
		}
		var wg sync.WaitGroup
		for p := 0; p < publishers; p++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < each; i++ {
					u := &herald.Update{Topics: []string{book}, Data: fmt.Sprintf("%d %d", p, i)}
					if err := th.Hub.Publish(context.Background(), u); err != nil {
						t.Errorf("publish: %v", err)
						return
					}
				}
			}()
		}
		var resumed atomic.Int64
		for _, s := range streams {
			wg.Add(1)
			go func(s *stream) {
				defer wg.Done()
				next := make([]int, publishers)
				last := ""
				for n := 0; n < publishers*each; {
					select {
					case ev, ok := <-s.events:
						if !ok {
							resumed.Add(1)
							s.close()
							cursor := last
							if cursor == "" {
								cursor = herald.EarliestID // dropped before its first update
							}
							s = th.subscribe(t, q, http.Header{"Last-Event-Id": {cursor}})
							continue
						}
						var p, i int
						fmt.Sscanf(ev.Data, "%d %d", &p, &i)
						if i != next[p] {
							t.Errorf("publisher %d: got update %d, want %d (lost, duplicated or reordered)", p, i, next[p])
							return
						}
						next[p]++
						last = ev.ID
						n++
					case <-time.After(30 * time.Second):
						t.Errorf("stalled after %d of %d updates", n, publishers*each)
						return
					}
				}
			}(s)
		}
		wg.Wait()
		t.Logf("%d streams were dropped as slow and resumed", resumed.Load())
	})
}
