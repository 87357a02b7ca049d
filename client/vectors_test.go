package client

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/sse"
)

// The public parser vectors, kept by the sse package; see its
// testdata/README.md for the format.
const vectorsFile = "../sse/testdata/sse-parse.json"

type vpart struct {
	Text   *string `json:"text"`
	Hex    *string `json:"hex"`
	Repeat *string `json:"repeat"`
	Count  int     `json:"count"`
}

type vevent struct {
	Type      string  `json:"type"`
	Data      *string `json:"data"`
	DataParts []vpart `json:"data_parts"`
	ID        string  `json:"id"`
}

type vector struct {
	Name        string   `json:"name"`
	Input       *string  `json:"input"`
	InputHex    *string  `json:"input_hex"`
	InputParts  []vpart  `json:"input_parts"`
	Chunks      []string `json:"chunks"`
	ChunksHex   []string `json:"chunks_hex"`
	Events      []vevent `json:"events"`
	LastEventID string   `json:"last_event_id"`
	Retry       *uint64  `json:"retry"`
}

func joinParts(parts []vpart) ([]byte, error) {
	var b []byte
	for _, p := range parts {
		switch {
		case p.Text != nil:
			b = append(b, *p.Text...)
		case p.Hex != nil:
			h, err := hex.DecodeString(*p.Hex)
			if err != nil {
				return nil, err
			}
			b = append(b, h...)
		case p.Repeat != nil:
			b = append(b, strings.Repeat(*p.Repeat, p.Count)...)
		default:
			return nil, errors.New("empty part")
		}
	}
	return b, nil
}

func loadVectors(t testing.TB) []vector {
	t.Helper()
	raw, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Vectors []vector `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	return f.Vectors
}

func (v *vector) input() ([]byte, error) {
	switch {
	case v.Input != nil:
		return []byte(*v.Input), nil
	case v.InputHex != nil:
		return hex.DecodeString(*v.InputHex)
	case v.InputParts != nil:
		return joinParts(v.InputParts)
	}
	return nil, errors.New("no input")
}

// chunks returns the vector's own delivery split, or else the input cut
// into pieces of 1 to 97 bytes.
func (v *vector) chunks() ([][]byte, error) {
	var cs [][]byte
	for _, c := range v.Chunks {
		cs = append(cs, []byte(c))
	}
	for _, h := range v.ChunksHex {
		c, err := hex.DecodeString(h)
		if err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	if cs != nil {
		return cs, nil
	}
	in, err := v.input()
	if err != nil {
		return nil, err
	}
	for i, size := 0, 1; len(in) > 0; i++ {
		size = (size*31+7)%97 + 1
		if len(in) > 4096 {
			size *= 64 // long inputs: fewer, larger writes
		}
		n := min(size, len(in))
		cs = append(cs, in[:n])
		in = in[n:]
	}
	return cs, nil
}

func (v *vector) wantEvents() ([]sse.Event, error) {
	var evs []sse.Event
	for _, e := range v.Events {
		ev := sse.Event{Type: e.Type, ID: e.ID}
		switch {
		case e.Data != nil:
			ev.Data = *e.Data
		default:
			d, err := joinParts(e.DataParts)
			if err != nil {
				return nil, err
			}
			ev.Data = string(d)
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

// TestVectors runs every parser vector through the whole client: a local
// server writes the vector in chunks, flushing after each, and the client
// must dispatch the same events, by callback and by iterator, and end with
// the same last event ID and reconnection time.
func TestVectors(t *testing.T) {
	const initial = 1234567 * time.Microsecond // no vector's retry
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			chunks, err := v.chunks()
			if err != nil {
				t.Fatal(err)
			}
			want, err := v.wantEvents()
			if err != nil {
				t.Fatal(err)
			}
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
