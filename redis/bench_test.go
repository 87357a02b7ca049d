package redis

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/redistest"
)

// Benchmarks of the Redis transport next to the memory transport. The
// numbers in docs/clustering.md come from:
//
//	go test -run '^$' -bench . -benchtime 3s ./redis/

// benchUpdate is a typical small update: one topic, 100 bytes of data.
func benchUpdate(i int) *herald.Update {
	return &herald.Update{
		ID:     "urn:uuid:bench-" + strconv.Itoa(i),
		Topics: []string{"https://example.com/books/" + strconv.Itoa(i%100)},
		Data:   `{"id":` + strconv.Itoa(i) + `,"title":"A benchmark update of about a hundred bytes of JSON data","v":1}`,
		Time:   time.Now(),
	}
}

// BenchmarkPublish measures publishes per second through one node, with
// one publisher (each waits for its answer: latency bound) and with 16
// concurrent publishers (batched into shared script calls).
func BenchmarkPublish(b *testing.B) {
	srv := redistest.Start(b)
	for _, publishers := range []int{1, 16} {
		b.Run(fmt.Sprintf("memory/publishers=%d", publishers), func(b *testing.B) {
			tr := herald.NewMemoryTransport(herald.MemoryConfig{})
			defer tr.Close()
			benchPublish(b, tr, publishers)
		})
		b.Run(fmt.Sprintf("redis/publishers=%d", publishers), func(b *testing.B) {
			tr := open(b, srv, Config{Prefix: newPrefix(b)}, "")
			benchPublish(b, tr, publishers)
		})
	}
}

func benchPublish(b *testing.B, tr herald.Transport, publishers int) {
	// Listen as a hub would, so that delivery costs are counted too.
	var delivered atomic.Int64
	stop, err := tr.Listen(func(*herald.Update) { delivered.Add(1) })
	if err != nil {
		b.Fatal(err)
	}
	defer stop()
	ctx := context.Background()
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1))
				if i > b.N {
					return
				}
				if err := tr.Publish(ctx, benchUpdate(i)); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "publishes/s")
}

// BenchmarkCrossNodeLatency measures the time from Publish on node A to
// delivery on node B (for the memory transport, to a listener of the same
// transport: there is no other node). "idle" publishes one update at a
// time; "rate=N" publishes N updates a second, each from its own goroutine
// as HTTP publishers would; "saturated" runs 16 publishers flat out, so
// its latency is mostly queueing.
func BenchmarkCrossNodeLatency(b *testing.B) {
	srv := redistest.Start(b)
	for _, mode := range []struct {
		name       string
		publishers int
		rate       int
	}{{"idle", 1, 0}, {"rate=5000", 0, 5000}, {"rate=10000", 0, 10000}, {"saturated", 16, 0}} {
		b.Run("memory/"+mode.name, func(b *testing.B) {
			tr := herald.NewMemoryTransport(herald.MemoryConfig{})
			defer tr.Close()
			benchLatency(b, tr, tr, mode.publishers, mode.rate)
		})
		b.Run("redis/"+mode.name, func(b *testing.B) {
			cfg := Config{Prefix: newPrefix(b)}
			a := open(b, srv, cfg, "")
			bb := open(b, srv, cfg, "")
			benchLatency(b, a, bb, mode.publishers, mode.rate)
		})
	}
}

func benchLatency(b *testing.B, pub, sub herald.Transport, publishers, rate int) {
	n := b.N
	sent := make([]atomic.Int64, n+1) // unix ns at Publish, by update index
	lat := make([]time.Duration, 0, n)
	var mu sync.Mutex
	got := make(chan struct{}, n+1)
	stop, err := sub.Listen(func(u *herald.Update) {
		i, err := strconv.Atoi(u.ID[len("urn:uuid:bench-"):])
		if err != nil || i < 1 || i > n {
			return
		}
		d := time.Duration(time.Now().UnixNano() - sent[i].Load())
		mu.Lock()
		lat = append(lat, d)
		mu.Unlock()
		got <- struct{}{}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer stop()
	ctx := context.Background()
	publish := func(i int) {
		u := benchUpdate(i)
		sent[i].Store(time.Now().UnixNano())
		if err := pub.Publish(ctx, u); err != nil {
			b.Error(err)
		}
	}
	b.ResetTimer()
	var wg sync.WaitGroup
	if rate > 0 {
		// Paced: update i is due at start + i/rate; a late dispatcher
		// catches up at once, an early one sleeps in steps of ~1 ms.
		start := time.Now()
		for i := 1; i <= n; i++ {
			due := start.Add(time.Duration(i) * time.Second / time.Duration(rate))
			if d := time.Until(due); d > time.Millisecond {
				time.Sleep(d)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				publish(i)
			}()
		}
	} else {
		var next atomic.Int64
		for range publishers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1))
					if i > n {
						return
					}
					publish(i)
					if publishers == 1 {
						<-got // one in flight: pure latency
					}
				}
			}()
		}
	}
	wg.Wait()
	if publishers != 1 {
		for range n {
			select {
			case <-got:
			case <-time.After(waitLimit):
				b.Fatalf("updates not delivered within %v", waitLimit)
			}
		}
	}
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	if len(lat) == 0 {
		return
	}
	q := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / 1e3
	}
	b.ReportMetric(q(0.50), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
	b.ReportMetric(float64(lat[len(lat)-1])/1e3, "max-µs")
}
