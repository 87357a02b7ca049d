package herald

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/heraldpush/herald/topic"
)

// discardSink accepts every batch, like a socket that always has room.
type discardSink struct {
	n     int
	round *round // nil: nobody waits for the deliveries
}

func (d *discardSink) write(batch []*message) error {
	for _, m := range batch {
		d.n += len(m.wire)
	}
	if r := d.round; r != nil {
		r.got += len(batch)
		if r.got == r.want {
			r.got = 0
			r.done <- struct{}{}
		}
	}
	return nil
}

// A round tells the paced benchmark that one shard has delivered an update
// to all of its subscribers. Only that shard's goroutine touches got, so
// waiting costs the shards nothing (polling the hub's counters from the
// benchmark goroutine would compete with them for the cores).
type round struct {
	got, want int
	done      chan struct{}
}

func (d *discardSink) heartbeat() error           { return nil }
func (d *discardSink) end(DisconnectReason, bool) {}

// BenchmarkFanout measures the hub's in-process dispatch: matching, queuing
// and handing each update to every subscriber's sink, with sinks that
// discard. It reports wall time (ns/delivery) and the process's CPU time
// (cpu-ns/delivery) per subscriber per update. Run with -cpu 1 for the cost
// on one core:
//
//	go test -run '^$' -bench BenchmarkFanout -benchtime 3000x -cpu 1,2 .
func BenchmarkFanout(b *testing.B) {
	for _, subs := range []int{1000, 10000} {
		for _, topics := range []string{"exact", "template"} {
			b.Run(fmt.Sprintf("subs=%d/%s", subs, topics), func(b *testing.B) {
				benchFanout(b, subs, topics == "template", false)
			})
		}
		b.Run(fmt.Sprintf("subs=%d/exact/one-at-a-time", subs), func(b *testing.B) {
			benchFanout(b, subs, false, true)
		})
	}
}

// With paced set, each update is written to every sink before the next is
// delivered: no coalescing, the cost at low load.
func benchFanout(b *testing.B, n int, template, paced bool) {
	h := New(WithHeartbeat(0), WithHijack(false))
	defer h.Close(b.Context())
	sel, _ := topic.Parse(topic.Exact, "https://example.com/books/1")
	if template {
		sel, _ = topic.Parse(topic.Template, "https://example.com/books/{id}")
	}
	rounds := make(map[*shard]*round)
	for i := 0; i < n; i++ {
		sub := newSubscriber(h, []topic.Selector{sel}, nil)
		sink := &discardSink{}
		sub.sink = sink
		sub.state = stateLive
		sh := h.pickShard()
		sub.shard = sh
		if paced {
			r := rounds[sh]
			if r == nil {
				r = &round{done: make(chan struct{}, 1)}
				rounds[sh] = r
			}
			r.want++
			sink.round = r
		}
		sh.push(shardCmd{kind: cmdAdd, sub: sub})
	}
	waitFor(b, func() bool { return h.Stats().Subscribers == uint64(n) })
	u := &Update{ID: "x", Topics: []string{"https://example.com/books/1"}, Data: `{"id":1,"title":"A book","price":12.5}`}
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for i := 0; i < b.N; i++ {
		c := *u
		c.Seq = uint64(i + 1)
		h.deliver(&c)
		for _, r := range rounds {
			<-r.done
		}
	}
	want := uint64(b.N) * uint64(n)
	waitFor(b, func() bool { return h.Stats().Delivered == want })
	b.StopTimer()
	cpu := processCPU() - cpu0
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(want), "ns/delivery")
	// CPU time, where ns/delivery is wall time: with more than one core the
	// two differ by the cores' idle time (waking an idle core for each
	// update costs microseconds of wall time and little CPU).
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(want), "cpu-ns/delivery")
}

func waitFor(b *testing.B, cond func() bool) {
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatal("timed out")
		}
		time.Sleep(50 * time.Microsecond)
	}
}
