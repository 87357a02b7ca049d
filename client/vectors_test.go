package client

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/ssevectors"
	"github.com/heraldpush/herald/sse"
)

// wantEvents is what the client must dispatch for v.
func wantEvents(v ssevectors.Vector) []sse.Event {
	var evs []sse.Event
	for _, e := range v.Events {
		evs = append(evs, sse.Event{Type: e.Type, Data: e.Data, ID: e.ID})
	}
	return evs
}

// TestVectors runs every parser vector through the whole client: a local
// server writes the vector in chunks, flushing after each, and the client
// must dispatch the same events, by callback and by iterator, and end with
// the same last event ID and reconnection time.
func TestVectors(t *testing.T) {
	const initial = 1234567 * time.Microsecond // no vector's retry
	for _, v := range ssevectors.Load(t) {
		t.Run(v.Name, func(t *testing.T) {
			chunks, want := v.Delivery(), wantEvents(v)
			ts := newTestServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
				if n > 0 {
					w.WriteHeader(http.StatusNoContent)
					return
				}
				openStream(w)
				for _, c := range chunks {
					w.Write(c)
					w.(http.Flusher).Flush()
				}
			})
			c := newClient(t, ts.URL, &Options{MaxRetries: -1, InitialDelay: initial})
			var byCallback []sse.Event
			types := map[string]bool{"message": true}
			for _, e := range want {
				types[e.Type] = true
			}
			for typ := range types {
				c.OnEvent(typ, func(ev sse.Event) { byCallback = append(byCallback, ev) })
			}
			var got []sse.Event
			for ev, err := range c.Events(context.Background()) {
				if err != nil {
					t.Fatalf("client stopped: %v", err)
				}
				got = append(got, ev)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("events:\n got %s\nwant %s", show(got), show(want))
			}
			if !reflect.DeepEqual(byCallback, want) {
				t.Errorf("events by callback:\n got %s\nwant %s", show(byCallback), show(want))
			}
			if got := c.LastEventID(); got != v.LastEventID {
				t.Errorf("LastEventID() = %q, want %q", got, v.LastEventID)
			}
			wantRetry := initial
			if v.Retry != nil {
				wantRetry = msToDuration(*v.Retry)
			}
			if got := c.ReconnectionTime(); got != wantRetry {
				t.Errorf("ReconnectionTime() = %v, want %v", got, wantRetry)
			}
			if n := len(ts.requests()); n != 1 {
				t.Errorf("%d requests, want 1 (MaxRetries < 0)", n)
			}
		})
	}
}

func show(evs []sse.Event) string {
	var b strings.Builder
	for _, e := range evs {
		d := e.Data
		if len(d) > 80 {
			d = fmt.Sprintf("%s...(%d bytes)", d[:80], len(d))
		}
		fmt.Fprintf(&b, "{%q %q id=%q} ", e.Type, d, e.ID)
	}
	return "[" + b.String() + "]"
}
