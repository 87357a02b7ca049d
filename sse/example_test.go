package sse_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/heraldpush/herald/sse"
)

func ExampleAppendEvent() {
	buf, err := sse.AppendEvent(nil, sse.Event{
		ID:   "42",
		Type: "update",
		Data: "line one\nline two",
	})
	if err != nil {
		panic(err)
	}
	os.Stdout.Write(buf)
	// Output:
	// id: 42
	// event: update
	// data: line one
	// data: line two
}

func ExampleAppendEvent_refused() {
	// A line break in an ID would let a publisher forge fields for
	// every subscriber, so it is refused and nothing is written.
	buf := []byte("untouched")
	buf, err := sse.AppendEvent(buf, sse.Event{ID: "1\nevent: admin", Data: "x"})
	fmt.Println(errors.Is(err, sse.ErrInvalidID))
	fmt.Println(err)
	fmt.Println(string(buf))
	// Output:
	// true
	// sse: invalid event id "1\nevent: admin": line feed at byte 1
	// untouched
}

func ExampleAppendComment() {
	var buf []byte
	buf = sse.AppendComment(buf, "") // a heartbeat
	buf = sse.AppendComment(buf, "stream opened\nwelcome")
	fmt.Printf("%q\n", buf)
	// Output:
	// ":\n: stream opened\n: welcome\n"
}

func ExampleParser() {
	p := sse.NewParser()
	emit := func(ev sse.Event) error {
		fmt.Printf("%s %q id=%q\n", ev.Type, ev.Data, ev.ID)
		return nil
	}
	// Chunks can be split anywhere, even inside a CRLF.
	for _, chunk := range []string{"retry: 5000\r\nid: 1\r\nda", "ta: hello\r\n\r", "\nevent: bye\ndata: a\ndata: b\n\n"} {
		if err := p.Feed([]byte(chunk), emit); err != nil {
			panic(err)
		}
	}
	if err := p.End(); err != nil {
		panic(err)
	}
	ms, _ := p.Retry()
	fmt.Println("last event ID:", p.LastEventID(), "retry:", ms)
	// Output:
	// message "hello" id="1"
	// bye "a\nb" id="1"
	// last event ID: 1 retry: 5000
}

func ExampleDecoder() {
	stream := "id: 1\ndata: first\n\n: heartbeat\n\nid: 2\nevent: note\ndata: second\n\ndata: cut off by EOF"
	d := sse.NewDecoder(strings.NewReader(stream))
	for {
		ev, err := d.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s: %s (id %s)\n", ev.Type, ev.Data, ev.ID)
	}
	fmt.Println("reconnect with Last-Event-ID:", d.LastEventID())
	// Output:
	// message: first (id 1)
	// note: second (id 2)
	// reconnect with Last-Event-ID: 2
}

func ExampleWithMaxEventSize() {
	d := sse.NewDecoder(strings.NewReader("data: "+strings.Repeat("x", 100)+"\n\n"), sse.WithMaxEventSize(64))
	_, err := d.Next()
	fmt.Println(errors.Is(err, sse.ErrEventTooLarge))
	fmt.Println(err)
	// Output:
	// true
	// sse: event too large: more than 64 bytes of fields in one event
}

func ExampleValidateRetry() {
	for _, r := range []string{"3000", "03000", "+100", "10x", ""} {
		fmt.Printf("%q: %v\n", r, sse.ValidateRetry(r))
	}
	// Output:
	// "3000": <nil>
	// "03000": <nil>
	// "+100": sse: invalid retry value "+100": non-digit '+' at byte 0
	// "10x": sse: invalid retry value "10x": non-digit 'x' at byte 2
	// "": sse: invalid retry value: empty
}
