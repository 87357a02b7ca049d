package sse

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/heraldpush/herald/internal/ssevectors"
)

// randomChunks splits in at random points chosen by seed: sometimes one
// byte per chunk, otherwise at up to 16 cuts, with empty chunks possible.
func randomChunks(in []byte, seed uint64) [][]byte {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	if seed%5 == 0 && len(in) <= 4096 {
		return bytewise(in)
	}
	cuts := make([]int, rng.IntN(17))
	for i := range cuts {
		cuts[i] = rng.IntN(len(in) + 1)
	}
	// splitAt wants them in order.
	for i := 1; i < len(cuts); i++ {
		for j := i; j > 0 && cuts[j] < cuts[j-1]; j-- {
			cuts[j], cuts[j-1] = cuts[j-1], cuts[j]
		}
	}
	return splitAt(in, cuts...)
}

func addVectorSeeds(f *testing.F) {
	for _, v := range ssevectors.Load(f) {
		in := v.Input
		if len(in) > 4096 {
			in = in[:4096]
		}
		f.Add(in, uint64(0))
		f.Add(in, uint64(len(in)))
	}
	for _, c := range parserCases {
		in := []byte(c.in)
		if len(in) > 4096 {
			in = in[:4096]
		}
		f.Add(in, uint64(1))
	}
}

// FuzzParseChunking checks that any input, split any way, parses as it
// does whole; that both match the reference implementation; that the
// Decoder agrees; and that a small size limit stops the parser at the same
// point however the input is split.
func FuzzParseChunking(f *testing.F) {
	addVectorSeeds(f)
	f.Fuzz(func(t *testing.T, in []byte, seed uint64) {
		want := refParse(in, "")
		whole, err := feedAll([][]byte{in})
		if err != nil {
			t.Fatalf("whole: %v", err)
		}
		if d := diff(whole, want); d != "" {
			t.Fatalf("whole vs reference: %s", d)
		}
		chunks := randomChunks(in, seed)
		got, err := feedAll(chunks)
		if err != nil {
			t.Fatalf("chunked: %v", err)
		}
		if d := diff(got, want); d != "" {
			t.Fatalf("%d chunks: %s", len(chunks), d)
		}
		got, err = decodeAll(&chunkReader{chunks: randomChunks(in, seed)})
		if err != nil {
			t.Fatalf("decoder: %v", err)
		}
		if d := diff(got, want); d != "" {
			t.Fatalf("decoder, %d chunks: %s", len(chunks), d)
		}

		limit := WithMaxEventSize(int(seed%64) + 1)
		wholeL, errW := feedAll([][]byte{in}, limit)
		gotL, errC := feedAll(chunks, limit)
		if errors.Is(errW, ErrEventTooLarge) != errors.Is(errC, ErrEventTooLarge) || (errW == nil) != (errC == nil) {
			t.Fatalf("limit %d: whole gives %v, %d chunks give %v", seed%64+1, errW, len(chunks), errC)
		}
		if d := diff(gotL, wholeL); d != "" {
			t.Fatalf("limit %d, %d chunks: %s", seed%64+1, len(chunks), d)
		}
		if errW == nil {
			if d := diff(wholeL, want); d != "" {
				t.Fatalf("limit %d not hit, yet: %s", seed%64+1, d)
			}
		}
	})
}

// FuzzRoundTrip checks that AppendEvent refuses exactly the invalid events
// and that every valid one parses back to the same event, wherever
// comments go and however the stream is split.
func FuzzRoundTrip(f *testing.F) {
	f.Add("1", "message", "hello", "", "")
	f.Add("", "", "", "", "")
	f.Add("urn:uuid:1", "update", "a\nb\r\nc\rd\n", "3000", "heartbeat")
	f.Add(" x", " y", " z\n  w", "0", "a\nb")
	f.Add("\u2026", "\xff", "\xE2\x82\n\xF0", "9007199254740991", "\r")
	f.Add("a\nb", "t", "d", "", "")
	f.Add("a\x00", "t", "d", "", "")
	f.Add("a", "t\r", "d", "", "")
	f.Add("a", "t", "d", "+1", "")
	f.Add("a", "t", "\x00", "99999999999999999999999", ": data: x\n\n")
	for _, v := range ssevectors.Load(f) {
		if len(v.Input) < 4096 {
			f.Add("id", "type", string(v.Input), "1", string(v.Input))
		}
	}
	f.Fuzz(func(t *testing.T, id, typ, data, retry, comment string) {
		ev := Event{ID: id, Type: typ, Data: data, Retry: retry}
		prefix := []byte("prefix")
		out, err := AppendEvent(prefix, ev)

		var wantErr error
		switch {
		case strings.ContainsAny(id, "\r\n\x00"):
			wantErr = ErrInvalidID
		case strings.ContainsAny(typ, "\r\n"):
			wantErr = ErrInvalidType
		case retry != "" && strings.Trim(retry, "0123456789") != "":
			wantErr = ErrInvalidRetry
		}
		if wantErr != nil || err != nil {
			if !errors.Is(err, wantErr) || wantErr == nil {
				t.Fatalf("AppendEvent(%+q) = %v, want %v", ev, err, wantErr)
			}
			if string(out) != "prefix" {
				t.Fatalf("AppendEvent changed dst on error: %q", out)
			}
			return
		}
		if !bytes.HasPrefix(out, prefix) {
			t.Fatalf("AppendEvent dropped dst: %q", out)
		}
		enc := out[len(prefix):]

		// comment, event, comment, event, comment
		var stream []byte
		stream = AppendComment(stream, comment)
		stream = append(stream, enc...)
		stream = AppendComment(stream, comment)
		stream = append(stream, enc...)
		stream = AppendComment(stream, comment)

		want := Event{ID: refDecode([]byte(id)), Type: refDecode([]byte(typ)),
			Data: normalizeNewlines(refDecode([]byte(data)))}
		if want.Type == "" {
			want.Type = "message"
		}
		wantRes := result{Events: []Event{want, want}, LastID: want.ID}
		if retry != "" {
			wantRes.Retry, wantRes.HasRetry = parseRetry([]byte(retry))
		}
		if d := diff(refParse(stream, ""), wantRes); d != "" {
			t.Fatalf("reference parse of %q: %s", stream, d)
		}
		for _, seed := range []uint64{0, 1, uint64(len(stream))} {
			got, err := feedAll(randomChunks(stream, seed))
			if err != nil {
				t.Fatal(err)
			}
			if d := diff(got, wantRes); d != "" {
				t.Fatalf("parse of %q: %s", stream, d)
			}
		}
	})
}

// FuzzAppendDecoded checks the UTF-8 decoder against the standard's
// algorithm written out step by step.
func FuzzAppendDecoded(f *testing.F) {
	f.Add([]byte("a\xE2\x82x\xF0\x9F\x98\x80\xED\xA0\x80\xC0\xAF\xFF"))
	f.Fuzz(func(t *testing.T, in []byte) {
		if got, want := appendDecoded(nil, in), refDecode(in); string(got) != want {
			t.Fatalf("% x: got %+q, want %+q", in, got, want)
		}
	})
}
