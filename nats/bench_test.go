package nats

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/natstest"
)

// Benchmarks run against an nats-server embedded in the benchmark process,
// on loopback: the server and the clients share the machine's cores, so
// the numbers are a floor for a separate NATS host.
//
//	go test -run '^$' -bench . -benchtime 5s ./nats/

var benchData = strings.Repeat("x", 100)

func benchUpdate(id string) *herald.Update {
	return &herald.Update{ID: id, Topics: []string{"https://example.com/bench"}, Data: benchData, Time: time.Now()}
}

// publishFlatOut publishes b.N updates through tr from pubs goroutines
// that each take the next update as soon as their last one is
// acknowledged, and returns when all are. IDs are prefix, the publisher's
// number, "-" and the update's index.
func publishFlatOut(b *testing.B, tr herald.Transport, pubs int, prefix string) {
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	for p := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				if err := tr.Publish(ctx, benchUpdate(fmt.Sprintf("%s%d-%d", prefix, p, i))); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// BenchmarkPublish measures acknowledged publishes per second through one
// node, with 1 and 16 concurrent publishers, while a second node listens.
func BenchmarkPublish(b *testing.B) {
	srv := natstest.Start(b)
	for _, storage := range []Storage{FileStorage, MemoryStorage} {
		for _, pubs := range []int{1, 16} {
			b.Run(fmt.Sprintf("storage=%s/publishers=%d", storage, pubs), func(b *testing.B) {
				cfg := freshConfig(srv)
				cfg.Storage = storage
				b.Cleanup(func() { deleteStream(b, srv, cfg.Stream) })
				tr, peer := open(b, cfg), open(b, cfg)
				var delivered atomic.Int64
				stop, err := peer.Listen(func(*herald.Update) { delivered.Add(1) })
				if err != nil {
					b.Fatal(err)
				}
				defer stop()
				b.ResetTimer()
				publishFlatOut(b, tr, pubs, "b")
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
			})
		}
	}
}

// BenchmarkCrossNodeLatency measures the time from Publish on one node to
// delivery on another: idle (one update in flight at a time), paced (8
// publishers at 5,000 updates/s in all) and loaded (16 publishers at full
// speed, which saturates the machine). The memory case is the same path
// inside one process, for comparison.
func BenchmarkCrossNodeLatency(b *testing.B) {
	srv := natstest.Start(b)
	for _, mode := range []string{"memory/idle", "nats/idle", "nats/paced-5k", "nats/loaded"} {
		b.Run(mode, func(b *testing.B) {
			var pub, sub herald.Transport
			if strings.HasPrefix(mode, "memory") {
				m := herald.NewMemoryTransport(herald.MemoryConfig{})
				defer m.Close()
				pub, sub = m, m
			} else {
				cfg := freshConfig(srv)
				b.Cleanup(func() { deleteStream(b, srv, cfg.Stream) })
				pub, sub = open(b, cfg), open(b, cfg)
			}
			hist := hdrhistogram.New(1, int64(10*time.Second/time.Microsecond), 3)
			var mu sync.Mutex
			got := make(chan struct{}, 1)
			var received atomic.Int64
			stop, err := sub.Listen(func(u *herald.Update) {
				lat := time.Since(u.Time)
				mu.Lock()
				_ = hist.RecordValue(max(lat.Microseconds(), 1))
				mu.Unlock()
				received.Add(1)
				select {
				case got <- struct{}{}:
				default:
				}
			})
			if err != nil {
				b.Fatal(err)
			}
			defer stop()
			ctx := context.Background()
			b.ResetTimer()
			switch {
			case strings.HasSuffix(mode, "idle"):
				for i := range b.N {
					if err := pub.Publish(ctx, benchUpdate(fmt.Sprintf("l-%d", i))); err != nil {
						b.Fatal(err)
					}
					<-got
				}
			case strings.HasSuffix(mode, "paced-5k"):
				const pubs, rate = 8, 5000
				start := time.Now()
				var wg sync.WaitGroup
				for p := range pubs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := p; i < b.N; i += pubs {
							// Update i is due at i/rate: the publishers
							// take turns on an even schedule (late ones go
							// at once).
							if d := time.Until(start.Add(time.Duration(i) * time.Second / rate)); d > 0 {
								time.Sleep(d)
							}
							if err := pub.Publish(ctx, benchUpdate(fmt.Sprintf("r%d-%d", p, i))); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				for received.Load() < int64(b.N) {
					<-got
				}
			default:
				publishFlatOut(b, pub, 16, "l")
				for received.Load() < int64(b.N) {
					<-got
				}
			}
			b.StopTimer()
			mu.Lock()
			defer mu.Unlock()
			b.ReportMetric(float64(hist.ValueAtQuantile(50)), "p50-µs")
			b.ReportMetric(float64(hist.ValueAtQuantile(99)), "p99-µs")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
		})
	}
}
