package bench

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"time"
)

// Engine names the way a process's subscribers read their streams.
type Engine string

const (
	// EngineGoroutine reads each stream in its own goroutine through Go's
	// network poller. It is portable, but every read costs a goroutine
	// wake-up, a park and the poller's bookkeeping besides the system
	// call: some 10–15 µs of CPU per read on a small virtual machine,
	// which a load generator sharing the server's cores takes from the
	// server.
	EngineGoroutine Engine = "goroutine"
	// EngineEpoll (Linux) hands each stream, once its response head is
	// read, to one of a few reader threads, each with its own epoll
	// instance: a read is then one system call into a buffer the reader
	// shares among its streams, with no goroutine switch.
	EngineEpoll Engine = "epoll"
)

// Engines lists the engines this platform supports, the default first.
func Engines() []Engine {
	if epollSupported {
		return []Engine{EngineEpoll, EngineGoroutine}
	}
	return []Engine{EngineGoroutine}
}

// ParseEngine returns the engine named s, if this platform supports it.
func ParseEngine(s string) (Engine, error) {
	for _, e := range Engines() {
		if string(e) == s {
			return e, nil
		}
	}
	if Engine(s) == EngineEpoll {
		return "", fmt.Errorf("the epoll subscriber engine is supported on Linux only (use %s)", EngineGoroutine)
	}
	return "", fmt.Errorf("unknown subscriber engine %q (want epoll or goroutine)", s)
}

// maxReaders bounds the epoll engine's readers per process.
const maxReaders = 64

// defaultReaders is the epoll engine's default number of readers per
// process: one per core the process may use, at most two. More would only
// take cores from the server being measured.
func defaultReaders() int {
	return min(2, runtime.GOMAXPROCS(0))
}

// defaultReaderPause is the epoll readers' pause between wake-ups (see
// group.readerPause): short next to a stream's heartbeat or a hub's write
// timeout, long next to a system call.
const defaultReaderPause = time.Millisecond

// bodyFraming is how a response body is delimited.
type bodyFraming uint8

const (
	bodyUntilClose bodyFraming = iota // until the connection closes
	bodyChunked                       // chunked transfer coding
	bodyLength                        // Content-Length bytes
)

// pollConn is a stream that a reader of the epoll engine holds. Its fields
// belong to the subscriber's goroutine until it registers the stream, then
// to the reader until the stream ends.
type pollConn struct {
	s       *subscriber
	r       *reader
	fd      int
	framing bodyFraming
	chunks  chunkDecoder
	left    int64 // body bytes still to come, with bodyLength
	stamps  bool  // read with recvmsg for the kernel's receive time
	arrival int64 // the kernel's receive time of the newest bytes read, or 0

	// The reader's bookkeeping.
	hup    bool // epoll reported a hang-up or an error: read to the end
	queued bool // in the reader's list of streams to read on
	ended  bool // closed: the reader no longer reads it
}

// body decodes raw, the next bytes of the response body, and accounts for
// what it holds. It returns why the stream is over, if it is.
func (c *pollConn) body(raw []byte) error {
	data, end := raw, error(nil)
	switch c.framing {
	case bodyChunked:
		data, end = c.chunks.decode(raw)
	case bodyLength:
		if int64(len(raw)) >= c.left {
			data, end = raw[:c.left], io.EOF
		}
		c.left -= int64(len(data))
	}
	if len(data) > 0 {
		if err := c.s.account(data, c.arrival); err != nil {
			return err
		}
	}
	if end == io.EOF {
		// As in the goroutine engine: a stream is not meant to end.
		end = io.ErrUnexpectedEOF
	}
	return end
}

// errHandedOff is what subscriber.stream returns once a reader holds the
// stream: the reader tells how the stream ended on s.ended, at the latest
// when the run stops.
var errHandedOff = errors.New("stream handed to an epoll reader")

// handoff gives a stream whose response head has been read to one of the
// group's readers. It returns errHandedOff, or why it could not.
func (s *subscriber) handoff(conn net.Conn, br *bufio.Reader, resp *http.Response) error {
	c := &pollConn{s: s}
	switch {
	case len(resp.TransferEncoding) > 0 && resp.TransferEncoding[0] == "chunked":
		c.framing = bodyChunked
	case resp.ContentLength >= 0:
		c.framing, c.left = bodyLength, resp.ContentLength
	}
	if s.arrival != nil {
		c.stamps = true
		c.arrival = s.arrival.arrival()
	}
	s.lineHead = true
	// The head's buffer may already hold the first bytes of the body;
	// they are decoded in place and then dropped, so that closing
	// resp.Body finds nothing to drain.
	n := br.Buffered()
	raw, _ := br.Peek(n)
	err := c.body(raw)
	br.Discard(n)
	if err == nil {
		c.fd, err = detachFD(conn)
	}
	if err == nil {
		c.r = s.g.readers[s.index%len(s.g.readers)]
		if err = c.r.add(c); err != nil {
			closeFD(c.fd)
		}
	}
	if err != nil {
		s.parser.End()
		return err
	}
	return errHandedOff
}
