package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald"
)

func TestParseEngine(t *testing.T) {
	for _, e := range Engines() {
		if got, err := ParseEngine(string(e)); err != nil || got != e {
			t.Errorf("ParseEngine(%q) = %q, %v", e, got, err)
		}
	}
	if _, err := ParseEngine("threads"); err == nil {
		t.Error("an unknown engine parsed")
	}
	c := Config{Scenario: Fanout, Hub: "http://127.0.0.1:1/hub"}.Defaults()
	if c.Engine != Engines()[0] {
		t.Errorf("default engine %q, want %q", c.Engine, Engines()[0])
	}
	for _, bad := range []Config{
		{Scenario: Fanout, Hub: "http://x/", Engine: "nope"},
		{Scenario: Fanout, Hub: "http://x/", Readers: -1},
		{Scenario: Fanout, Hub: "http://x/", Readers: maxReaders + 1},
	} {
		bad = bad.Defaults()
		if err := bad.Validate(); err == nil {
			t.Errorf("validated: engine %q, readers %d", bad.Engine, bad.Readers)
		}
	}
}

// waitGroups polls the groups until cond holds for each, or fails the
// test at the deadline.
func waitGroups(t *testing.T, what string, groups []*group, cond func(GroupStats) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok := true
		for _, g := range groups {
			if !cond(g.stats()) {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			for _, g := range groups {
				t.Logf("%s: %+v, errors %v", g.spec.Engine, g.stats(), g.errors())
			}
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// runGroups runs one group of subscribers per engine against hub in the
// same run: the same publishers, the same updates. hubFor gives each
// engine's hub URL (a test hub may tell the groups apart by it). It
// returns each group's result, in the order of Engines().
func runGroups(t *testing.T, hubFor func(Engine) string, subscribers, publishers, updates int, wantAll bool) []*groupResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := Config{Scenario: Fanout, Hub: hubFor(EngineGoroutine), Anonymous: true, Publishers: publishers}.Defaults()
	run := rand.Uint32()
	var groups []*group
	for _, e := range Engines() {
		g, err := newGroup(ctx, groupSpec{
			Hub: hubFor(e), Topic: cfg.Topic, Count: subscribers, Publishers: publishers, Run: run,
			ConnectConcurrency: 1, // in order, for the faulty hub
			Reconnect:          true, ReadBuffer: 512, ArrivalTime: true, Engine: e,
		})
		if err != nil {
			t.Fatal(err)
		}
		g.start()
		defer g.close()
		groups = append(groups, g)
	}
	n := int64(subscribers)
	waitGroups(t, "the subscribers to connect", groups, func(s GroupStats) bool { return s.Connected == n })

	client := newPublishClient(publishers)
	defer client.CloseIdleConnections()
	lat := newLatencyRecorder(1)
	var pubs []*publisher
	for i := 0; i < publishers; i++ {
		pubs = append(pubs, newPublisher(i, &cfg, run, client, lat))
	}
	// Warm up until every subscriber of both groups is live.
	deadline := time.Now().Add(20 * time.Second)
	for {
		ready := true
		for _, g := range groups {
			if g.stats().Ready < n {
				ready = false
			}
		}
		if ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the subscribers got no warm-up update")
		}
		if err := pubs[0].warmup(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var wg sync.WaitGroup
	errs := make(chan error, publishers)
	for i, p := range pubs {
		count := updates / publishers
		if i < updates%publishers {
			count++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.publishCount(ctx, count); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	expected := make([]uint64, publishers)
	var acked int64
	for i, p := range pubs {
		expected[i] = p.acked.Load()
		acked += int64(expected[i])
	}
	if wantAll {
		waitGroups(t, "every delivery", groups, func(s GroupStats) bool { return s.Events >= n*acked })
	} else {
		// A lossy hub: wait until both groups stop progressing.
		var last []int64
		for {
			time.Sleep(300 * time.Millisecond)
			var now []int64
			for _, g := range groups {
				s := g.stats()
				now = append(now, s.Events+s.Duplicates)
			}
			if fmt.Sprint(now) == fmt.Sprint(last) {
				break
			}
			last = now
		}
	}
	var out []*groupResult
	for _, g := range groups {
		res, err := g.finish(expected)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, res)
	}
	return out
}

// accountingOf is the part of a group's result that must not depend on
// the engine.
type accountingOf struct {
	Connected, Events, Duplicates, Reordered, Invalid, Stale, Other, Comments int64
	Lost, Extra, Lossy, Latencies                                             int64
}

func accounting(t *testing.T, r *groupResult) accountingOf {
	t.Helper()
	h, err := decodeHistogram(r.Histogram)
	if err != nil {
		t.Fatal(err)
	}
	s := r.Stats
	return accountingOf{
		Connected: s.Connected, Events: s.Events, Duplicates: s.Duplicates, Reordered: s.Reordered,
		Invalid: s.Invalid, Stale: s.Stale, Other: s.Other, Comments: s.Comments,
		Lost: r.Lost, Extra: r.Extra, Lossy: r.Lossy, Latencies: h.TotalCount(),
	}
}

// TestEnginesAgree runs the goroutine and the epoll engine side by side
// on the same updates, against Herald (on net/http and on its hijacked
// writers) and against a hub that drops, repeats and reorders updates and
// frames its stream oddly: their accounting must be the same.
func TestEnginesAgree(t *testing.T) {
	if len(Engines()) < 2 {
		t.Skip("only one engine on this platform")
	}
	for _, hijack := range []bool{false, true} {
		t.Run(fmt.Sprintf("herald/hijack=%v", hijack), func(t *testing.T) {
			hub := openHerald(t, herald.WithHijack(hijack), herald.WithHeartbeat(time.Hour))
			res := runGroups(t, func(Engine) string { return hub }, 12, 3, 300, true)
			want := accounting(t, res[0])
			if want.Events != 12*300 || want.Lost != 0 || want.Duplicates != 0 {
				t.Errorf("%s: %+v", Engines()[0], want)
			}
			for i, r := range res[1:] {
				if got := accounting(t, r); got != want {
					t.Errorf("accounting differs:\n%-9s %+v\n%-9s %+v", Engines()[0], want, Engines()[i+1], got)
				}
			}
		})
	}
	t.Run("faulty", func(t *testing.T) {
		f := newOddHub()
		srv := httptest.NewServer(f)
		defer func() {
			srv.CloseClientConnections()
			srv.Close()
		}()
		res := runGroups(t, func(e Engine) string { return srv.URL + "/?g=" + string(e) }, 4, 1, 120, false)
		want := accounting(t, res[0])
		t.Logf("%+v", want)
		// Per group: the first subscriber misses every 7th update, the
		// second gets every 5th twice, the third gets every 11th late.
		if want.Lost != 120/7 || want.Duplicates != 120/5 || want.Reordered != 120/11 || want.Lossy != 1 {
			t.Errorf("%s: %+v", Engines()[0], want)
		}
		if want.Other == 0 || want.Comments == 0 {
			t.Errorf("%s: no pings or comments counted: %+v", Engines()[0], want)
		}
		for i, r := range res[1:] {
			if got := accounting(t, r); got != want {
				t.Errorf("accounting differs:\n%-9s %+v\n%-9s %+v", Engines()[0], want, Engines()[i+1], got)
			}
		}
	})
}

// oddHub is a deliberately faulty hub (see TestEnginesAgree) that also
// writes its events in pieces, with CRLF line ends, comments and pings,
// so that events and chunks straddle reads. It keeps the subscribers of
// each ?g= group apart.
type oddHub struct {
	mu     sync.Mutex
	groups map[string][]chan string
	n      int
	held   map[string]string // group: the update held back for later
}

func newOddHub() *oddHub {
	return &oddHub{groups: map[string][]chan string{}, held: map[string]string{}}
}

func (h *oddHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		ch := make(chan string, 4096)
		g := r.URL.Query().Get("g")
		h.mu.Lock()
		h.groups[g] = append(h.groups[g], ch)
		h.mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		io.WriteString(w, ":ok\r\n\r\n")
		rc.Flush()
		n := 0
		for {
			select {
			case <-r.Context().Done():
				return
			case data := <-ch:
				n++
				// Split the event over three writes (three chunks).
				fmt.Fprintf(w, "id: %d\r\nda", n)
				rc.Flush()
				fmt.Fprintf(w, "ta: %s", data)
				rc.Flush()
				io.WriteString(w, "\r\n\r\n")
				if n%4 == 0 {
					io.WriteString(w, ": heartbeat\r\nevent: ping\r\ndata: {}\r\n\r\n")
				}
				rc.Flush()
			}
		}
	case http.MethodPost:
		r.ParseForm()
		data := r.PostForm.Get("data")
		h.mu.Lock()
		defer h.mu.Unlock()
		if !strings.HasPrefix(data, markUpdate) {
			for _, subs := range h.groups {
				for _, ch := range subs {
					ch <- data
				}
			}
			return
		}
		h.n++
		n := h.n
		for g, subs := range h.groups {
			held := h.held[g]
			for i, ch := range subs {
				for _, d := range faults(i, n, data, &held) {
					ch <- d
				}
			}
			h.held[g] = held
		}
	}
}

// TestEngineBodyFramings serves streams whose bodies are chunked in odd
// ways, delimited by Content-Length, or by the end of the connection, from
// a raw TCP server, and holds both engines to the same account of each.
func TestEngineBodyFramings(t *testing.T) {
	const run = 7
	events := func(n int) string {
		var body strings.Builder
		for seq := 1; seq <= n; seq++ {
			fmt.Fprintf(&body, "data: %s\n\n", appendPayload(nil, run, 0, uint64(seq), time.Now().UnixNano(), 80))
			if seq == 3 {
				body.WriteString(":comment\n\n")
			}
		}
		return body.String()
	}
	// chunked cuts a stream into chunks of 1 to 40 bytes, with extensions
	// and trailing whitespace on some size lines.
	chunked := func(stream string) string {
		var b strings.Builder
		r := rand.New(rand.NewPCG(1, 2))
		for rest := stream; rest != ""; {
			n := min(1+r.IntN(40), len(rest))
			switch r.IntN(3) {
			case 0:
				fmt.Fprintf(&b, "%X;x=y\r\n", n)
			case 1:
				fmt.Fprintf(&b, "%x \r\n", n)
			default:
				fmt.Fprintf(&b, "%x\r\n", n)
			}
			b.WriteString(rest[:n])
			b.WriteString("\r\n")
			rest = rest[n:]
		}
		b.WriteString("0\r\n\r\n")
		return b.String()
	}
	head := "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
	short, long := events(9), events(400)
	cases := []struct {
		name, response string
		events         int
		piece          int  // bytes per write: the response arrives over many reads
		keepOpen       bool // the server holds the connection open after the response
	}{
		{"chunked", head + "Transfer-Encoding: chunked\r\n\r\n" + chunked(short), 9, 23, true},
		{"content-length", head + fmt.Sprintf("Content-Length: %d\r\n\r\n", len(short)) + short, 9, 23, true},
		{"until-close", head + "Connection: close\r\n\r\n" + short, 9, 23, false},
		// In one write, far more than a reader's turn on a stream.
		{"bulk", head + "Transfer-Encoding: chunked\r\n\r\n" + chunked(long), 400, 1 << 20, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var want *accountingOf
			for _, e := range Engines() {
				got := framingRun(t, e, run, tc.response, tc.events, tc.piece, tc.keepOpen)
				if got.Events != int64(tc.events) || got.Comments != 1 || got.Lost != 0 {
					t.Errorf("%s: %+v", e, got)
				}
				if want == nil {
					want = &got
				} else if got != *want {
					t.Errorf("accounting differs:\n%-9s %+v\n%-9s %+v", Engines()[0], *want, e, got)
				}
			}
		})
	}
}

// framingRun serves response to one subscriber of the engine, which
// must read it to its end and stop, and returns its accounting.
func framingRun(t *testing.T, e Engine, run uint32, response string, events, piece int, keepOpen bool) accountingOf {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	release := make(chan struct{})
	defer close(release)
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		http.ReadRequest(bufio.NewReader(c))
		for rest := response; rest != ""; {
			n := min(len(rest), piece)
			if _, err := io.WriteString(c, rest[:n]); err != nil {
				return
			}
			rest = rest[n:]
			time.Sleep(time.Millisecond)
		}
		if keepOpen {
			<-release
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	g, err := newGroup(ctx, groupSpec{
		Hub: "http://" + ln.Addr().String() + "/", Topic: "t", Count: 1, Publishers: 1, Run: run,
		ConnectConcurrency: 1, ReadBuffer: 512, ArrivalTime: true, Engine: e,
	})
	if err != nil {
		t.Fatal(err)
	}
	g.start()
	defer g.close()
	// Without reconnection, the subscriber is done once its stream ends.
	waitGroups(t, "the stream to end", []*group{g}, func(s GroupStats) bool { return s.Disconnects == 1 })
	if errs := g.errors(); len(errs) != 1 || !strings.Contains(errs[0], "unexpected EOF") {
		t.Errorf("%s: errors %q, want the stream's unexpected EOF", e, errs)
	}
	res, err := g.finish([]uint64{uint64(events)})
	if err != nil {
		t.Fatal(err)
	}
	return accounting(t, res)
}

// TestReconnectResumes: a hub that ends every stream after a short
// lifetime; subscribers reconnect with Last-Event-ID and, thanks to the
// hub's history, miss nothing and get nothing twice.
func TestReconnectResumes(t *testing.T) {
	forEngines(t, func(t *testing.T, engine Engine) {
		cfg := tiny(Fanout, openHerald(t, herald.WithMaxLifetime(150*time.Millisecond)), engine)
		cfg.Updates, cfg.Rate = 60, 60
		cfg.Subscribers = 10
		res := mustRun(t, cfg)
		checkExact(t, res)
		if res.Subscribers.Reconnects == 0 || res.Subscribers.Disconnects == 0 {
			t.Errorf("no reconnection in %.1f s with a 150 ms stream lifetime: %+v", res.PublishSeconds, res.Subscribers)
		}
	})
}
