package herald

import (
	"errors"
	"net/http"
	"os"
	"sync"
	"time"
)

// streamSink is the sink of a stream that stays on net/http (HTTP/2, TLS,
// or a ResponseWriter that cannot be hijacked): the handler goroutine
// writes what the shard hands it.
type streamSink struct {
	maxCount, maxBytes int

	mu       sync.Mutex
	pending  [][]byte
	bytes    int
	ended    bool
	graceful bool
	notify   chan struct{}
}

func newStreamSink(h *Hub) *streamSink {
	return &streamSink{maxCount: h.cfg.queueSize, maxBytes: h.cfg.queueBytes, notify: make(chan struct{}, 1)}
}

func (s *streamSink) signal() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

func (s *streamSink) write(batch []*message) error {
	s.mu.Lock()
	if len(s.pending)+len(batch) > s.maxCount {
		s.mu.Unlock()
		return errSlow
	}
	for _, m := range batch {
		s.pending = append(s.pending, m.wire)
		s.bytes += len(m.wire)
	}
	over := s.bytes > s.maxBytes
	s.mu.Unlock()
	if over {
		return errSlow
	}
	s.signal()
	return nil
}

func (s *streamSink) heartbeat() error {
	s.mu.Lock()
	if len(s.pending) == 0 {
		s.pending = append(s.pending, heartbeatWire)
		s.bytes += len(heartbeatWire)
	}
	s.mu.Unlock()
	s.signal()
	return nil
}

func (s *streamSink) end(_ DisconnectReason, graceful bool) {
	s.mu.Lock()
	s.ended, s.graceful = true, graceful
	s.mu.Unlock()
	s.signal()
}

// take returns what is pending and whether the stream has ended.
func (s *streamSink) take(into [][]byte) (bufs [][]byte, ended, graceful bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	bufs = append(into[:0], s.pending...)
	clear(s.pending)
	s.pending = s.pending[:0]
	if cap(s.pending) > 64 {
		s.pending = nil
	}
	s.bytes = 0
	return bufs, s.ended, s.graceful
}

// serve writes the stream until it ends, on the handler's goroutine.
func (s *streamSink) serve(h *Hub, sub *subscriber, w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	var bufs [][]byte
	for {
		select {
		case <-s.notify:
		case <-r.Context().Done():
			sub.shard.push(shardCmd{kind: cmdRemove, sub: sub, reason: ReasonClientGone})
			<-sub.done
			return
		}
		var ended, graceful bool
		bufs, ended, graceful = s.take(bufs)
		if len(bufs) > 0 && (!ended || graceful) {
			if err := writeAll(rc, w, bufs, h.cfg.writeTimeout); err != nil {
				reason := ReasonWriteError
				if errors.Is(err, os.ErrDeadlineExceeded) {
					reason = ReasonWriteTimeout
				}
				sub.shard.push(shardCmd{kind: cmdRemove, sub: sub, reason: reason})
				<-sub.done
				return
			}
			clear(bufs)
		}
		if ended {
			return
		}
	}
}

func writeAll(rc *http.ResponseController, w http.ResponseWriter, bufs [][]byte, timeout time.Duration) error {
	_ = rc.SetWriteDeadline(time.Now().Add(timeout)) // unsupported writers just have no deadline
	for _, b := range bufs {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return rc.Flush()
}
