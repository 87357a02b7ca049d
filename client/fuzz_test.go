package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/ssevectors"
	"github.com/heraldpush/herald/sse"
)

// conn is one scripted connection: its body arrives in chunks, then ends
// with EOF or with a network error.
type conn struct {
	chunks [][]byte
	reset  bool
}

// plan cuts stream into connections and chunks. Each byte b of cuts takes
// the next (b & 31) + 1 bytes as one chunk; b >> 5 then says what follows
// it: 0 to 4 more of the same connection, 5 the end of the connection
// (EOF), 6 a connection reset, 7 a reset and a connection that fails
// before its response. What cuts does not cover is one last chunk.
func plan(stream, cuts []byte) []conn {
	conns := []conn{{}}
	cur := &conns[0]
	for _, b := range cuts {
		if len(stream) == 0 {
			break
		}
		n := min(int(b&31)+1, len(stream))
		cur.chunks = append(cur.chunks, stream[:n])
		stream = stream[n:]
		switch b >> 5 {
		case 5, 6:
			cur.reset = b>>5 == 6
			conns = append(conns, conn{})
			cur = &conns[len(conns)-1]
		case 7:
			cur.reset = true
			conns = append(conns, conn{reset: true}, conn{}) // no chunks: the request fails
			cur = &conns[len(conns)-1]
		}
	}
	if len(stream) > 0 {
		cur.chunks = append(cur.chunks, stream)
	}
	return conns
}

var errReset = errors.New("connection reset by peer (scripted)")

// scriptTransport answers request i with conns[i] and then 204. It keeps
// the Last-Event-ID header of every request.
type scriptTransport struct {
	conns []conn
	mu    sync.Mutex
	ids   []*string
}

func (st *scriptTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	st.mu.Lock()
	i := len(st.ids)
	var id *string
	if v, ok := req.Header["Last-Event-Id"]; ok {
		id = &v[0]
	}
	st.ids = append(st.ids, id)
	st.mu.Unlock()
	if req.Body != nil {
		req.Body.Close()
	}
	if i >= len(st.conns) {
		return &http.Response{StatusCode: 204, Status: "204 No Content", Header: http.Header{}, Body: http.NoBody, Request: req}, nil
	}
	c := st.conns[i]
	if c.reset && len(c.chunks) == 0 {
		return nil, errReset
	}
	return &http.Response{
		StatusCode: 200, Status: "200 OK", Request: req,
		Header: http.Header{"Content-Type": {"text/event-stream"}},
		Body:   &chunkBody{ctx: req.Context(), chunks: c.chunks, reset: c.reset},
	}, nil
}

// chunkBody returns at most one chunk per Read.
type chunkBody struct {
	ctx    context.Context
	chunks [][]byte
	reset  bool
}

func (b *chunkBody) Read(p []byte) (int, error) {
	if err := b.ctx.Err(); err != nil {
		return 0, err
	}
	if len(b.chunks) == 0 {
		if b.reset {
			return 0, errReset
		}
		return 0, io.EOF
	}
	n := copy(p, b.chunks[0])
	if b.chunks[0] = b.chunks[0][n:]; len(b.chunks[0]) == 0 {
		b.chunks = b.chunks[1:]
	}
	return n, nil
}

func (b *chunkBody) Close() error { return nil }

// FuzzClient drives the whole client with random streams cut into random
// chunks and connections that end or break at random points, and checks
// that it delivers exactly what sse.Parser gives for the same bytes read
// the same way (a new stream per connection, the last event ID and
// reconnection time kept), that it sends Last-Event-ID exactly when that
// is not empty, that Close from a callback stops it at once, and that it
// always finishes.
func FuzzClient(f *testing.F) {
	for _, v := range ssevectors.Load(f) {
		in := v.Input
		if len(in) > 4096 {
			continue
		}
		f.Add(in, []byte{}, uint8(0))
		f.Add(in, []byte{3, 0xa5, 0xc2, 7, 0xe1, 0x40}, uint8(0))
		f.Add(in, []byte{0, 0, 0xa0, 0, 0xc0, 0xff}, uint8(2))
	}
	f.Add([]byte("id: 1\ndata: a\n\nid\ndata: b\n\nretry: 50\nid: 3\n\n"), []byte{0xb0, 0xae, 3, 0xe4}, uint8(0))
	f.Fuzz(func(t *testing.T, stream, cuts []byte, closeAt uint8) {
		conns := plan(stream, cuts)

		// What the parser gives for the same connections.
		ref := sse.NewParser()
		var want []sse.Event
		var wantIDs []string // Last-Event-ID before each request
		collect := func(ev sse.Event) error { want = append(want, ev); return nil }
		for _, c := range conns {
			wantIDs = append(wantIDs, ref.LastEventID())
			for _, ch := range c.chunks {
				if err := ref.Feed(ch, collect); err != nil {
					t.Skip("larger than the parser's limit") // not with these sizes
				}
			}
			ref.End()
		}
		wantIDs = append(wantIDs, ref.LastEventID()) // the 204
		if closeAt > 0 && int(closeAt) < len(want) {
			want = want[:closeAt]
		}

		st := &scriptTransport{conns: conns}
		clk := newFakeClock()
		clk.instant = true
		c, err := New("http://fuzz.invalid/events", &Options{
			HTTPClient:   &http.Client{Transport: st},
			InitialDelay: 1234 * time.Millisecond,
			hooks:        &hooks{clock: clk, rand: seqRand(0.3)},
		})
		if err != nil {
			t.Fatal(err)
		}
		var got []sse.Event
		var mismatch string
		c.OnEvent("message", func(ev sse.Event) {})
		done := make(chan error, 1)
		go func() {
			var err error
			for ev, e := range c.Events(context.Background()) {
				if e != nil {
					err = e
					break
				}
				if id := c.LastEventID(); id != ev.ID && mismatch == "" {
					mismatch = fmt.Sprintf("LastEventID() = %q during event with id %q", id, ev.ID)
				}
				got = append(got, ev)
				if closeAt > 0 && len(got) == int(closeAt) {
					c.Close()
				}
			}
			done <- err
		}()
		var runErr error
		select {
		case runErr = <-done:
		case <-time.After(20 * time.Second):
			c.Close()
			t.Fatal("the client did not finish: deadlock?")
		}
		if mismatch != "" {
			t.Fatal(mismatch)
		}
		if !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Fatalf("events:\n got %s\nwant %s", show(got), show(want))
		}
		closedEarly := closeAt > 0 && len(got) == int(closeAt)
		if closedEarly {
			if runErr != nil {
				t.Fatalf("closed: %v", runErr)
			}
			return
		}
		if !errors.Is(runErr, ErrNoContent) {
			t.Fatalf("the stream ended with %v, want the final 204", runErr)
		}
		if len(st.ids) != len(conns)+1 {
			t.Fatalf("%d requests for %d connections and the final 204", len(st.ids), len(conns))
		}
		for i, id := range st.ids {
			switch {
			case wantIDs[i] == "" && id != nil:
				t.Fatalf("request %d: Last-Event-ID %q sent, want none", i, *id)
			case wantIDs[i] != "" && (id == nil || *id != wantIDs[i]):
				t.Fatalf("request %d: Last-Event-ID %v, want %q", i, id, wantIDs[i])
			}
		}
		if got := c.LastEventID(); got != ref.LastEventID() {
			t.Fatalf("LastEventID() = %q, want %q", got, ref.LastEventID())
		}
		wantRT := 1234 * time.Millisecond
		if ms, ok := ref.Retry(); ok {
			wantRT = msToDuration(ms)
		}
		if got := c.ReconnectionTime(); got != wantRT {
			t.Fatalf("ReconnectionTime() = %v, want %v", got, wantRT)
		}
		if c.State() != Closed {
			t.Fatalf("state %v", c.State())
		}
	})
}

func TestPlan(t *testing.T) {
	conns := plan([]byte("abcdefghij"), []byte{1, 0xa0, 0xc1, 0xe0})
	var b strings.Builder
	for _, c := range conns {
		fmt.Fprintf(&b, "%q %v|", c.chunks, c.reset)
	}
	if want := `["ab" "c"] false|["de"] true|["f"] true|[] true|["ghij"] false|`; b.String() != want {
		t.Errorf("plan: %s\nwant %s", b.String(), want)
	}
}
