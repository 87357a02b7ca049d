package bench

import (
	"math/rand/v2"
	"testing"
)

func TestSeqTrackerInOrder(t *testing.T) {
	var tr seqTracker
	for s := uint64(1); s <= 100; s++ {
		if got := tr.observe(s); got != arrivedInOrder {
			t.Fatalf("seq %d: %v, want in order", s, got)
		}
	}
	if lost, extra := tr.missing(100); lost != 0 || extra != 0 {
		t.Fatalf("missing(100) = %d, %d; want 0, 0", lost, extra)
	}
	if lost, _ := tr.missing(105); lost != 5 {
		t.Fatalf("missing(105) lost = %d, want 5 (the unseen tail)", lost)
	}
	if _, extra := tr.missing(90); extra != 10 {
		t.Fatalf("missing(90) extra = %d, want 10", extra)
	}
}

func TestSeqTrackerGapsReorderDuplicates(t *testing.T) {
	var tr seqTracker
	steps := []struct {
		seq  uint64
		want arrival
	}{
		{1, arrivedInOrder},
		{2, arrivedInOrder},
		{2, arrivedDuplicate},
		{6, arrivedAhead}, // gap 3..5
		{4, arrivedReordered},
		{4, arrivedDuplicate},
		{10, arrivedAhead}, // gap 7..9
		{3, arrivedReordered},
		{5, arrivedReordered}, // gap 3..5 is now closed
		{5, arrivedDuplicate},
		{1, arrivedDuplicate},
		{8, arrivedReordered}, // splits 7..9
		{0, arrivedInvalid},
		{11, arrivedInOrder},
	}
	for i, s := range steps {
		if got := tr.observe(s.seq); got != s.want {
			t.Fatalf("step %d: observe(%d) = %v, want %v", i, s.seq, got, s.want)
		}
	}
	// Never seen: 7 and 9.
	if lost, extra := tr.missing(11); lost != 2 || extra != 0 {
		t.Fatalf("missing(11) = %d, %d; want 2, 0", lost, extra)
	}
	if lost, extra := tr.missing(13); lost != 4 || extra != 0 {
		t.Fatalf("missing(13) = %d, %d; want 4, 0", lost, extra)
	}
	// Only 1..8 acknowledged: 7 lost; 9 unseen but above; 10, 11 extra.
	if lost, extra := tr.missing(8); lost != 1 || extra != 2 {
		t.Fatalf("missing(8) = %d, %d; want 1, 2", lost, extra)
	}
}

// TestSeqTrackerRandom checks the tracker against a plain set on shuffled,
// partly dropped and partly repeated sequences.
func TestSeqTrackerRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 200; round++ {
		n := 1 + r.IntN(300)
		var arrivals []uint64
		for s := uint64(1); s <= uint64(n); s++ {
			if r.IntN(10) == 0 {
				continue // dropped
			}
			arrivals = append(arrivals, s)
			if r.IntN(20) == 0 {
				arrivals = append(arrivals, s) // duplicated
			}
		}
		// Move a few arrivals later.
		for k := 0; k < len(arrivals)/10; k++ {
			i, j := r.IntN(len(arrivals)), r.IntN(len(arrivals))
			arrivals[i], arrivals[j] = arrivals[j], arrivals[i]
		}
		var tr seqTracker
		seen := map[uint64]bool{}
		var hi uint64
		for _, s := range arrivals {
			got := tr.observe(s)
			var want arrival
			switch {
			case seen[s]:
				want = arrivedDuplicate
			case s == hi+1:
				want = arrivedInOrder
			case s > hi:
				want = arrivedAhead
			default:
				want = arrivedReordered
			}
			if got != want {
				t.Fatalf("round %d: observe(%d) = %v, want %v", round, s, got, want)
			}
			seen[s] = true
			hi = max(hi, s)
		}
		for _, exp := range []uint64{0, uint64(n) / 2, uint64(n), uint64(n) + 7} {
			var wantLost, wantExtra uint64
			for s := uint64(1); s <= exp; s++ {
				if !seen[s] {
					wantLost++
				}
			}
			for s := range seen {
				if s > exp {
					wantExtra++
				}
			}
			lost, extra := tr.missing(exp)
			if lost != wantLost || extra != wantExtra {
				t.Fatalf("round %d: missing(%d) = %d, %d; want %d, %d", round, exp, lost, extra, wantLost, wantExtra)
			}
		}
	}
}
