package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"
)

// Cases beyond the public vectors, each checked against the expected
// result and run split every way, like the vectors.
var parserCases = []struct {
	name string
	in   string
	want result
}{
	{"bom-prefix-then-other", "\xEF\xBBdata:1\n\ndata:2\n\n",
		result{Events: []Event{{Type: "message", Data: "2"}}}},
	{"bom-prefix-then-line-end", "\xEF\n\ndata:2\n\n",
		result{Events: []Event{{Type: "message", Data: "2"}}}},
	{"bom-prefix-colon-not-comment", "\xEF\xBB:x\ndata:1\n\n",
		result{Events: []Event{{Type: "message", Data: "1"}}}},
	{"bom-prefix-only", "\xEF\xBB", result{}},
	{"bom-only", "\xEF\xBB\xBF", result{}},
	{"bom-then-comment", "\xEF\xBB\xBF:c\ndata:1\n\n",
		result{Events: []Event{{Type: "message", Data: "1"}}}},
	{"bom-then-blank", "\xEF\xBB\xBF\ndata:1\n\n",
		result{Events: []Event{{Type: "message", Data: "1"}}}},
	{"bom-in-value-kept", "data:\xEF\xBB\xBFx\n\n",
		result{Events: []Event{{Type: "message", Data: "\uFEFFx"}}}},
	{"empty", "", result{}},
	{"blank-lines-only", "\n\r\n\r\r\n", result{}},
	{"cr-lf-cr", "data:a\r\n\rdata:b\n\n",
		result{Events: []Event{{Type: "message", Data: "a"}, {Type: "message", Data: "b"}}}},
	{"lf-cr-is-two-line-ends", "data:a\n\rdata:b\n\n",
		result{Events: []Event{{Type: "message", Data: "a"}, {Type: "message", Data: "b"}}}},
	{"cr-in-name", "da\rta:x\n\n", result{}},
	{"utf8-overlong-and-surrogates",
		"data:\xC0\xAF|\xE0\x80\xAF|\xED\xA0\x80|\xF4\x90\x80\x80|\xF5|\xF0\x9F\x98x|\xF0\x9F\x98\n\n",
		result{Events: []Event{{Type: "message",
			Data: "\uFFFD\uFFFD|\uFFFD\uFFFD\uFFFD|\uFFFD\uFFFD\uFFFD|\uFFFD\uFFFD\uFFFD\uFFFD|\uFFFD|\uFFFDx|\uFFFD"}}}},
	{"utf8-truncated-before-colon", "data\xE2\x82:x\ndata:y\n\n",
		result{Events: []Event{{Type: "message", Data: "y"}}}},
	{"utf8-truncated-at-line-end", "data:a\xE2\x82\rdata:\xF0\n\n",
		result{Events: []Event{{Type: "message", Data: "a\uFFFD\n\uFFFD"}}}},
	{"utf8-invalid-type-and-id", "event:\xFFx\nid:\xC3\ndata:1\n\n",
		result{Events: []Event{{Type: "\uFFFDx", Data: "1", ID: "\uFFFD"}}, LastID: "\uFFFD"}},
	{"id-block-without-data-commits", "id:1\ndata:a\n\nid:2\n\nevent:x\n\ndata:b\n\n",
		result{Events: []Event{{Type: "message", Data: "a", ID: "1"}, {Type: "message", Data: "b", ID: "2"}}, LastID: "2"}},
	{"id-uncommitted-at-eof", "id:1\n\nid:2\ndata:x\n",
		result{LastID: "1"}},
	{"id-uncommitted-no-data-at-eof", "id:1\n\nid:2\n",
		result{LastID: "1"}},
	{"id-set-in-comment-block", "id:3\n:c\n\n", result{LastID: "3"}},
	{"type-cleared-at-blank", "event:a\n\ndata:x\n\nevent:b\ndata:y\n\n",
		result{Events: []Event{{Type: "message", Data: "x"}, {Type: "b", Data: "y"}}}},
	{"last-type-wins", "event:a\nevent:b\ndata:x\n\n",
		result{Events: []Event{{Type: "b", Data: "x"}}}},
	{"event-space-only", "event:  \ndata:x\n\n",
		result{Events: []Event{{Type: " ", Data: "x"}}}},
	{"retry-two-spaces-ignored", "retry:  5\ndata:x\n\n",
		result{Events: []Event{{Type: "message", Data: "x"}}}},
	{"retry-zero", "retry:0\n", result{Retry: 0, HasRetry: true}},
	{"retry-in-unterminated-block-applies", "data:x\n\nretry:7\ndata:y\n",
		result{Events: []Event{{Type: "message", Data: "x"}}, Retry: 7, HasRetry: true}},
	{"retry-max-uint64", "retry:18446744073709551615\n",
		result{Retry: math.MaxUint64, HasRetry: true}},
	{"retry-saturates", "retry:18446744073709551616\n",
		result{Retry: math.MaxUint64, HasRetry: true}},
	{"retry-very-long-saturates", "retry:" + strings.Repeat("9", 500) + "\n",
		result{Retry: math.MaxUint64, HasRetry: true}},
	{"retry-long-invalid-ignored", "retry:" + strings.Repeat("9", 500) + "x\n", result{}},
	{"retry-unicode-digits-ignored", "retry:\u0661\u0662\n", result{}},
	{"retry-2^53", "retry:9007199254740992\n", result{Retry: 1 << 53, HasRetry: true}},
	{"colon-only-value", "data::\n\n", result{Events: []Event{{Type: "message", Data: ":"}}}},
	{"space-colon", " :x\ndata:1\n\n", result{Events: []Event{{Type: "message", Data: "1"}}}},
	{"data-value-with-trailing-cr-lf", "data:a\r\r\ndata:b\n\n",
		result{Events: []Event{{Type: "message", Data: "a"}, {Type: "message", Data: "b"}}}},
	{"long-line-split", "data:" + strings.Repeat("ab\xE2\x80\xA6", 5000) + "\r\n\r\n",
		result{Events: []Event{{Type: "message", Data: strings.Repeat("ab\u2026", 5000)}}}},
	{"many-small-events-cr", strings.Repeat("data:x\r\r", 300),
		result{Events: repeatEvent(Event{Type: "message", Data: "x"}, 300)}},
}

func repeatEvent(ev Event, n int) []Event {
	evs := make([]Event, n)
	for i := range evs {
		evs[i] = ev
	}
	return evs
}

func TestParserCases(t *testing.T) {
	for _, c := range parserCases {
		t.Run(c.name, func(t *testing.T) {
			in := []byte(c.in)
			if d := diff(refParse(in, ""), c.want); d != "" {
				t.Fatalf("reference: %s", d)
			}
			runs := map[string][][]byte{
				"whole":        {in},
				"byte by byte": bytewise(in),
			}
			for _, pos := range splitPositions(in) {
				runs[fmt.Sprintf("split at %d", pos)] = splitAt(in, pos)
			}
			for how, chunks := range runs {
				got, err := feedAll(chunks)
				if err != nil {
					t.Fatalf("%s: %v", how, err)
				}
				if d := diff(got, c.want); d != "" {
					t.Fatalf("%s: %s", how, d)
				}
			}
			got, err := decodeAll(iotest.OneByteReader(bytes.NewReader(in)))
			if err != nil {
				t.Fatal(err)
			}
			if d := diff(got, c.want); d != "" {
				t.Fatalf("decoder: %s", d)
			}
		})
	}
}

// appendDecoded must match the standard's decoder on every sequence of up
// to three bytes and on every four-byte sequence that starts with a lead
// byte of a four-byte form.
func TestAppendDecodedExhaustive(t *testing.T) {
	var buf [4]byte
	check := func(b []byte) {
		got := appendDecoded(nil, b)
		if want := refDecode(b); string(got) != want {
			t.Fatalf("% x: got %+q, want %+q", b, got, want)
		}
	}
	for i := 0; i < 256; i++ {
		buf[0] = byte(i)
		check(buf[:1])
		for j := 0; j < 256; j++ {
			buf[1] = byte(j)
			check(buf[:2])
			for k := 0; k < 256; k++ {
				buf[2] = byte(k)
				check(buf[:3])
			}
		}
	}
	interesting := []byte{0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xE0, 0xF0, 0xF4, 0xFF}
	for lead := 0xF0; lead <= 0xF4; lead++ {
		for _, b := range interesting {
			for _, c := range interesting {
				for _, d := range interesting {
					check([]byte{byte(lead), b, c, d})
				}
			}
		}
	}
}

func TestAppendDecodedValid(t *testing.T) {
	s := "a\u00e9\u2026\U0001F600\x00"
	if got := appendDecoded([]byte("x"), []byte(s)); string(got) != "x"+s {
		t.Fatalf("got %q", got)
	}
	if got := appendDecoded(nil, []byte("a\xffb")); !utf8.Valid(got) || string(got) != "a\uFFFDb" {
		t.Fatalf("got %q", got)
	}
}

// The "utf8" package's own decoding differs from the WHATWG decoder, which
// is why the package has its own.
func TestWHATWGDiffersFromGo(t *testing.T) {
	in := []byte("\xE2\x82x")
	if got := string(appendDecoded(nil, in)); got != "\uFFFDx" {
		t.Fatalf("got %+q", got)
	}
	if got := strings.ToValidUTF8(string(in), "\uFFFD"); got != "\uFFFDx" {
		t.Logf("ToValidUTF8 gives %+q", got) // one per run: same here
	}
	if got := []rune(string(in)); len(got) != 3 {
		t.Fatalf("expected Go to give two U+FFFD, got %+q", got)
	}
}

func TestEmitNil(t *testing.T) {
	p := NewParser()
	if err := p.Feed([]byte("id:4\ndata:x\n\nretry:9\n"), nil); err != nil {
		t.Fatal(err)
	}
	if p.LastEventID() != "4" {
		t.Fatalf("last event ID %q", p.LastEventID())
	}
	if ms, ok := p.Retry(); ms != 9 || !ok {
		t.Fatalf("retry %d %v", ms, ok)
	}
}

func TestEmitSeesStateAtDispatch(t *testing.T) {
	p := NewParser()
	var ids []string
	var retries []uint64
	err := p.Feed([]byte("retry:1\nid:a\ndata:x\n\nretry:2\nid:b\ndata:y\n\n"), func(ev Event) error {
		ids = append(ids, p.LastEventID())
		ms, _ := p.Retry()
		retries = append(retries, ms)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ids, retries) != "[a b] [1 2]" {
		t.Fatalf("got %v %v", ids, retries)
	}
}

// An error from emit pauses parsing: the rest of the chunk is kept.
func TestEmitErrorPauses(t *testing.T) {
	in := []byte("data:1\n\ndata:2\r\rdata:3\r")
	stop := errors.New("stop")
	p := NewParser()
	var got []string
	emit := func(ev Event) error {
		got = append(got, ev.Data)
		return stop
	}
	if err := p.Feed(in, emit); err != stop {
		t.Fatalf("Feed = %v, want stop", err)
	}
	if err := p.Feed(nil, emit); err != stop {
		t.Fatalf("Feed = %v, want stop", err)
	}
	// The CR that ended the chunk; the LF of this chunk belongs to it.
	if err := p.Feed([]byte("\n\r\n"), emit); err != stop {
		t.Fatalf("Feed = %v, want stop", err)
	}
	if err := p.Feed([]byte("data:4\n\n"), emit); err != stop {
		t.Fatalf("Feed = %v, want stop", err)
	}
	if err := p.Feed(nil, emit); err != nil {
		t.Fatalf("Feed = %v, want nil", err)
	}
	if strings.Join(got, ",") != "1,2,3,4" {
		t.Fatalf("got %q", got)
	}
}

func TestEndDiscardsKeptInput(t *testing.T) {
	p := NewParser()
	stop := errors.New("stop")
	if err := p.Feed([]byte("data:1\n\ndata:2\n\n"), func(Event) error { return stop }); err != stop {
		t.Fatal(err)
	}
	if err := p.End(); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := p.Feed(nil, func(Event) error { n++; return nil }); err != nil || n != 0 {
		t.Fatalf("after End: %v, %d events", err, n)
	}
}

// After End the parser reads a new stream of the same source: a new BOM
// is stripped, and the last event ID and retry carry over.
func TestEndStartsNewStream(t *testing.T) {
	p := NewParser()
	var got []Event
	emit := func(ev Event) error { got = append(got, ev); return nil }
	feed := func(s string) {
		t.Helper()
		if err := p.Feed([]byte(s), emit); err != nil {
			t.Fatal(err)
		}
	}
	feed("\xEF\xBB\xBFretry:10\nid:1\ndata:a\n\nid:2\ndata:cut")
	if err := p.End(); err != nil {
		t.Fatal(err)
	}
	feed("\xEF\xBB")
	feed("\xBFdata:b\n\n\ndata:c\r")
	if err := p.End(); err != nil {
		t.Fatal(err)
	}
	feed("\ndata:d\n\n")
	want := []Event{
		{ID: "1", Type: "message", Data: "a"},
		{ID: "1", Type: "message", Data: "b"},
		{ID: "1", Type: "message", Data: "d"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if ms, ok := p.Retry(); ms != 10 || !ok {
		t.Fatalf("retry %d %v", ms, ok)
	}
}

func TestWithLastEventID(t *testing.T) {
	for _, how := range []string{"parser", "decoder"} {
		in := "data:a\n\nid\ndata:b\n\n"
		var got result
		if how == "parser" {
			got, _ = feedAll([][]byte{[]byte(in)}, WithLastEventID("41"))
		} else {
			got, _ = decodeAll(strings.NewReader(in), WithLastEventID("41"))
		}
		want := result{Events: []Event{{ID: "41", Type: "message", Data: "a"}, {Type: "message", Data: "b"}}}
		if d := diff(got, want); d != "" {
			t.Fatalf("%s: %s", how, d)
		}
		if d := diff(got, refParse([]byte(in), "41")); d != "" {
			t.Fatalf("%s: reference: %s", how, d)
		}
	}
}

func TestZeroParser(t *testing.T) {
	var p Parser
	n := 0
	if err := p.Feed([]byte("data:x\n\n"), func(Event) error { n++; return nil }); err != nil || n != 1 {
		t.Fatalf("%v, %d events", err, n)
	}
	big := append([]byte("data:"), bytes.Repeat([]byte("x"), DefaultMaxEventSize)...)
	if err := p.Feed(big, nil); !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("zero Parser has no default limit: %v", err)
	}
}

func TestMaxEventSize(t *testing.T) {
	const limit = 20
	opt := WithMaxEventSize(limit)
	cases := []struct {
		in      string
		events  int // dispatched before the error
		tooBig  bool
		lastID  string
		comment string
	}{
		{in: "data:" + strings.Repeat("x", limit-5) + "\n\n", events: 1},
		{in: "data:" + strings.Repeat("x", limit-4) + "\n\n", tooBig: true},
		// Fields add up; line endings do not count.
		{in: "id:1\r\nevent:a\r\ndata:1234\r\n\r\n", events: 1, lastID: "1"},
		{in: "id:12\r\nevent:a\r\ndata:1234\r\n\r\n", tooBig: true},
		// The count restarts at each blank line.
		{in: strings.Repeat("data:"+strings.Repeat("x", limit-5)+"\n\n", 5), events: 5},
		// Comments are skipped, not buffered, and do not count.
		{in: ":" + strings.Repeat("c", 1000) + "\ndata:x\n\n", events: 1},
		{in: "data:x\n:" + strings.Repeat("c", 1000) + "\n\n", events: 1},
		// Unknown fields count.
		{in: "foo:" + strings.Repeat("x", limit) + "\ndata:x\n\n", tooBig: true},
		// Events before the big one are dispatched, and the last
		// event ID reflects them.
		{in: "id:7\ndata:1\n\ndata:" + strings.Repeat("x", limit), events: 1, tooBig: true, lastID: "7"},
		// An unterminated line is checked too.
		{in: "data:" + strings.Repeat("x", 2*limit), tooBig: true},
	}
	for _, c := range cases {
		in := []byte(c.in)
		for _, chunks := range append([][][]byte{{in}, bytewise(in)}, splitsOf(in)...) {
			p := NewParser(opt)
			var n int
			var err error
			for _, ch := range chunks {
				if err = p.Feed(ch, func(Event) error { n++; return nil }); err != nil {
					break
				}
			}
			if c.tooBig != errors.Is(err, ErrEventTooLarge) || n != c.events || p.LastEventID() != c.lastID {
				t.Fatalf("%.30q in %d chunks: %d events, last ID %q, error %v", c.in, len(chunks), n, p.LastEventID(), err)
			}
			if err == nil {
				continue
			}
			if !strings.Contains(err.Error(), "20 bytes") {
				t.Errorf("error does not give the limit: %v", err)
			}
			// Sticky until End, which returns it and starts afresh.
			if err2 := p.Feed([]byte("data:ok\n\n"), nil); err2 != err {
				t.Fatalf("Feed after error = %v", err2)
			}
			if err2 := p.End(); err2 != err {
				t.Fatalf("End after error = %v", err2)
			}
			if err2 := p.Feed([]byte("data:ok\n\n"), func(Event) error { n++; return nil }); err2 != nil || n != c.events+1 {
				t.Fatalf("after End: %v", err2)
			}
		}
	}
}

func splitsOf(in []byte) [][][]byte {
	var out [][][]byte
	for _, pos := range splitPositions(in) {
		out = append(out, splitAt(in, pos))
	}
	return out
}

func TestNoLimit(t *testing.T) {
	big := "data:" + strings.Repeat("x", DefaultMaxEventSize+1) + "\n\n"
	got, err := feedAll([][]byte{[]byte(big[:100]), []byte(big[100:])}, WithMaxEventSize(0))
	if err != nil || len(got.Events) != 1 || len(got.Events[0].Data) != DefaultMaxEventSize+1 {
		t.Fatalf("%v, %d events", err, len(got.Events))
	}
	_, err = feedAll([][]byte{[]byte(big)})
	if !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("default limit: %v", err)
	}
	if !strings.Contains(err.Error(), fmt.Sprint(DefaultMaxEventSize)) {
		t.Fatalf("error does not give the limit: %v", err)
	}
}

func TestDecoderTooLarge(t *testing.T) {
	in := "data:1\n\ndata:" + strings.Repeat("x", 100) + "\n\n"
	d := NewDecoder(strings.NewReader(in), WithMaxEventSize(50))
	ev, err := d.Next()
	if err != nil || ev.Data != "1" {
		t.Fatalf("first event: %v %v", ev, err)
	}
	for range 2 {
		if _, err := d.Next(); !errors.Is(err, ErrEventTooLarge) {
			t.Fatalf("got %v, want ErrEventTooLarge", err)
		}
	}
}

func TestDecoderReadError(t *testing.T) {
	boom := errors.New("connection reset")
	r := io.MultiReader(strings.NewReader("data:1\n\ndata:2\n"), iotest.ErrReader(boom))
	d := NewDecoder(r)
	if ev, err := d.Next(); err != nil || ev.Data != "1" {
		t.Fatalf("first event: %v %v", ev, err)
	}
	_, err := d.Next()
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "sse:") {
		t.Fatalf("got %v, want wrapped read error", err)
	}
	if _, err2 := d.Next(); err2 != err {
		t.Fatalf("error not sticky: %v", err2)
	}
}

type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, nil }

func TestDecoderNoProgress(t *testing.T) {
	if _, err := NewDecoder(emptyReader{}).Next(); !errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("got %v", err)
	}
}

// The decoder reads ahead, but LastEventID and Retry follow the events
// it returns.
func TestDecoderStateFollowsEvents(t *testing.T) {
	in := "retry:1\nid:a\ndata:1\n\nid:b\n\nretry:2\nid:c\ndata:2\n\nid:d\ndata:3\n\nid:e\n\nretry:3\n"
	d := NewDecoder(strings.NewReader(in))
	var got []string
	for {
		ev, err := d.Next()
		ms, _ := d.Retry()
		got = append(got, fmt.Sprintf("%s/%s/%d", ev.Data, d.LastEventID(), ms))
		if err != nil {
			break
		}
	}
	if s := strings.Join(got, " "); s != "1/a/1 2/c/2 3/e/3 /e/3" {
		t.Fatalf("got %s", s)
	}
}

func TestDecoderReset(t *testing.T) {
	d := NewDecoder(strings.NewReader("retry:5\nid:1\ndata:a\n\nid:2\ndata:b\n\nid:3\ndata:cut"))
	if ev, err := d.Next(); err != nil || ev.ID != "1" {
		t.Fatalf("%v %v", ev, err)
	}
	// Event b has been read ahead but not returned: the client has not
	// seen it, so the reconnection must resume after 1.
	d.Reset(strings.NewReader("\xEF\xBB\xBFdata:c\n\n"))
	if d.LastEventID() != "1" {
		t.Fatalf("last event ID %q after Reset", d.LastEventID())
	}
	ev, err := d.Next()
	if err != nil || ev.ID != "1" || ev.Data != "c" {
		t.Fatalf("%v %v", ev, err)
	}
	if _, err := d.Next(); err != io.EOF {
		t.Fatalf("got %v, want io.EOF", err)
	}
	d.Reset(strings.NewReader("data:d\n\n"))
	if ev, err := d.Next(); err != nil || ev.Data != "d" {
		t.Fatalf("after Reset at EOF: %v %v", ev, err)
	}
	if ms, ok := d.Retry(); ms != 5 || !ok {
		t.Fatalf("retry %d %v", ms, ok)
	}
}
