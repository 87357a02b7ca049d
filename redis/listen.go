package redis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldpush/herald"
)

// A listener is one registered deliver function. floor is the highest seq
// the node had seen when it registered: it gets only later updates, so
// that "from now on" holds for updates this node published before Listen
// returned but had not delivered yet.
type listener struct {
	deliver func(*herald.Update)
	floor   uint64
}

// Listen implements herald.Transport. Every listener is fed from the
// node's one subscription, in seq order, one call at a time; it receives
// the updates after the newest one this node had seen when Listen was
// called. The returned stop function waits for a running call to return,
// so it must not be called from inside deliver.
func (t *Transport) Listen(deliver func(*herald.Update)) (func(), error) {
	if deliver == nil {
		return nil, errors.New("redis transport: Listen: nil deliver function")
	}
	t.lmu.Lock()
	defer t.lmu.Unlock()
	if t.closed.Load() {
		return nil, herald.ErrClosed
	}
	id := t.nextL
	t.nextL++
	t.listeners[id] = &listener{deliver: deliver, floor: t.hw.Load()}
	t.publishListeners()
	return func() {
		t.lmu.Lock()
		if _, ok := t.listeners[id]; ok {
			delete(t.listeners, id)
			t.publishListeners()
		}
		t.lmu.Unlock()
		// Wait for a call that may be running with the old snapshot.
		t.delivering.Lock()
		//lint:ignore SA2001 an empty critical section is the wait
		t.delivering.Unlock()
	}, nil
}

// publishListeners stores a fresh snapshot for the delivery path, which
// reads it without locking. The caller holds lmu.
func (t *Transport) publishListeners() {
	s := make([]*listener, 0, len(t.listeners))
	for _, l := range t.listeners {
		s = append(s, l)
	}
	t.snapshot.Store(&s)
}

// deliver hands u to every listener, and advances the last delivered seq.
// Only the subscription loop calls it, in seq order.
func (t *Transport) deliver(u *herald.Update) {
	t.last = u.Seq
	t.sawSeq(u.Seq)
	t.delivering.Lock()
	defer t.delivering.Unlock()
	for _, l := range *t.snapshot.Load() {
		if u.Seq > l.floor {
			l.deliver(u)
		}
	}
}

// Backoff between subscription attempts: doubled on each failure, with
// jitter so that a cluster's nodes do not reconnect in lockstep. The cap
// bounds how long a node stays deaf after Redis is back; one attempt a
// second per node is no load for Redis. (go-redis's pool, for its part,
// probes a Redis it could not dial once a second.)
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = time.Second
)

// subscribeLoop keeps the node subscribed until Close. It sends nil on
// ready once first subscribed.
func (t *Transport) subscribeLoop(ready chan<- struct{}) {
	defer t.wg.Done()
	backoff := minBackoff
	first := true
	for t.ctx.Err() == nil {
		up := false
		err := t.session(func() {
			up = true
			backoff = minBackoff
			if first {
				first = false
				ready <- struct{}{}
			}
		})
		if t.ctx.Err() != nil {
			return
		}
		if first {
			// Redis answered New's checks a moment ago, so this is most
			// likely passing (a slow machine, a restart): keep trying
			// until New's context gives up, and let it report why.
			t.setSubscribeErr(err)
		} else if up {
			t.log.Warn("lost the subscription; reconnecting", "err", err)
		} else {
			t.log.Debug("subscribe failed; retrying", "err", err, "in", backoff)
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-time.After(wait):
		case <-t.ctx.Done():
			return
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// session subscribes, catches up with what was stored before the
// subscription took effect, and delivers until the connection fails. It
// calls up once subscribed and caught up.
func (t *Transport) session(up func()) error {
	ctx := t.ctx
	ps := t.client.Subscribe(ctx, t.keys.channel)
	t.lmu.Lock()
	if t.closed.Load() {
		t.lmu.Unlock()
		_ = ps.Close()
		return herald.ErrClosed
	}
	t.ps = ps
	t.lmu.Unlock()
	defer func() {
		t.subscribed.Store(false)
		t.lmu.Lock()
		t.ps = nil
		t.lmu.Unlock()
		_ = ps.Close()
	}()

	// Wait for Redis to confirm the subscription: from then on every
	// publish reaches this connection, and what came before is in the
	// stream.
	for confirmed := false; !confirmed; {
		msg, err := ps.ReceiveTimeout(ctx, t.cfg.Timeout)
		if err != nil {
			return err
		}
		if s, ok := msg.(*goredis.Subscription); ok && s.Kind == "subscribe" {
			confirmed = true
		}
	}
	if err := t.catchUp(ctx); err != nil {
		return err
	}
	t.subscribed.Store(true)
	up()

	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, t.cfg.PingInterval)
		if err != nil {
			if !isTimeout(err) {
				return err
			}
			if pinged {
				return fmt.Errorf("no answer to a ping within %v", t.cfg.PingInterval)
			}
			// Quiet for a while: make sure the connection is alive and
			// that nothing was published that this node did not get.
			if err := ps.Ping(ctx); err != nil {
				return err
			}
			pinged = true
			if err := t.catchUp(ctx); err != nil {
				return err
			}
			continue
		}
		pinged = false
		switch m := msg.(type) {
		case *goredis.Message:
			if err := t.handle(ctx, m.Payload); err != nil {
				return err
			}
		case *goredis.Subscription:
			// go-redis resubscribed on a new connection by itself;
			// messages may have been lost in between.
			if m.Kind == "subscribe" {
				if err := t.catchUp(ctx); err != nil {
					return err
				}
			}
		}
	}
}

func (t *Transport) setSubscribeErr(err error) {
	t.lmu.Lock()
	t.subErr = err
	t.lmu.Unlock()
}

func (t *Transport) subscribeErr() error {
	t.lmu.Lock()
	defer t.lmu.Unlock()
	return t.subErr
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// catchUp delivers everything stored after the last delivered seq, up to
// the counter's current value.
func (t *Transport) catchUp(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, t.cfg.Timeout)
	defer cancel()
	v, err := t.client.Get(cctx, t.keys.seq).Result()
	var cur uint64
	switch {
	case errors.Is(err, goredis.Nil):
		cur = 0
	case err != nil:
		return err
	default:
		if cur, err = strconv.ParseUint(v, 10, 64); err != nil {
			return fmt.Errorf("counter %s holds %q: %w", t.keys.seq, v, err)
		}
	}
	if !t.started {
		// First subscription of this node: "from now on" starts here.
		t.started = true
		t.last = max(t.last, cur)
		t.sawSeq(cur)
		return nil
	}
	if hw := t.hw.Load(); cur < hw {
		// The counter went back: Redis restarted without the data. Put it
		// past every seq this node has seen, so that new updates are not
		// taken for old ones; what was stored is gone.
		t.log.Error("the Redis counter went back: Redis lost its data, and with it the history",
			"counter", cur, "seen", hw)
		if _, err := raiseScript.Run(cctx, t.client, []string{t.keys.seq}, hw).Result(); err != nil {
			return err
		}
		return nil
	}
	return t.fill(ctx, cur)
}

// handle delivers one batch message: "<first seq> <count>\n" then, per
// update, "<length>\n<binary update>".
func (t *Transport) handle(ctx context.Context, payload string) error {
	first, count, updates, err := decodeBatch(payload)
	if err != nil {
		// Not from a Herald node of this version, or damaged: the stream
		// has the truth. Deliver from it whatever this message announced.
		t.log.Error("undecodable message on the channel; reading the stream instead", "channel", t.keys.channel, "err", err)
		if first > 0 && count > 0 {
			return t.fill(ctx, first+count-1)
		}
		return t.catchUp(ctx)
	}
	if first > t.last+1 {
		// A gap: messages were lost (a reconnect we did not notice, or
		// Redis dropped us as a slow consumer). Deliver the missing range
		// from the stream first.
		if err := t.fill(ctx, first-1); err != nil {
			return err
		}
	}
	for i, u := range updates {
		u.Seq = first + uint64(i)
		if u.Seq > t.last {
			t.deliver(u)
		}
	}
	return nil
}

// fill delivers the stored updates after the last delivered seq up to and
// including seq to, read from the stream in pages. Updates already trimmed
// are reported and skipped: they can no longer be delivered by anyone.
func (t *Transport) fill(ctx context.Context, to uint64) error {
	for t.last < to {
		cctx, cancel := context.WithTimeout(ctx, t.cfg.Timeout)
		msgs, err := t.client.XRangeN(cctx, t.keys.log, strconv.FormatUint(t.last+1, 10), strconv.FormatUint(to, 10), 512).Result()
		cancel()
		if err != nil {
			return err
		}
		if len(msgs) == 0 {
			t.log.Warn("updates were trimmed from history before this node could deliver them",
				"from", t.last+1, "to", to)
			t.last = to
			return nil
		}
		for _, m := range msgs {
			u, err := decodeEntry(m.ID, m.Values["d"])
			if err != nil {
				t.log.Error("skipping an undecodable history entry", "entry", m.ID, "err", err)
				continue
			}
			if u.Seq <= t.last {
				continue
			}
			if u.Seq > t.last+1 {
				t.log.Warn("updates were trimmed from history before this node could deliver them",
					"from", t.last+1, "to", u.Seq-1)
			}
			t.deliver(u)
		}
		if id := msgs[len(msgs)-1].ID; id != "" {
			if seq, err := parseEntryID(id); err == nil && seq > t.last {
				t.last = seq // past an undecodable last entry
			}
		}
	}
	return nil
}

// trimLoop applies the age bound while no one publishes or reads, so that
// expired history does not sit in Redis's memory. Each call is bounded;
// a backlog is worked off in several.
func (t *Transport) trimLoop() {
	defer t.wg.Done()
	every := min(max(t.cfg.MaxAge/4, 250*time.Millisecond), 30*time.Second)
	tick := time.NewTicker(every)
	defer tick.Stop()
	const budget = 1000
	for {
		select {
		case <-tick.C:
		case <-t.ctx.Done():
			return
		}
		for t.ctx.Err() == nil {
			ctx, cancel := context.WithTimeout(t.ctx, t.cfg.Timeout)
			n, err := trimScript.Run(ctx, t.client, []string{t.keys.log, t.keys.ids}, t.sizeArg(), t.cutoff(), budget).Int()
			cancel()
			if err != nil {
				if t.ctx.Err() == nil {
					t.log.Debug("periodic trim failed", "err", err)
				}
				break
			}
			if n < budget {
				break
			}
		}
	}
}
