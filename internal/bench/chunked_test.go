package bench

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http/httputil"
	"strings"
	"testing"
)

// chunkOutcome is how a chunked stream ended.
type chunkOutcome string

const (
	chunkEOF        chunkOutcome = "eof"        // the last chunk was read
	chunkIncomplete chunkOutcome = "incomplete" // the input ended first
	chunkError      chunkOutcome = "error"      // malformed
)

// decodeSplit runs the decoder over in, cut at the given offsets.
func decodeSplit(in []byte, cuts []int) ([]byte, chunkOutcome, error) {
	var d chunkDecoder
	var out []byte
	prev := 0
	for _, c := range append(cuts, len(in)) {
		piece := append([]byte(nil), in[prev:c]...) // decoded in place
		prev = c
		data, err := d.decode(piece)
		out = append(out, data...)
		switch {
		case err == io.EOF:
			return out, chunkEOF, nil
		case err != nil:
			return out, chunkError, err
		}
	}
	return out, chunkIncomplete, nil
}

// decodeNetHTTP runs net/http's chunked reader over in.
func decodeNetHTTP(in []byte) ([]byte, chunkOutcome, error) {
	r := httputil.NewChunkedReader(bytes.NewReader(in))
	var out []byte
	buf := make([]byte, 37)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		switch {
		case err == nil:
		case err == io.EOF:
			return out, chunkEOF, nil
		case errors.Is(err, io.ErrUnexpectedEOF):
			return out, chunkIncomplete, nil
		default:
			return out, chunkError, err
		}
	}
}

func randomCuts(r *rand.Rand, n int) []int {
	var cuts []int
	for at := 0; ; {
		at += 1 + r.IntN(1+r.IntN(64))
		if at >= n {
			return cuts
		}
		cuts = append(cuts, at)
	}
}

// randomChunked writes a chunked stream with varied but valid framing.
func randomChunked(r *rand.Rand) []byte {
	var b bytes.Buffer
	for k := r.IntN(8); k > 0; k-- {
		n := 1 + r.IntN(200)
		if r.IntN(20) == 0 {
			n = 3000 + r.IntN(3000)
		}
		size := fmt.Sprintf("%x", n)
		if r.IntN(3) == 0 {
			size = strings.ToUpper(size)
		}
		if r.IntN(5) == 0 {
			size = "00" + size
		}
		b.WriteString(size)
		if r.IntN(5) == 0 {
			b.WriteString(" \t")
		}
		if r.IntN(5) == 0 {
			b.WriteString(`;ext="v"`)
		}
		b.WriteString("\r\n")
		for i := 0; i < n; i++ {
			b.WriteByte("data: x\r\n:"[r.IntN(10)])
		}
		b.WriteString("\r\n")
	}
	if r.IntN(4) > 0 {
		b.WriteString("0\r\n\r\n")
	}
	return b.Bytes()
}

// mutate damages a few bytes of b with bytes that matter to the framing.
func mutate(r *rand.Rand, b []byte) []byte {
	const special = "\r\n; \t0fFgx\x00"
	for k := r.IntN(4); k > 0 && len(b) > 0; k-- {
		i := r.IntN(len(b))
		c := special[r.IntN(len(special))]
		switch r.IntN(3) {
		case 0:
			b[i] = c
		case 1:
			b = append(b[:i], append([]byte{c}, b[i:]...)...)
		default:
			b = append(b[:i], b[i+1:]...)
		}
	}
	return b
}

// TestChunkDecoderMatchesNetHTTP holds the push decoder to net/http's
// chunked reader on valid and damaged streams split anywhere: the same
// data, and the same ending (last chunk, input exhausted, or malformed).
func TestChunkDecoderMatchesNetHTTP(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	fixed := []string{
		"",
		"0\r\n\r\n",
		"5\r\nhello\r\n0\r\n",
		"5\nhello\r\n0\r\n",               // bare LF
		"5\r\r\nhello\r\n0\r\n",           // stray CR
		"5\r\nhelloXY0\r\n",               // no CRLF after the data
		"g\r\nhello\r\n",                  // not hex
		"\r\nhello\r\n",                   // empty size
		"10000000000000000\r\n",           // 17 digits
		"ffffffffffffffff\r\nab",          // huge, incomplete
		"5;a=b;c\r\nhello\r\n0;x\r\n\r\n", // extensions
		"5  \r\nhello\r\n0\r\n",           // trailing whitespace
		strings.Repeat("0", 4094) + "5\r\nhello\r\n",
		strings.Repeat("0", 4095) + "5\r\nhello\r\n",
		strings.Repeat("0", 5000),
		strings.Repeat("1;"+strings.Repeat("e", 100)+"\r\nx\r\n", 300), // too much overhead
	}
	check := func(name string, in []byte, cuts []int) {
		t.Helper()
		want, wantEnd, werr := decodeNetHTTP(in)
		got, gotEnd, gerr := decodeSplit(in, cuts)
		if !bytes.Equal(got, want) || gotEnd != wantEnd {
			if len(in) > 200 {
				t.Fatalf("%s: %d bytes cut at %d places: got %d bytes, %s (%v); want %d bytes, %s (%v); input ends %q",
					name, len(in), len(cuts), len(got), gotEnd, gerr, len(want), wantEnd, werr, in[len(in)-60:])
			}
			t.Fatalf("%s: %q cut at %v:\n got %q, %s (%v)\nwant %q, %s (%v)", name, in, cuts, got, gotEnd, gerr, want, wantEnd, werr)
		}
	}
	for i, s := range fixed {
		in := []byte(s)
		check(fmt.Sprintf("fixed %d whole", i), in, nil)
		for k := 0; k < 20; k++ {
			check(fmt.Sprintf("fixed %d", i), in, randomCuts(r, len(in)))
		}
		for c := 1; c < len(in) && c < 64; c++ {
			check(fmt.Sprintf("fixed %d at %d", i, c), in, []int{c})
		}
	}
	for round := 0; round < 3000; round++ {
		in := randomChunked(r)
		if round%2 == 1 {
			in = mutate(r, in)
		}
		check(fmt.Sprintf("round %d", round), in, randomCuts(r, len(in)))
	}
}

// TestChunkDecoderSticky: after the last chunk or an error, the decoder
// reports the same ending and reads nothing more.
func TestChunkDecoderSticky(t *testing.T) {
	var d chunkDecoder
	data, err := d.decode([]byte("3\r\nabc\r\n0\r\n\r\n3\r\nxyz\r\n"))
	if string(data) != "abc" || err != io.EOF {
		t.Fatalf("got %q, %v", data, err)
	}
	if data, err := d.decode([]byte("3\r\nxyz\r\n")); len(data) != 0 || err != io.EOF {
		t.Fatalf("after the end: %q, %v", data, err)
	}
}
