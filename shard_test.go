package herald

import (
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/topic"
)

// recordingSink keeps the sequence of every update written to it.
type recordingSink struct {
	mu   sync.Mutex
	seqs []uint64
}

func (r *recordingSink) write(batch []*message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range batch {
		r.seqs = append(r.seqs, m.seq)
	}
	return nil
}
func (r *recordingSink) heartbeat() error           { return nil }
func (r *recordingSink) end(DisconnectReason, bool) {}

func (r *recordingSink) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seqs)
}

// TestShardKeepsOrderUnderBacklog delivers updates faster than the shards
// write them, so that they take long batches and slices of their inbox
// while writing: every stream must still get every update once, in order.
func TestShardKeepsOrderUnderBacklog(t *testing.T) {
	h := New(WithHeartbeat(0), WithHijack(false), WithQueueLimits(1<<20, 1<<30))
	defer h.Close(t.Context())
	sel, _ := topic.Parse(topic.Exact, "t")
	const subs, updates = 300, 20000
	sinks := make([]*recordingSink, subs)
	for i := range sinks {
		sinks[i] = &recordingSink{}
		sub := newSubscriber(h, []topic.Selector{sel}, nil)
		sub.sink = sinks[i]
		sub.state = stateLive
		sub.shard = h.pickShard()
		sub.shard.push(shardCmd{kind: cmdAdd, sub: sub})
	}
	// Bursts a little longer than a flush slice, with pauses, so that
	// shards often find a few new commands while writing a long batch.
	for i := 1; i <= updates; i++ {
		h.deliver(&Update{ID: "x", Topics: []string{"t"}, Seq: uint64(i)})
		if i%(flushEvery+flushEvery/2) == 0 {
			time.Sleep(200 * time.Microsecond)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, s := range sinks {
		for s.count() < updates && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	for n, s := range sinks {
		s.mu.Lock()
		for i, seq := range s.seqs {
			if seq != uint64(i+1) {
				s.mu.Unlock()
				t.Fatalf("stream %d: update %d has seq %d, want %d (lost or reordered)", n, i, seq, i+1)
			}
		}
		if len(s.seqs) != updates {
			s.mu.Unlock()
			t.Fatalf("stream %d got %d updates, want %d", n, len(s.seqs), updates)
		}
		s.mu.Unlock()
	}
}
