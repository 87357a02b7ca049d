package sse

import (
	"errors"
	"fmt"
	"io"
)

// readSize is how many bytes a Decoder asks its reader for at a time.
const readSize = 32 << 10

// maxEmptyReads is how many reads in a row may return nothing before a
// Decoder gives up with io.ErrNoProgress, as bufio does.
const maxEmptyReads = 100

// Decoder reads events from an [io.Reader], one per call to Next. It is a
// [Parser] with a read buffer, and gives exactly the same events; see
// Parser for the rules and limits.
//
// A Decoder must not be used by several goroutines at once.
type Decoder struct {
	r     io.Reader
	p     Parser
	buf   []byte
	queue []queued // events parsed but not yet returned
	head  int      // the next event of queue to return
	err   error    // sticky: returned once queue is empty
	push  func(Event) error
}

// queued is an event that the parser has read ahead, with the state of
// the source when it was dispatched.
type queued struct {
	ev       Event
	retry    uint64
	hasRetry bool
}

// NewDecoder returns a Decoder that reads the stream from r.
func NewDecoder(r io.Reader, opts ...Option) *Decoder {
	d := &Decoder{r: r}
	d.p.init(opts)
	d.push = d.enqueue
	return d
}

func (d *Decoder) enqueue(ev Event) error {
	d.queue = append(d.queue, queued{ev, d.p.retry, d.p.hasRetry})
	return nil
}

// Next returns the next event of the stream.
//
// At the end of the stream Next returns io.EOF; an event that was not
// completed by its blank line is then discarded, as the standard
// requires, so io.EOF does not tell a clean end from a cut-off one (a
// client reconnects after either). Other errors from the reader are
// returned wrapped (test for them with errors.Is), and an event larger
// than the limit gives an error wrapping [ErrEventTooLarge]. The events
// before the point of failure are returned first. Once Next has returned
// an error it returns the same error until [Decoder.Reset].
func (d *Decoder) Next() (Event, error) {
	for empty := 0; ; {
		if d.head < len(d.queue) {
			ev := d.queue[d.head].ev
			// Let the data go; keep the ID for LastEventID.
			d.queue[d.head].ev.Data = ""
			d.head++
			return ev, nil
		}
		d.queue, d.head = d.queue[:0], 0
		if d.err != nil {
			return Event{}, d.err
		}
		if d.buf == nil {
			d.buf = make([]byte, readSize)
		}
		n, err := d.r.Read(d.buf)
		if n > 0 {
			empty = 0
			if perr := d.p.Feed(d.buf[:n], d.push); perr != nil {
				d.err = perr
				continue
			}
		}
		switch {
		case errors.Is(err, io.EOF):
			d.p.End()
			d.err = io.EOF
		case err != nil:
			d.err = fmt.Errorf("sse: reading event stream: %w", err)
		case n == 0:
			if empty++; empty >= maxEmptyReads {
				d.err = fmt.Errorf("sse: reading event stream: %w", io.ErrNoProgress)
			}
		}
	}
}

// LastEventID returns the last event ID string of the stream read so far;
// see [Parser.LastEventID]. The decoder reads ahead, but LastEventID
// reflects the stream only up to the last event Next returned, and
// perhaps a little beyond it, never as far as the next event. So after
// Next returns an event, LastEventID is that event's ID, or the ID a
// later blank line committed before the next event.
func (d *Decoder) LastEventID() string {
	if d.head < len(d.queue) {
		return d.queue[d.head-1].ev.ID
	}
	return d.p.LastEventID()
}

// Retry returns the reconnection time in milliseconds set by the last
// accepted "retry" field, and whether there was one; see [Parser.Retry].
// Like LastEventID, it reflects the stream up to the last event Next
// returned, and perhaps a little beyond it.
func (d *Decoder) Retry() (ms uint64, ok bool) {
	if d.head < len(d.queue) {
		q := &d.queue[d.head-1]
		return q.retry, q.hasRetry
	}
	return d.p.Retry()
}

// Reset makes d read a new stream from r, such as the response to a
// reconnection. Events not yet returned and an incomplete event are
// discarded, and so is any error, but the last event ID and reconnection
// time are kept, as an EventSource keeps them across connections (see
// [Parser.End]). They are those that LastEventID and Retry report.
func (d *Decoder) Reset(r io.Reader) {
	if d.head < len(d.queue) {
		q := &d.queue[d.head-1]
		d.p.lastID, d.p.retry, d.p.hasRetry = q.ev.ID, q.retry, q.hasRetry
	}
	clear(d.queue)
	d.queue, d.head = d.queue[:0], 0
	d.p.End()
	d.err = nil
	d.r = r
}
