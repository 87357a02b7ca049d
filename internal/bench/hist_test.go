package bench

import (
	"sync"
	"testing"
)

func TestLatencyRecorderMerge(t *testing.T) {
	r := newLatencyRecorder(8)
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vals := make([]int64, 0, 100)
			for v := int64(1); v <= 1000; v++ {
				vals = append(vals, v*1000) // 1 ms … 1000 ms
				if len(vals) == cap(vals) {
					r.record(g, vals)
					vals = vals[:0]
				}
			}
		}()
	}
	wg.Wait()
	h := r.merged()
	if h.TotalCount() != 16000 {
		t.Fatalf("count %d, want 16000", h.TotalCount())
	}
	s := summarize(h)
	if s.P50 < 495 || s.P50 > 505 || s.P99 < 985 || s.P99 > 995 || s.Max < 999 || s.Max > 1001 {
		t.Fatalf("percentiles off: %+v", s)
	}
	if len(s.CDF) == 0 || s.CDF[len(s.CDF)-1].Percentile != 100 {
		t.Fatalf("bad CDF: %v", s.CDF)
	}
	for i := 1; i < len(s.CDF); i++ {
		if s.CDF[i].Ms < s.CDF[i-1].Ms || s.CDF[i].Percentile < s.CDF[i-1].Percentile {
			t.Fatalf("CDF not monotonic at %d: %v", i, s.CDF[i-1:i+1])
		}
	}
}

// Workers send their histograms encoded; the parent merges them.
func TestHistogramEncodeMerge(t *testing.T) {
	a, b := newLatencyRecorder(1), newLatencyRecorder(3)
	a.record(0, []int64{100, 200, 300})
	b.record(1, []int64{400, 500})
	b.record(2, []int64{0, -5, histHighest * 2}) // clamped, still counted
	total := newHistogram()
	for _, r := range []*latencyRecorder{a, b} {
		enc, err := encodeHistogram(r.merged())
		if err != nil {
			t.Fatal(err)
		}
		h, err := decodeHistogram(enc)
		if err != nil {
			t.Fatal(err)
		}
		total.Merge(h)
	}
	if total.TotalCount() != 8 {
		t.Fatalf("count %d, want 8", total.TotalCount())
	}
	if total.Min() != histLowest || total.Max() < histHighest*999/1000 {
		t.Fatalf("min %d max %d", total.Min(), total.Max())
	}
	if _, err := decodeHistogram([]byte("junk")); err == nil {
		t.Fatal("decoding junk succeeded")
	}
	if h, err := decodeHistogram(nil); err != nil || h.TotalCount() != 0 {
		t.Fatalf("empty: %v, %v", h, err)
	}
	if s := summarize(newHistogram()); s.Count != 0 || s.CDF != nil {
		t.Fatalf("empty summary: %+v", s)
	}
}
