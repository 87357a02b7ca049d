package sse

import (
	"bytes"
	"errors"
	"fmt"
	"math"
)

// DefaultMaxEventSize is the limit on the size of one event that a
// [Parser] or [Decoder] applies unless [WithMaxEventSize] says otherwise.
const DefaultMaxEventSize = 1 << 20

// ErrEventTooLarge is wrapped by the error a [Parser] or [Decoder] returns
// when one event is larger than its limit (see [WithMaxEventSize]). The
// error message gives the limit.
var ErrEventTooLarge = errors.New("sse: event too large")

// An Option configures a [Parser] or [Decoder].
type Option func(*config)

type config struct {
	maxEventSize int // 0: DefaultMaxEventSize; < 0: no limit
	lastEventID  string
}

// WithMaxEventSize sets the largest event the parser accepts, in bytes.
// What counts is the length of the event's field lines as they arrive on
// the wire: every line of the event's block except comment lines (which
// are skipped without being buffered), not counting line endings. That
// bounds the memory held for one event to a small multiple of n (the
// lines, and the data decoded from them, in which an invalid byte can grow
// into a 3-byte U+FFFD). The check does not depend on how the input is
// split into chunks.
//
// A larger event stops the parser with an error wrapping
// [ErrEventTooLarge]. n <= 0 removes the limit, which is safe only for
// trusted streams. The default is [DefaultMaxEventSize].
func WithMaxEventSize(n int) Option {
	return func(c *config) {
		if n <= 0 {
			n = -1
		}
		c.maxEventSize = n
	}
}

// WithLastEventID sets the last event ID string the parser starts with,
// for a client that resumes a stream it read earlier (and sends the same
// value in the Last-Event-ID request header). Events before the first
// "id" field then carry id, as they would in a browser after a
// reconnection.
func WithLastEventID(id string) Option {
	return func(c *config) { c.lastEventID = id }
}

// bom is the UTF-8 encoding of U+FEFF.
const bom = "\xEF\xBB\xBF"

// Parser is a push parser for the event stream: it is fed the bytes of a
// stream in chunks of any size, split anywhere, and reports each event
// through a callback, with the same result for every way of splitting the
// input. See the package documentation for the rules it follows.
//
// The zero value is a parser with default options, ready to use.
// A Parser must not be used by several goroutines at once.
//
// A Parser keeps its buffers between events, so after warm-up it
// allocates only the strings of the events it reports: Data for every
// event, ID when the last event ID changes and Type when it differs from
// the previous event's. Its buffers grow to the largest event seen.
type Parser struct {
	cfg config

	// State of the event source, kept across streams.
	lastID   string // the last event ID string
	retry    uint64 // the reconnection time, when hasRetry
	hasRetry bool

	// State of the current stream.
	bomDone bool   // the start of the stream has been checked for a BOM
	bomN    int    // leading bytes of a BOM seen so far
	skipLF  bool   // a line ended at CR at the end of the last chunk
	comment bool   // skipping the rest of a comment line
	line    []byte // the start of a line that the last chunk cut off
	block   int    // bytes of field lines in the current event
	data    []byte // the data buffer, each line followed by LF
	typ     []byte // the event type buffer
	id      []byte // the last event ID buffer
	err     error  // sticky: the parser has stopped

	rest    []byte // input left over when emit returned an error
	typName string // the last Type reported, reused while it repeats
}

// NewParser returns a Parser with the given options.
func NewParser(opts ...Option) *Parser {
	p := new(Parser)
	p.init(opts)
	return p
}

func (p *Parser) init(opts []Option) {
	for _, o := range opts {
		o(&p.cfg)
	}
	p.lastID = p.cfg.lastEventID
	p.id = append(p.id[:0], p.lastID...)
}

// LastEventID returns the last event ID string: the value of the ID
// buffer when the last blank line was read (even if it dispatched no
// event). A client sends it as Last-Event-ID when it reconnects, unless it
// is empty.
func (p *Parser) LastEventID() string { return p.lastID }

// Retry returns the reconnection time in milliseconds set by the last
// accepted "retry" field, and whether there was one. A retry field takes
// effect as soon as its line is read, even if its event is never
// dispatched. Values up to math.MaxUint64 (far beyond the 2^53-1 that
// JavaScript can hold) are reported exactly; longer digit strings saturate
// at math.MaxUint64. Bounding the delay to something sensible is the
// reconnecting client's job, not the parser's.
func (p *Parser) Retry() (ms uint64, ok bool) { return p.retry, p.hasRetry }

// Feed parses chunk, the next bytes of the stream, and calls emit for each
// event it completes, in order. Bytes after the last complete line are
// copied and kept for the next call; Feed does not retain chunk. emit may call LastEventID and Retry, which then
// reflect the stream up to the event; it must not call Feed or End. The
// event's strings are emit's to keep. A nil emit discards the events but
// still tracks the last event ID and reconnection time.
//
// If emit returns an error, Feed returns that error unchanged at once.
// The event counts as dispatched, and the bytes of chunk after it are kept
// and parsed at the start of the next call to Feed (which may pass a nil
// chunk), so an error from emit can pause parsing as well as abort it.
//
// If an event is larger than the limit (see [WithMaxEventSize]), Feed
// returns an error wrapping [ErrEventTooLarge] after emitting the events
// before it. The parser has then stopped: LastEventID and Retry stay valid
// (they reflect every line before the one that broke the limit), later
// calls to Feed return the same error, and End returns it and readies the
// parser for a new stream. Parsing cannot resume in the middle of the
// oversized event.
func (p *Parser) Feed(chunk []byte, emit func(Event) error) error {
	if p.err != nil {
		return p.err
	}
	b := chunk
	if len(p.rest) > 0 {
		p.rest = append(p.rest, chunk...)
		b = p.rest
	}
	n, err := p.run(b, emit)
	if err != nil && p.err == nil {
		// emit failed: keep what follows its event (b may be p.rest
		// itself; append copies with memmove, which allows overlap).
		p.rest = append(p.rest[:0], b[n:]...)
		return err
	}
	p.rest = p.rest[:0]
	return err
}

// End tells the parser that the stream has ended. As the standard says,
// an event that its blank line had not yet completed is discarded, and
// so is the "id" field of its block (the retry field of such a block has
// already taken effect). Bytes kept after an error from emit are
// discarded too; call Feed(nil, emit) first to parse them.
//
// End returns the error that stopped the parser, if any. Afterwards the
// parser is ready to read a new stream from the same source, such as the
// response to a reconnection: it expects a byte order mark again, and
// keeps the last event ID and reconnection time, as an EventSource does
// across connections. (Like Chromium, it starts the new stream's ID buffer
// at the last event ID, so a blank line before any "id" field keeps it.)
func (p *Parser) End() error {
	err := p.err
	p.err = nil
	p.bomDone, p.bomN = false, 0
	p.skipLF, p.comment = false, false
	p.line = p.line[:0]
	p.block = 0
	p.data = p.data[:0]
	p.typ = p.typ[:0]
	p.id = append(p.id[:0], p.lastID...)
	p.rest = p.rest[:0]
	return err
}

// run parses b. It returns how many bytes of b it consumed, which is
// len(b) unless emit returned an error, and the error.
func (p *Parser) run(b []byte, emit func(Event) error) (int, error) {
	i := 0
	if !p.bomDone {
		for i < len(b) {
			if b[i] != bom[p.bomN] {
				// Not a BOM: the bytes held back start the first line.
				p.bomDone = true
				p.line = append(p.line[:0], bom[:p.bomN]...)
				break
			}
			i++
			if p.bomN++; p.bomN == len(bom) {
				p.bomDone = true
				break
			}
		}
		if !p.bomDone {
			return len(b), nil
		}
	}
	if p.skipLF && i < len(b) {
		p.skipLF = false
		if b[i] == '\n' {
			i++
		}
	}

	lf := -1 // index of the next LF at or after i, or len(b) if none
	if p.comment || len(p.line) > 0 {
		// Finish the line that the previous chunk cut off.
		end, next := p.lineEnd(b, i, &lf)
		if end < 0 {
			if !p.comment {
				if err := p.checkSize(len(p.line) + len(b) - i); err != nil {
					return len(b), err
				}
				p.line = append(p.line, b[i:]...)
			}
			return len(b), nil
		}
		if p.comment {
			p.comment = false
		} else {
			if err := p.checkSize(len(p.line) + end - i); err != nil {
				return len(b), err
			}
			p.line = append(p.line, b[i:end]...)
			p.block += len(p.line)
			p.field(p.line)
			p.line = p.line[:0]
		}
		i = next
	}

	for i < len(b) {
		end, next := p.lineEnd(b, i, &lf)
		if end < 0 {
			// A line that the next chunk must finish.
			if b[i] == ':' {
				p.comment = true
				return len(b), nil
			}
			if err := p.checkSize(len(b) - i); err != nil {
				return len(b), err
			}
			p.line = append(p.line[:0], b[i:]...)
			return len(b), nil
		}
		line := b[i:end]
		i = next
		if len(line) == 0 {
			ev, ok := p.dispatch(emit != nil)
			if ok {
				if err := emit(ev); err != nil {
					return i, err
				}
			}
			continue
		}
		if line[0] == ':' {
			continue
		}
		if err := p.checkSize(len(line)); err != nil {
			return len(b), err
		}
		p.block += len(line)
		p.field(line)
	}
	return len(b), nil
}

// lineEnd finds the end of the line that starts at b[i]: it returns the
// index of its CR or LF and the index of the next line, or -1 if b holds
// no line ending. lf caches the index of the next LF (len(b) for none), so
// that a stream of lone CRs is not searched for LF once per line. A CR
// that ends b sets p.skipLF.
func (p *Parser) lineEnd(b []byte, i int, lf *int) (end, next int) {
	if *lf < i {
		if j := bytes.IndexByte(b[i:], '\n'); j >= 0 {
			*lf = i + j
		} else {
			*lf = len(b)
		}
	}
	if j := bytes.IndexByte(b[i:*lf], '\r'); j >= 0 {
		end = i + j
		if end+1 == len(b) {
			p.skipLF = true
			return end, end + 1
		}
		if b[end+1] == '\n' {
			return end, end + 2
		}
		return end, end + 1
	}
	if *lf < len(b) {
		return *lf, *lf + 1
	}
	return -1, len(b)
}

// checkSize stops the parser if a line of n bytes makes the current event
// too large. It is called before a line is buffered, so that a partial
// line never grows beyond the limit, however large the chunks.
func (p *Parser) checkSize(n int) error {
	limit := p.cfg.maxEventSize
	if limit == 0 {
		limit = DefaultMaxEventSize
	} else if limit < 0 {
		return nil
	}
	if p.block+n > limit {
		p.err = fmt.Errorf("%w: more than %d bytes of fields in one event", ErrEventTooLarge, limit)
		return p.err
	}
	return nil
}

// field processes one line that is neither blank nor a comment.
func (p *Parser) field(line []byte) {
	name, value := line, []byte(nil)
	if c := bytes.IndexByte(line, ':'); c >= 0 {
		name, value = line[:c], line[c+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	// Comparing the raw name is the same as comparing the decoded one:
	// invalid bytes would decode to U+FFFD, which no field name holds.
	switch string(name) {
	case "data":
		p.data = appendDecoded(p.data, value)
		p.data = append(p.data, '\n')
	case "event":
		p.typ = appendDecoded(p.typ[:0], value)
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			p.id = appendDecoded(p.id[:0], value)
		}
	case "retry":
		if ms, ok := parseRetry(value); ok {
			p.retry, p.hasRetry = ms, true
		}
	}
}

// dispatch handles a blank line. It returns the event to report, if any;
// it builds one only when build is set.
func (p *Parser) dispatch(build bool) (Event, bool) {
	p.block = 0
	if string(p.id) != p.lastID {
		p.lastID = string(p.id)
	}
	if len(p.data) == 0 {
		p.typ = p.typ[:0]
		return Event{}, false
	}
	var ev Event
	if build {
		ev = Event{ID: p.lastID, Type: p.eventType(), Data: string(p.data[:len(p.data)-1])}
	}
	p.data = p.data[:0]
	p.typ = p.typ[:0]
	return ev, build
}

func (p *Parser) eventType() string {
	if len(p.typ) == 0 {
		return "message"
	}
	if string(p.typ) != p.typName {
		p.typName = string(p.typ)
	}
	return p.typName
}

// parseRetry parses a retry value: one or more ASCII digits, base 10,
// saturating at math.MaxUint64.
func parseRetry(v []byte) (uint64, bool) {
	if len(v) == 0 {
		return 0, false
	}
	var n uint64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (math.MaxUint64-d)/10 {
			n = math.MaxUint64
		} else {
			n = n*10 + d
		}
	}
	return n, true
}
