package sse

import (
	"errors"
	"strings"
	"testing"
)

func TestAppendEvent(t *testing.T) {
	cases := []struct {
		name string
		ev   Event
		want string
	}{
		{"data only", Event{Data: "hello"}, "data: hello\n\n"},
		{"field order", Event{Data: "d", Retry: "10", Type: "t", ID: "1"},
			"id: 1\nevent: t\nretry: 10\ndata: d\n\n"},
		{"empty data dispatches", Event{}, "data: \n\n"},
		{"empty data with id", Event{ID: "9"}, "id: 9\ndata: \n\n"},
		{"LF", Event{Data: "a\nb\nc"}, "data: a\ndata: b\ndata: c\n\n"},
		{"CRLF", Event{Data: "a\r\nb"}, "data: a\ndata: b\n\n"},
		{"lone CR", Event{Data: "a\rb"}, "data: a\ndata: b\n\n"},
		{"mixed", Event{Data: "a\r\rb\n\r\nc\r"}, "data: a\ndata: \ndata: b\ndata: \ndata: c\ndata: \n\n"},
		{"trailing LF kept", Event{Data: "a\n"}, "data: a\ndata: \n\n"},
		{"LF CR is two line ends", Event{Data: "a\n\rb"}, "data: a\ndata: \ndata: b\n\n"},
		{"only newlines", Event{Data: "\n\n"}, "data: \ndata: \ndata: \n\n"},
		{"leading space in values", Event{ID: " 1", Type: " t", Data: " d\n  e"},
			"id:  1\nevent:  t\ndata:  d\ndata:   e\n\n"},
		{"colons", Event{ID: "urn:1", Type: "a:b", Data: ":x"}, "id: urn:1\nevent: a:b\ndata: :x\n\n"},
		{"NUL in data and type", Event{Type: "a\x00", Data: "\x00"}, "event: a\x00\ndata: \x00\n\n"},
		{"unicode", Event{ID: "\u2026", Data: "caf\u00e9 \U0001F600"}, "id: \u2026\ndata: caf\u00e9 \U0001F600\n\n"},
		{"retry leading zeros", Event{Retry: "03000", Data: "x"}, "retry: 03000\ndata: x\n\n"},
	}
	for _, c := range cases {
		prefix := []byte(": keep\n")
		got, err := AppendEvent(prefix, c.ev)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if string(got) != ": keep\n"+c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
		// And what a client makes of it.
		r := refParse(got, "")
		if len(r.Events) != 1 {
			t.Fatalf("%s: %d events", c.name, len(r.Events))
		}
		wantType := c.ev.Type
		if wantType == "" {
			wantType = "message"
		}
		if ev := r.Events[0]; ev.Data != normalizeNewlines(c.ev.Data) || ev.Type != wantType || ev.ID != c.ev.ID {
			t.Errorf("%s: parsed back as %+q", c.name, ev)
		}
	}
}

func TestAppendEventRefuses(t *testing.T) {
	cases := []struct {
		ev   Event
		want error
		msg  string
	}{
		{Event{ID: "1\n2"}, ErrInvalidID, `sse: invalid event id "1\n2": line feed at byte 1`},
		{Event{ID: "1\r"}, ErrInvalidID, `sse: invalid event id "1\r": carriage return at byte 1`},
		{Event{ID: "\x00"}, ErrInvalidID, `sse: invalid event id "\x00": NUL at byte 0`},
		{Event{Type: "a\nid: 6"}, ErrInvalidType, `sse: invalid event type "a\nid: 6": line feed at byte 1`},
		{Event{Type: "a\r"}, ErrInvalidType, "carriage return at byte 1"},
		{Event{Retry: "+1"}, ErrInvalidRetry, `sse: invalid retry value "+1": non-digit '+' at byte 0`},
		{Event{Retry: "-1"}, ErrInvalidRetry, "non-digit '-' at byte 0"},
		{Event{Retry: "10x"}, ErrInvalidRetry, "non-digit 'x' at byte 2"},
		{Event{Retry: " 5"}, ErrInvalidRetry, "non-digit ' ' at byte 0"},
		{Event{Retry: "1.5"}, ErrInvalidRetry, "at byte 1"},
		{Event{Retry: "\u0661"}, ErrInvalidRetry, "at byte 0"},
		{Event{ID: strings.Repeat("x", 100) + "\n"}, ErrInvalidID, `"` + strings.Repeat("x", 64) + `..."`},
	}
	for _, c := range cases {
		dst := make([]byte, 3, 100)
		copy(dst, "abc")
		got, err := AppendEvent(dst, c.ev)
		if !errors.Is(err, c.want) {
			t.Errorf("%+q: got %v, want %v", c.ev, err, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%+q: error %q does not contain %q", c.ev, err, c.msg)
		}
		if string(got) != "abc" || string(dst[:4]) != "abc\x00" {
			t.Errorf("%+q: dst changed to %q", c.ev, got)
		}
	}
	// The checks tell the fields apart.
	if _, err := AppendEvent(nil, Event{ID: "\n", Type: "\n"}); errors.Is(err, ErrInvalidType) {
		t.Error("ID error reported as type error")
	}
}

func TestValidate(t *testing.T) {
	for _, s := range []string{"", "1", "a b", "\u2026", "\t", strings.Repeat("x", 1000)} {
		if err := ValidateID(s); err != nil {
			t.Errorf("ValidateID(%q) = %v", s, err)
		}
		if err := ValidateType(s); err != nil {
			t.Errorf("ValidateType(%q) = %v", s, err)
		}
	}
	if err := ValidateType("\x00"); err != nil {
		t.Errorf("ValidateType(NUL) = %v", err)
	}
	for _, s := range []string{"0", "3000", "03000", "9007199254740991", strings.Repeat("9", 100)} {
		if err := ValidateRetry(s); err != nil {
			t.Errorf("ValidateRetry(%q) = %v", s, err)
		}
	}
	if err := ValidateRetry(""); !errors.Is(err, ErrInvalidRetry) || err.Error() != "sse: invalid retry value: empty" {
		t.Errorf("ValidateRetry(\"\") = %v", err)
	}
}

func TestAppendComment(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", ":\n"},
		{"hi", ": hi\n"},
		{" hi", ":  hi\n"},
		{"a\nb", ": a\n: b\n"},
		{"a\r\nb\rc", ": a\n: b\n: c\n"},
		{"a\n\nb\n", ": a\n:\n: b\n:\n"},
		{"\n", ":\n:\n"},
		{"data: x\n\ndata: y", ": data: x\n:\n: data: y\n"},
	}
	for _, c := range cases {
		got := AppendComment([]byte("x"), c.in)
		if string(got) != "x"+c.want {
			t.Errorf("AppendComment(%q) = %q, want %q", c.in, got[1:], c.want)
		}
		// Comments never dispatch or change state, wherever they go.
		stream := append(AppendComment(nil, c.in), "id:1\ndata:a\n\n"...)
		stream = AppendComment(stream, c.in)
		stream = append(stream, "data:b\n"...)
		stream = AppendComment(stream, c.in)
		stream = append(stream, '\n')
		r := refParse(stream, "")
		if len(r.Events) != 2 || r.Events[1].Data != "b" || r.LastID != "1" {
			t.Errorf("AppendComment(%q) changed the stream: %+v", c.in, r)
		}
	}
}

func normalizeNewlines(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}

func TestAppendAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	ev := mercureEvent(7)
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() {
		buf, _ = AppendEvent(buf[:0], ev)
		buf, _ = AppendEvent(buf, Event{Data: "a\r\nb\rc"})
		buf = AppendComment(buf, "")
		buf = AppendComment(buf, "x\ny")
	}); n != 0 {
		t.Fatalf("%v allocations per run", n)
	}
}
