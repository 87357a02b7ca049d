package herald

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/topic"
)

// A DisconnectReason says why the hub ended a stream.
type DisconnectReason string

// Why streams end.
const (
	ReasonClientGone   DisconnectReason = "client_gone"   // the client closed the connection
	ReasonSlow         DisconnectReason = "slow"          // its queue overflowed
	ReasonWriteTimeout DisconnectReason = "write_timeout" // a write did not finish in time
	ReasonWriteError   DisconnectReason = "write_error"   // the connection broke
	ReasonExpired      DisconnectReason = "token_expired" // its token expired
	ReasonLifetime     DisconnectReason = "lifetime"      // it reached the maximum lifetime
	ReasonFinished     DisconnectReason = "finished"      // every topic it follows is finished
	ReasonShutdown     DisconnectReason = "shutdown"      // the hub is closing
)

// A streamError carries the reason a sink gives up on its stream.
type streamError struct{ reason DisconnectReason }

func (e *streamError) Error() string { return "herald: stream ended: " + string(e.reason) }

var (
	errSlow         error = &streamError{ReasonSlow}
	errWriteTimeout error = &streamError{ReasonWriteTimeout}
	errWriteBroken  error = &streamError{ReasonWriteError}
	errClientGone   error = &streamError{ReasonClientGone}
)

func reasonOf(err error) DisconnectReason {
	var se *streamError
	if errors.As(err, &se) {
		return se.reason
	}
	return ReasonWriteError
}

type subState uint8

const (
	stateReplaying subState = iota
	stateLive
	stateClosed
)

// A sink is where a subscriber's bytes go: a net/http stream served by its
// handler goroutine, or a hijacked connection written by the shard itself.
// Its methods are called on the shard goroutine.
type sink interface {
	// write sends or hands off a batch without blocking. The batch slice is
	// reused by the caller after write returns.
	write(batch []*message) error
	// heartbeat writes a keep-alive comment without blocking.
	heartbeat() error
	// end stops the stream; graceful means after what was handed over.
	end(reason DisconnectReason, graceful bool)
}

// A subscriber is one stream's subscription. Fields without a comment are
// owned by the shard goroutine once the subscriber is added.
type subscriber struct {
	hub    *Hub
	shard  *shard
	sels   []topic.Selector
	claims *Claims // nil for an anonymous subscriber
	sink   sink

	state         subState
	lastSeq       uint64 // newest update queued or replayed
	queue         []*message
	queueBytes    int
	dirty         bool
	doomed        bool // to be closed as slow once the current dispatch ends
	endAfterFlush bool
	entries       []listEntry

	deadline       time.Time // when the stream must end; zero for never
	deadlineReason DisconnectReason
	heapIdx        int

	// Shared with the stream's goroutine.
	lastWrite atomic.Int64  // unix nanoseconds of the last write
	firstLive atomic.Uint64 // first seq queued while replaying

	endOnce sync.Once
	reason  DisconnectReason // set once, before done is closed
	done    chan struct{}
	onEnd   func() // from a StreamObserver; nil when there is none
}

func newSubscriber(h *Hub, sels []topic.Selector, claims *Claims) *subscriber {
	sub := &subscriber{hub: h, sels: sels, claims: claims, heapIdx: -1, done: make(chan struct{})}
	sub.lastWrite.Store(time.Now().UnixNano())
	var deadline time.Time
	reason := ReasonLifetime
	if d := h.cfg.maxLifetime; d > 0 {
		deadline = time.Now().Add(jitter(d))
	}
	if claims != nil && !claims.Expires.IsZero() && (deadline.IsZero() || claims.Expires.Before(deadline)) {
		deadline, reason = claims.Expires, ReasonExpired
	}
	sub.deadline, sub.deadlineReason = deadline, reason
	return sub
}

// jitter returns d less up to 10%, so that streams opened together do not
// all end together.
func jitter(d time.Duration) time.Duration {
	return d - time.Duration(randUint64()%uint64(d/10+1))
}

func (sub *subscriber) wrote() { sub.lastWrite.Store(time.Now().UnixNano()) }

// end records why the stream ended and stops its sink; idempotent.
func (sub *subscriber) end(reason DisconnectReason, graceful bool) {
	sub.endOnce.Do(func() {
		sub.state = stateClosed
		sub.reason = reason
		if sub.sink != nil {
			sub.sink.end(reason, graceful)
		}
		close(sub.done)
		sub.hub.cfg.observer.Disconnected(reason)
		if sub.onEnd != nil {
			sub.onEnd()
		}
	})
}

func (sub *subscriber) mayReceivePrivate(c *topic.Cache, u *Update) bool {
	return sub.claims != nil && allowsAny(c, sub.claims.Subscribe, u.Topics)
}

// finishedAll reports whether every topic sub follows is finished. Only
// exact selectors can be finished: a pattern may match future topics.
func (sub *subscriber) finishedAll(f *finishedTopics) bool {
	if len(sub.sels) == 0 {
		return false
	}
	for _, s := range sub.sels {
		if s.Kind() != topic.Exact || !f.has(s.String()) {
			return false
		}
	}
	return true
}

// finishedTopics remembers topics whose final update was delivered.
type finishedTopics struct {
	ttl time.Duration
	mu  sync.Mutex
	at  map[string]time.Time
	n   int // adds since the last sweep
}

func newFinishedTopics(ttl time.Duration) *finishedTopics {
	return &finishedTopics{ttl: ttl, at: make(map[string]time.Time)}
}

func (f *finishedTopics) add(topics []string, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range topics {
		f.at[t] = now
	}
	f.n++
	if f.n >= 1024 {
		f.n = 0
		for t, at := range f.at {
			if now.Sub(at) > f.ttl {
				delete(f.at, t)
			}
		}
	}
}

func (f *finishedTopics) has(t string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	at, ok := f.at[t]
	if ok && time.Since(at) > f.ttl {
		delete(f.at, t)
		return false
	}
	return ok
}
