package nats

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldpush/herald"
)

// A feed is a node's one ordered consumer on the stream and the loop that
// keeps it running: it hands every update, in stream order, to the
// transport's listeners.
//
// nats.go's ordered consumer recreates itself from the last sequence it
// handed over after a reconnect, a missed heartbeat or a sequence gap.
// The feed adds what it cannot know: where to start (the stream's end
// when Listen was first called, not "deliver new" from whenever the
// consumer happens to be recreated, which would skip what was published
// in between), dropping anything at or below the last delivered sequence,
// and a watchdog that recreates the consumer if it stops making progress
// while updates are pending.
type feed struct {
	t      *Transport
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	// dmu is held while updates are handed to listeners: deliveries never
	// overlap, even when a reset briefly leaves two subscriptions running,
	// and a listener's stop waits on it for a delivery in progress.
	dmu    sync.Mutex
	cursor atomic.Uint64 // last sequence handed to the listeners

	// lost asks run to recreate the consumer at once: the library reports
	// that the consumer is gone (its server shut down, it was deleted, its
	// heartbeats stopped) and would itself retry only after long timeouts.
	lost chan struct{}

	errLogged atomic.Bool // an error was logged since the last delivery

	// Watchdog state, owned by run: the cursor at the last check and
	// when it last moved.
	seenCursor uint64
	movedAt    time.Time
}

// stallAfter is how long the consumer may make no progress while updates
// are pending before the watchdog recreates it.
const stallAfter = 3 * time.Second

// startFeed starts the consumer at the end of the stream. If NATS cannot
// be reached right now, it starts after the last sequence this node knows
// of, which may deliver a few updates from before Listen but never skips
// one after it.
func (t *Transport) startFeed() *feed {
	after := t.lastKnown.Load()
	ctx, cancel := context.WithTimeout(context.Background(), t.cfg.Timeout)
	info, err := t.stream.Info(ctx)
	cancel()
	if err == nil {
		after = info.State.LastSeq
		t.noteSeq(after)
	} else {
		t.log.Warn("nats: cannot read the stream's position; delivering from the last sequence this node knows", "seq", after, "err", err)
	}
	f := &feed{t: t, done: make(chan struct{}), lost: make(chan struct{}, 1)}
	f.cursor.Store(after)
	f.ctx, f.cancel = context.WithCancel(context.Background())
	go f.run()
	return f
}

// consumerHeartbeat is the ordered consumer's idle heartbeat.
const consumerHeartbeat = 2 * time.Second

// stop ends the feed and waits for it, and for a delivery in progress.
func (f *feed) stop() {
	f.cancel()
	<-f.done
	f.dmu.Lock()
	f.dmu.Unlock() //nolint:staticcheck // waits for a delivery in progress
}

func (f *feed) run() {
	defer close(f.done)
	tick := time.NewTicker(f.t.checkEvery)
	defer tick.Stop()
	failures := 0
	for {
		cons, cc, err := f.consume()
		if err != nil {
			if f.ctx.Err() != nil {
				return
			}
			if failures == 0 {
				f.t.log.Warn("nats: cannot start the stream consumer; retrying", "err", err)
			}
			failures++
			if !sleep(f.ctx, reconnectDelay(failures)) {
				return
			}
			continue
		}
		if failures > 0 {
			f.t.log.Info("nats: stream consumer running again", "after_seq", f.cursor.Load())
		}
		failures = 0
		select {
		case <-f.lost: // about the consumer just replaced
		default:
		}
		closed := cc.Closed()
		restart := false
		for !restart {
			select {
			case <-f.ctx.Done():
				f.end(cc, closed)
				f.deleteConsumer(cons)
				return
			case <-closed:
				// Stopped by itself (the library gives up only when the
				// connection is closed): start again after a pause.
				restart = true
				if !sleep(f.ctx, reconnectDelay(1)) {
					return
				}
			case <-f.lost:
				restart = true
			case <-tick.C:
				restart = f.check()
			}
		}
		f.end(cc, closed)
		f.deleteConsumer(cons)
	}
}

// consume creates an ordered consumer that starts right after the cursor
// and starts consuming.
func (f *feed) consume() (jetstream.Consumer, jetstream.ConsumeContext, error) {
	ctx, cancel := context.WithTimeout(f.ctx, f.t.cfg.Timeout)
	defer cancel()
	cons, err := f.t.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   f.cursor.Load() + 1,
	})
	if err != nil {
		return nil, nil, err
	}
	// A 2 s idle heartbeat makes the client notice a consumer lost with
	// its server (a stream leader failing over) in about 4 s instead of
	// the default 30 s; it costs one tiny message per 2 s per node.
	cc, err := cons.Consume(f.handle, jetstream.ConsumeErrHandler(f.onError), jetstream.PullHeartbeat(consumerHeartbeat))
	if err != nil {
		return nil, nil, err
	}
	return cons, cc, nil
}

// deleteConsumer removes a consumer that was replaced or closed from the
// server. The server would drop it after five idle minutes anyway; this
// only keeps monitoring tidy, so it is brief and best effort.
func (f *feed) deleteConsumer(cons jetstream.Consumer) {
	info := cons.CachedInfo()
	if info == nil || !f.t.nc.IsConnected() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = f.t.stream.DeleteConsumer(ctx, info.Name)
}

// end stops a consume context and waits, boundedly, until its handler has
// returned.
func (f *feed) end(cc jetstream.ConsumeContext, closed <-chan struct{}) {
	cc.Stop()
	select {
	case <-closed:
	case <-time.After(f.t.cfg.Timeout):
	}
}

func (f *feed) onError(_ jetstream.ConsumeContext, err error) {
	if f.t.nc.IsConnected() && (errors.Is(err, jetstream.ErrServerShutdown) || errors.Is(err, jetstream.ErrNoHeartbeat) ||
		errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) ||
		errors.Is(err, jetstream.ErrConsumerLeadershipChanged)) {
		// While disconnected the library recreates the consumer as soon
		// as the connection is back; while connected, do not wait for it.
		select {
		case f.lost <- struct{}{}:
		default:
		}
	}
	// During an outage the consumer reports every missed heartbeat and
	// failed reset; one line per outage is enough.
	if f.errLogged.CompareAndSwap(false, true) {
		f.t.log.Warn("nats: stream consumer interrupted; it resumes after the last delivered update", "after_seq", f.cursor.Load(), "err", err)
	} else {
		f.t.log.Debug("nats: stream consumer error", "err", err)
	}
}

// handle hands one stream message to the listeners.
func (f *feed) handle(m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		f.t.log.Warn("nats: message without JetStream metadata skipped", "subject", m.Subject(), "err", err)
		return
	}
	seq := md.Sequence.Stream
	f.dmu.Lock()
	defer f.dmu.Unlock()
	if f.ctx.Err() != nil {
		return
	}
	cur := f.cursor.Load()
	if seq <= cur {
		return // already delivered, seen again after a consumer reset
	}
	if seq > cur+1 {
		// Stream sequences have no holes of their own: these updates
		// left the stream (bounds, or deleted by hand) before this node
		// received them. Its subscribers resume past them.
		f.t.log.Warn("nats: updates left the stream before this node received them", "first_seq", cur+1, "last_seq", seq-1)
	}
	f.cursor.Store(seq)
	f.t.noteSeq(seq)
	f.errLogged.Store(false)
	u := new(herald.Update)
	if err := u.UnmarshalBinary(m.Data()); err != nil {
		f.t.log.Warn("nats: undecodable message skipped (was it published by something other than Herald?)", "seq", seq, "subject", m.Subject(), "err", err)
		return
	}
	u.Seq = seq
	if ls := f.t.listeners.Load(); ls != nil {
		for _, l := range *ls {
			l.deliver(u)
		}
	}
}

// check is the watchdog, run every checkEvery while consuming. It reports
// whether to recreate the consumer: when updates have been pending for
// stallAfter with none delivered (the library would wait out long
// timeouts, e.g. while a new meta leader is elected), or when the stream's
// sequence went backwards (the stream was deleted and created again).
func (f *feed) check() bool {
	now := time.Now()
	cur := f.cursor.Load()
	if cur != f.seenCursor || f.movedAt.IsZero() {
		// Progress since the last check: no stall, and no need to ask.
		f.seenCursor, f.movedAt = cur, now
		return false
	}
	if !f.t.nc.IsConnected() {
		// The library recreates the consumer when the connection is back.
		f.movedAt = now
		return false
	}
	ctx, cancel := context.WithTimeout(f.ctx, f.t.cfg.Timeout)
	info, err := f.t.stream.Info(ctx)
	cancel()
	if err != nil {
		return false
	}
	last := info.State.LastSeq
	switch {
	case last < cur:
		f.t.log.Error("nats: the stream's sequence went backwards: it was deleted and created again, and its history is lost; restart every Herald node so that subscribers start afresh",
			"stream_last_seq", last, "delivered_seq", cur)
		f.dmu.Lock()
		first := info.State.FirstSeq
		if first > 0 {
			first--
		}
		f.cursor.Store(first)
		f.dmu.Unlock()
		f.movedAt = now
		return true
	case last == cur:
		f.movedAt = now // nothing pending: not a stall
	case now.Sub(f.movedAt) >= stallAfter:
		f.t.log.Warn("nats: the stream consumer made no progress with updates pending; recreating it",
			"delivered_seq", cur, "stream_last_seq", last, "stalled_for", now.Sub(f.movedAt).Round(time.Millisecond))
		f.movedAt = now
		return true
	}
	return false
}

// sleep waits d or until ctx is done; it reports whether the wait was
// complete.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
