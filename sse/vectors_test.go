package sse

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/heraldpush/herald/internal/ssevectors"
)

// wantResult is what parsing v's input must give.
func wantResult(v ssevectors.Vector) result {
	r := result{LastID: v.LastEventID}
	if v.Retry != nil {
		r.Retry, r.HasRetry = *v.Retry, true
	}
	for _, e := range v.Events {
		r.Events = append(r.Events, Event{ID: e.ID, Type: e.Type, Data: e.Data})
	}
	return r
}

// feedAll runs chunks through a new Parser and signals EOF.
func feedAll(chunks [][]byte, opts ...Option) (result, error) {
	p := NewParser(opts...)
	var r result
	emit := func(ev Event) error {
		r.Events = append(r.Events, ev)
		return nil
	}
	var err error
	for _, c := range chunks {
		if err = p.Feed(c, emit); err != nil {
			break
		}
	}
	if endErr := p.End(); err == nil {
		err = endErr
	}
	r.LastID = p.LastEventID()
	r.Retry, r.HasRetry = p.Retry()
	return r, err
}

// chunkReader returns one chunk per Read (or as much of it as fits), and
// io.EOF with the last one.
type chunkReader struct{ chunks [][]byte }

func (c *chunkReader) Read(b []byte) (int, error) {
	for len(c.chunks) > 0 && len(c.chunks[0]) == 0 {
		c.chunks = c.chunks[1:]
		return 0, nil // an empty read, which Decoder must tolerate
	}
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(b, c.chunks[0])
	c.chunks[0] = c.chunks[0][n:]
	if len(c.chunks[0]) == 0 {
		c.chunks = c.chunks[1:]
	}
	if len(c.chunks) == 0 {
		return n, io.EOF
	}
	return n, nil
}

// decodeAll reads r to the end with a new Decoder.
func decodeAll(r io.Reader, opts ...Option) (result, error) {
	d := NewDecoder(r, opts...)
	var res result
	for {
		ev, err := d.Next()
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			res.LastID = d.LastEventID()
			res.Retry, res.HasRetry = d.Retry()
			return res, err
		}
		res.Events = append(res.Events, ev)
	}
}

func splitAt(in []byte, pos ...int) [][]byte {
	var cs [][]byte
	last := 0
	for _, p := range pos {
		cs = append(cs, in[last:p])
		last = p
	}
	return append(cs, in[last:])
}

func bytewise(in []byte) [][]byte {
	cs := make([][]byte, len(in))
	for i := range in {
		cs[i] = in[i : i+1]
	}
	return cs
}

// splitPositions gives the two-chunk split points to try: all of them, or
// for inputs over 8 KiB the sample the vectors README asks for.
func splitPositions(in []byte) []int {
	n := len(in)
	if n <= 8<<10 {
		pos := make([]int, n+1)
		for i := range pos {
			pos[i] = i
		}
		return pos
	}
	set := map[int]bool{}
	add := func(i int) {
		if i >= 0 && i <= n {
			set[i] = true
		}
	}
	for i := 0; i < 64; i++ {
		add(i)
		add(n - i)
	}
	for k := 0; k <= 128; k++ {
		add(n * k / 128)
	}
	for i, c := range in {
		if c == '\r' || c == '\n' {
			for d := -3; d <= 3; d++ {
				add(i + d)
			}
		}
	}
	pos := make([]int, 0, len(set))
	for i := range set {
		pos = append(pos, i)
	}
	sort.Ints(pos)
	return pos
}

func diff(got, want result) string {
	if reflect.DeepEqual(normal(got), normal(want)) {
		return ""
	}
	var b strings.Builder
	if len(got.Events) != len(want.Events) {
		fmt.Fprintf(&b, "%d events, want %d; ", len(got.Events), len(want.Events))
	}
	for i := 0; i < len(got.Events) && i < len(want.Events); i++ {
		if g, w := got.Events[i], want.Events[i]; g != w {
			fmt.Fprintf(&b, "event %d = %s, want %s; ", i, short(g), short(w))
			break
		}
	}
	if got.LastID != want.LastID {
		fmt.Fprintf(&b, "last event ID %q, want %q; ", got.LastID, want.LastID)
	}
	if got.Retry != want.Retry || got.HasRetry != want.HasRetry {
		fmt.Fprintf(&b, "retry %d,%v, want %d,%v; ", got.Retry, got.HasRetry, want.Retry, want.HasRetry)
	}
	return b.String()
}

func normal(r result) result {
	if len(r.Events) == 0 {
		r.Events = nil
	}
	return r
}

func short(ev Event) string {
	d := ev.Data
	if len(d) > 40 {
		d = fmt.Sprintf("%.40s...(%d bytes)", d, len(d))
	}
	return fmt.Sprintf("{Type:%q Data:%q ID:%q}", ev.Type, d, ev.ID)
}

// The vectors must say what the reference implementation says, or the
// reference (and the fuzz targets built on it) prove nothing.
func TestVectorsAgreeWithReference(t *testing.T) {
	for _, v := range ssevectors.Load(t) {
		if d := diff(refParse(v.Input, ""), wantResult(v)); d != "" {
			t.Errorf("%s: reference: %s", v.Name, d)
		}
	}
}

func TestVectors(t *testing.T) {
	for _, v := range ssevectors.Load(t) {
		t.Run(v.Name, func(t *testing.T) {
			in, want, own := v.Input, wantResult(v), v.Chunks
			if own != nil && !bytes.Equal(bytes.Join(own, nil), in) {
				t.Fatal("chunks do not join to the input")
			}
			check := func(how string, run func() (result, error)) {
				t.Helper()
				got, err := run()
				if err != nil {
					t.Fatalf("%s: %v", how, err)
				}
				if d := diff(got, want); d != "" {
					t.Fatalf("%s: %s", how, d)
				}
			}

			check("whole", func() (result, error) { return feedAll([][]byte{in}) })
			check("byte by byte", func() (result, error) { return feedAll(bytewise(in)) })
			for _, pos := range splitPositions(in) {
				check(fmt.Sprintf("split at %d", pos), func() (result, error) { return feedAll(splitAt(in, pos)) })
				check(fmt.Sprintf("decoder, split at %d", pos), func() (result, error) {
					return decodeAll(&chunkReader{chunks: splitAt(in, pos)})
				})
			}
			if own != nil {
				check("own chunks", func() (result, error) { return feedAll(own) })
				check("decoder, own chunks", func() (result, error) { return decodeAll(&chunkReader{chunks: own}) })
			}
			check("decoder, whole", func() (result, error) { return decodeAll(bytes.NewReader(in)) })
			check("decoder, one byte reads", func() (result, error) { return decodeAll(iotest.OneByteReader(bytes.NewReader(in))) })
			check("decoder, half reads", func() (result, error) { return decodeAll(iotest.HalfReader(bytes.NewReader(in))) })
			check("decoder, data with EOF", func() (result, error) { return decodeAll(iotest.DataErrReader(bytes.NewReader(in))) })
			check("decoder, byte chunks", func() (result, error) { return decodeAll(&chunkReader{chunks: bytewise(in)}) })
		})
	}
}
