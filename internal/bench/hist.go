package bench

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds, from 1 µs to 10 minutes, with
// three significant digits (0.1% resolution).
const (
	histLowest  = 1
	histHighest = int64(10 * time.Minute / time.Microsecond)
	histDigits  = 3
)

func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(histLowest, histHighest, histDigits)
}

// latencyRecorder is a histogram that many subscriber goroutines record
// into: it is split into shards, each behind its own lock, so that two
// cores recording half a million deliveries a second rarely wait on each
// other. A subscriber always uses the same shard.
type latencyRecorder struct {
	shards []histShard
}

type histShard struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
	_  [40]byte // keep shards' locks on separate cache lines
}

func newLatencyRecorder(shards int) *latencyRecorder {
	if shards < 1 {
		shards = 1
	}
	r := &latencyRecorder{shards: make([]histShard, shards)}
	for i := range r.shards {
		r.shards[i].h = newHistogram()
	}
	return r
}

// record adds the latencies vals (microseconds) to shard key's histogram
// under one lock. Values out of range are clamped, so that a wildly wrong
// clock still counts as a (terrible) delivery.
func (r *latencyRecorder) record(key int, vals []int64) {
	if len(vals) == 0 {
		return
	}
	s := &r.shards[key%len(r.shards)]
	s.mu.Lock()
	for _, v := range vals {
		s.h.RecordValue(clampLatency(v))
	}
	s.mu.Unlock()
}

func clampLatency(us int64) int64 {
	if us < histLowest {
		return histLowest
	}
	if us > histHighest {
		return histHighest
	}
	return us
}

// merged returns one histogram holding every shard's values.
func (r *latencyRecorder) merged() *hdrhistogram.Histogram {
	out := newHistogram()
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		out.Merge(s.h)
		s.mu.Unlock()
	}
	return out
}

// encodeHistogram serializes h compactly for the pipe between a worker and
// the parent.
func encodeHistogram(h *hdrhistogram.Histogram) ([]byte, error) {
	b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return nil, fmt.Errorf("encode histogram: %w", err)
	}
	return b, nil
}

// decodeHistogram reverses encodeHistogram.
func decodeHistogram(b []byte) (*hdrhistogram.Histogram, error) {
	if len(b) == 0 {
		return newHistogram(), nil
	}
	h, err := hdrhistogram.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("decode histogram: %w", err)
	}
	return h, nil
}

// LatencyStats summarizes a latency histogram, in milliseconds.
type LatencyStats struct {
	Count int64   `json:"count"`
	Min   float64 `json:"min_ms"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p99_9_ms"`
	Max   float64 `json:"max_ms"`
	// CDF holds the latency at percentiles spaced evenly in "nines"
	// (50, 68.4, 90, 96.8, 99, …, 99.999, 100), the classic HDR plot.
	CDF []CDFPoint `json:"cdf,omitempty"`
}

// CDFPoint is one point of a latency distribution.
type CDFPoint struct {
	Percentile float64 `json:"percentile"`
	Ms         float64 `json:"ms"`
}

const usPerMs = 1000.0

// summarize computes the LatencyStats of h (recorded in microseconds).
func summarize(h *hdrhistogram.Histogram) LatencyStats {
	n := h.TotalCount()
	if n == 0 {
		return LatencyStats{}
	}
	ms := func(us int64) float64 { return float64(us) / usPerMs }
	s := LatencyStats{
		Count: n,
		Min:   ms(h.Min()),
		Mean:  h.Mean() / usPerMs,
		P50:   ms(h.ValueAtPercentile(50)),
		P90:   ms(h.ValueAtPercentile(90)),
		P99:   ms(h.ValueAtPercentile(99)),
		P999:  ms(h.ValueAtPercentile(99.9)),
		Max:   ms(h.Max()),
	}
	// Percentiles 100·(1 − 10^(−k/10)): ten points per "nine", from the
	// median (k = 3) up to 99.999, then the maximum.
	s.CDF = append(s.CDF, CDFPoint{0, ms(h.Min())})
	for k := 0; k <= 50; k++ {
		p := 100 * (1 - math.Pow(10, -float64(k)/10))
		s.CDF = append(s.CDF, CDFPoint{round(p, 4), ms(h.ValueAtPercentile(p))})
	}
	s.CDF = append(s.CDF, CDFPoint{100, ms(h.Max())})
	return s
}

func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}
