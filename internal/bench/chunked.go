package bench

import (
	"bytes"
	"errors"
	"io"
)

// chunkDecoder decodes the HTTP/1.1 chunked transfer coding pushed to it
// in pieces split anywhere, for the epoll engine, which has no goroutine
// to block in net/http's pull-style chunked reader. It follows the rules
// of net/http's reader (net/http/internal/chunked.go): chunk-size lines
// end in CRLF with no other CR, fit in maxChunkLine bytes, may carry
// trailing whitespace and extensions after ';', hold at most 16 hex
// digits; every chunk's data ends in CRLF; the overhead of a stream is
// bounded relative to its data; the zero-size chunk ends the stream
// (trailers are not read: the connection is closed after it).
// TestChunkDecoderMatchesNetHTTP holds it to that reader.
//
// The zero value is ready to decode a new stream.
type chunkDecoder struct {
	n      uint64 // data bytes left in the current chunk
	crlf   int    // bytes of the CRLF after a chunk's data still to read: 2, 1 or 0
	cr     byte   // the first of them, when crlf is 1
	line   []byte // a chunk-size line that the end of a piece cut off
	excess int64  // overhead beyond what the data justifies, as net/http counts it
	err    error  // sticky: io.EOF at the last chunk, or what was malformed
}

// maxChunkLine bounds a chunk-size line with its CRLF: net/http reads it
// whole into its 4 KiB buffer.
const maxChunkLine = 4096

// maxChunkExcess is net/http's bound on a stream's overhead (chunk lines
// beyond 16 bytes per chunk plus twice its data).
const maxChunkExcess = 16 * 1024

var (
	errChunkMalformed = errors.New("malformed chunked encoding")
	errChunkLineLong  = errors.New("chunked encoding: chunk-size line too long")
)

// decode decodes b, the next bytes of the stream, in place: it returns the
// data bytes it found, which occupy the start of b's memory. The error is
// io.EOF once the last chunk has been read, or says what is malformed;
// the data before either is valid. A decoder that has returned an error
// returns it again without reading b.
func (d *chunkDecoder) decode(b []byte) ([]byte, error) {
	if d.err != nil {
		return b[:0], d.err
	}
	out := b[:0] // data written so far: never past i, so in place is safe
	i := 0
	for i < len(b) {
		switch {
		case d.crlf == 2:
			// Checked with the next byte, as net/http reads both at once.
			d.cr = b[i]
			i++
			d.crlf = 1
		case d.crlf == 1:
			if d.cr != '\r' || b[i] != '\n' {
				d.err = errChunkMalformed
				return out, d.err
			}
			i++
			d.crlf = 0
		case d.n > 0:
			k := len(b) - i
			if uint64(k) > d.n {
				k = int(d.n)
			}
			out = append(out, b[i:i+k]...) // memmove: overlap is fine
			i += k
			if d.n -= uint64(k); d.n == 0 {
				d.crlf = 2
			}
		default:
			j := bytes.IndexByte(b[i:], '\n')
			if j < 0 {
				// The line goes on in the next piece: with its LF it
				// will be longer than this.
				if len(d.line)+len(b)-i >= maxChunkLine {
					d.err = errChunkLineLong
					return out, d.err
				}
				d.line = append(d.line, b[i:]...)
				return out, nil
			}
			line := b[i : i+j+1]
			if len(d.line)+len(line) > maxChunkLine {
				d.err = errChunkLineLong
				return out, d.err
			}
			if len(d.line) > 0 {
				d.line = append(d.line, line...)
				line = d.line
			}
			i += j + 1
			err := d.chunkLine(line)
			d.line = d.line[:0]
			if err != nil {
				d.err = err
				return out, err
			}
		}
	}
	return out, nil
}

// chunkLine handles a chunk-size line, LF included.
func (d *chunkDecoder) chunkLine(p []byte) error {
	if k := bytes.IndexByte(p, '\r'); k < 0 {
		return errors.New("chunked line ends with bare LF")
	} else if k != len(p)-2 {
		return errors.New("invalid CR in chunked line")
	}
	p = p[:len(p)-2]
	d.excess += int64(len(p)) + 2
	for len(p) > 0 && (p[len(p)-1] == ' ' || p[len(p)-1] == '\t') {
		p = p[:len(p)-1]
	}
	p, _, _ = bytes.Cut(p, []byte(";"))
	n, err := parseChunkSize(p)
	if err != nil {
		return err
	}
	d.excess = max(d.excess-16-2*int64(n), 0)
	if d.excess > maxChunkExcess {
		return errors.New("chunked encoding contains too much non-data")
	}
	if n == 0 {
		return io.EOF
	}
	d.n = n
	return nil
}

// parseChunkSize parses a chunk size: 1 to 16 hex digits.
func parseChunkSize(v []byte) (uint64, error) {
	if len(v) == 0 {
		return 0, errors.New("empty hex number for chunk length")
	}
	if len(v) > 16 {
		return 0, errors.New("http chunk length too large")
	}
	var n uint64
	for _, c := range v {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, errors.New("invalid byte in chunk length")
		}
		n = n<<4 | uint64(c)
	}
	return n, nil
}
