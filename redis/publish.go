package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/heraldpush/herald"
)

// A pending publish waits in the queue for a worker.
type pending struct {
	ctx  context.Context
	id   string
	ms   int64
	blob []byte
	done chan result // buffered: the worker never blocks on it
}

type result struct {
	seq uint64
	err error
}

func (p *pending) finish(seq uint64, err error) {
	p.done <- result{seq, err}
}

// Publish implements herald.Transport. It returns once the update is
// stored in Redis (and announced), or with an error: herald.ErrClosed after
// Close, an error wrapping herald.ErrUnavailable when Redis did not answer
// within Config.Timeout, or ctx's error. After an error other than
// ErrClosed the update may have been stored all the same (a reply lost on
// the way back); it is then delivered normally, but the caller was told it
// was not accepted, which is the safe side.
func (t *Transport) Publish(ctx context.Context, u *herald.Update) error {
	if t.closed.Load() {
		return herald.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if u.Time.IsZero() {
		u.Time = time.Now()
	}
	// The stored encoding carries no seq: it is the entry's id, known only
	// inside the script.
	c := *u
	c.Seq = 0
	blob, err := c.MarshalBinary()
	if err != nil {
		return fmt.Errorf("redis transport: encode %s: %w", u.ID, err)
	}
	p := &pending{ctx: ctx, id: u.ID, ms: u.Time.UnixMilli(), blob: blob, done: make(chan result, 1)}
	select {
	case t.queue <- p:
	case <-ctx.Done():
		return ctx.Err()
	case <-t.stopping:
		return herald.ErrClosed
	}
	var r result
	select {
	case r = <-p.done:
	case <-ctx.Done():
		return ctx.Err()
	case <-t.drained:
		// Close answered every publish it found; one queued after that
		// will not be answered.
		select {
		case r = <-p.done:
		default:
			return herald.ErrClosed
		}
	}
	if r.err != nil {
		return r.err
	}
	u.Seq = r.seq
	t.sawSeq(r.seq)
	return nil
}

// worker sends what is queued, one batch at a time; see inFlight.
func (t *Transport) worker() {
	defer t.wg.Done()
	batch := make([]*pending, 0, maxBatch)
	for {
		var p *pending
		select {
		case p = <-t.queue:
		case <-t.stopping:
			return
		}
		batch = append(batch[:0], p)
		size := len(p.blob)
	gather:
		for len(batch) < maxBatch && size < maxBatchBytes {
			select {
			case p := <-t.queue:
				batch = append(batch, p)
				size += len(p.blob)
			default:
				break gather
			}
		}
		t.send(batch)
		clear(batch)
	}
}

// send stores one batch and answers its publishers.
func (t *Transport) send(batch []*pending) {
	// Publishers that gave up while queued are answered and left out.
	live := batch[:0]
	for _, p := range batch {
		if err := p.ctx.Err(); err != nil {
			p.finish(0, err)
			continue
		}
		live = append(live, p)
	}
	if len(live) == 0 {
		return
	}
	k := t.keys
	token := newToken()
	keys := []string{k.seq, k.log, k.ids, k.batch + token}
	args := make([]any, 0, 7+3*len(live))
	args = append(args, k.channel, 0, t.sizeArg(), t.cutoff(), len(live)+64, t.tokenTTL(), len(live))
	for _, p := range live {
		args = append(args, p.id, p.ms, p.blob)
	}
	ctx, cancel := context.WithTimeout(t.ctx, t.cfg.Timeout)
	defer cancel()
	first, err := t.runPublish(ctx, keys, args)
	for i, p := range live {
		if err != nil {
			p.finish(0, err)
		} else {
			p.finish(first+uint64(i), nil)
		}
	}
}

// tokenTTL is how long, in seconds, Redis remembers an executed batch: a
// batch is retried only within Config.Timeout, so a few times that, and
// at least 10 s, covers it with room for clock jumps.
func (t *Transport) tokenTTL() int64 {
	return max(10, int64(3*t.cfg.Timeout/time.Second)+1)
}

// runPublish runs the publish script until it succeeds, fails for good or
// ctx ends. A failure after the request may have reached Redis (a broken
// connection, a timeout) is retried with the same batch token, which Redis
// uses to answer a repeat without storing the batch twice. A failure to
// connect is reported at once: nothing was sent, and a publisher should
// not wait out the timeout while Redis is down.
func (t *Transport) runPublish(ctx context.Context, keys []string, args []any) (uint64, error) {
	backoff := 20 * time.Millisecond
	for {
		// The high-water mark is read on every attempt: a retry after a
		// Redis restart must not reuse seqs delivered meanwhile.
		args[1] = t.hw.Load()
		res, err := t.evalPublish(ctx, keys, args)
		if err == nil {
			s, ok := res.(string)
			first, perr := strconv.ParseUint(s, 10, 64)
			if !ok || perr != nil || first == 0 {
				return 0, fmt.Errorf("redis transport: publish script returned %v", res)
			}
			return first, nil
		}
		if t.closed.Load() && errors.Is(err, context.Canceled) {
			return 0, herald.ErrClosed
		}
		cerr := classify(err)
		if !errors.Is(cerr, herald.ErrUnavailable) || isDialError(err) {
			return 0, fmt.Errorf("redis transport: publish: %w", cerr)
		}
		select {
		case <-ctx.Done():
			if t.closed.Load() {
				return 0, herald.ErrClosed
			}
			return 0, fmt.Errorf("redis transport: publish: %w (no answer within %v)", cerr, t.cfg.Timeout)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 200*time.Millisecond)
	}
}

// evalPublish runs the publish script by its hash, and by its source when
// Redis has lost its script cache (after a restart or SCRIPT FLUSH):
// go-redis's Script.Run does both.
func (t *Transport) evalPublish(ctx context.Context, keys []string, args []any) (any, error) {
	return publishScript.Run(ctx, t.client, keys, args...).Result()
}

// isDialError reports an error from connecting, before any command was
// sent.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
