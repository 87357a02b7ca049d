package sse

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
)

// mercureEvent is a typical published update: a URN id, a type and about
// 200 bytes of JSON.
func mercureEvent(i int) Event {
	return Event{
		ID:   fmt.Sprintf("urn:uuid:%08x-1b4e-4c1a-9f3e-%012x", i, i*7919),
		Type: "https://example.com/books/update",
		Data: fmt.Sprintf(`{"@context":"https://schema.org","@id":"https://example.com/books/%d",`+
			`"@type":"Book","name":"The Lord of the Rings","author":"J. R. R. Tolkien",`+
			`"isbn":"978-0-618-64015-7","price":%d.99,"availability":"https://schema.org/InStock"}`, i, i%100),
	}
}

// mercureStream is n encoded Mercure-like events with a heartbeat every 16.
func mercureStream(n int) []byte {
	var b []byte
	for i := range n {
		var err error
		if b, err = AppendEvent(b, mercureEvent(i)); err != nil {
			panic(err)
		}
		if i%16 == 15 {
			b = AppendComment(b, "")
		}
	}
	return b
}

// largeStream is n events of 64 KiB of multi-line data each.
func largeStream(n int) []byte {
	line := strings.Repeat("0123456789abcdef", 64) // 1 KiB
	data := strings.TrimSuffix(strings.Repeat(line+"\n", 64), "\n")
	var b []byte
	for i := range n {
		b, _ = AppendEvent(b, Event{ID: fmt.Sprint(i), Data: data})
	}
	return b
}

func BenchmarkAppendEvent(b *testing.B) {
	for _, bc := range []struct {
		name string
		ev   Event
	}{
		{"mercure", mercureEvent(12345)},
		{"small", Event{ID: "42", Data: "hello"}},
		{"multiline", Event{ID: "42", Type: "log", Data: strings.Repeat("a log line of some length\n", 8)}},
		{"crlf", Event{Data: strings.Repeat("a log line of some length\r\n", 8)}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			buf := make([]byte, 0, 4096)
			n, _ := AppendEvent(nil, bc.ev)
			b.SetBytes(int64(len(n)))
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = AppendEvent(buf[:0], bc.ev)
			}
		})
	}
}

func BenchmarkAppendComment(b *testing.B) {
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendComment(buf[:0], "")
	}
}

func benchStreams() []struct {
	name string
	in   []byte
} {
	return []struct {
		name string
		in   []byte
	}{
		{"mercure", mercureStream(2000)},
		{"large", largeStream(16)},
		{"cr-only", bytes.Repeat([]byte("id:1\rdata:x\r\r"), 20000)},
	}
}

// BenchmarkParser feeds the stream in 32 KiB chunks, as read from a
// connection.
func BenchmarkParser(b *testing.B) {
	for _, s := range benchStreams() {
		b.Run(s.name, func(b *testing.B) {
			const chunk = 32 << 10
			p := NewParser(WithMaxEventSize(-1))
			n := 0
			emit := func(Event) error { n++; return nil }
			b.SetBytes(int64(len(s.in)))
			b.ReportAllocs()
			for b.Loop() {
				for in := s.in; len(in) > 0; {
					c := in[:min(chunk, len(in))]
					in = in[len(c):]
					if err := p.Feed(c, emit); err != nil {
						b.Fatal(err)
					}
				}
				p.End()
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

func BenchmarkDecoder(b *testing.B) {
	for _, s := range benchStreams() {
		b.Run(s.name, func(b *testing.B) {
			r := bytes.NewReader(s.in)
			d := NewDecoder(r)
			b.SetBytes(int64(len(s.in)))
			b.ReportAllocs()
			for b.Loop() {
				r.Reset(s.in)
				d.Reset(r)
				for {
					if _, err := d.Next(); err == io.EOF {
						break
					} else if err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// The parser allocates the Data and (new) ID strings of each event and
// nothing else once warm.
func TestParserAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	in := mercureStream(100)
	p := NewParser()
	emit := func(Event) error { return nil }
	p.Feed(in, emit)
	p.End()
	n := testing.AllocsPerRun(20, func() {
		for c := range slices.Chunk(in, 1000) {
			p.Feed(c, emit)
		}
		p.End()
	})
	if n > 200 {
		t.Fatalf("%v allocations for 100 events", n)
	}
}
