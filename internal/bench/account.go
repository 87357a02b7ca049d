package bench

// seqTracker does the exact accounting of one publisher's sequence as
// seen by one subscriber. Sequence numbers start at 1 and each publisher
// numbers its acknowledged updates densely, so whatever is missing below
// the highest number seen is a gap, an arrival inside a gap is a
// reordered delivery, and an arrival that is neither new nor inside a gap
// is a duplicate.
//
// In order (the common case) a delivery costs one comparison; gaps are
// kept as a short list of ranges, which is empty on a healthy hub.
type seqTracker struct {
	hi   uint64 // highest sequence number seen; 0: none yet
	gaps []span // missing ranges below hi, in ascending order, disjoint
}

// span is the inclusive range [lo, hi] of missing sequence numbers.
type span struct{ lo, hi uint64 }

// arrival is what one delivery turned out to be.
type arrival uint8

const (
	arrivedInOrder   arrival = iota // the next expected number
	arrivedAhead                    // new, after a gap it opened
	arrivedReordered                // filled a gap: new, but late
	arrivedDuplicate                // already seen
	arrivedInvalid                  // sequence number 0
)

// observe records the arrival of seq and says what it was.
func (t *seqTracker) observe(seq uint64) arrival {
	switch {
	case seq == 0:
		return arrivedInvalid
	case seq == t.hi+1:
		t.hi = seq
		return arrivedInOrder
	case seq > t.hi:
		t.gaps = append(t.gaps, span{t.hi + 1, seq - 1})
		t.hi = seq
		return arrivedAhead
	}
	// seq <= hi: either it fills a gap or it is a duplicate. Late arrivals
	// are usually in the most recent gap, so search from the end.
	for i := len(t.gaps) - 1; i >= 0; i-- {
		g := t.gaps[i]
		if seq > g.hi {
			return arrivedDuplicate
		}
		if seq < g.lo {
			continue
		}
		switch {
		case g.lo == g.hi:
			t.gaps = append(t.gaps[:i], t.gaps[i+1:]...)
		case seq == g.lo:
			t.gaps[i].lo++
		case seq == g.hi:
			t.gaps[i].hi--
		default:
			// Split the range in two around seq.
			t.gaps = append(t.gaps, span{})
			copy(t.gaps[i+2:], t.gaps[i+1:])
			t.gaps[i] = span{g.lo, seq - 1}
			t.gaps[i+1] = span{seq + 1, g.hi}
		}
		return arrivedReordered
	}
	return arrivedDuplicate
}

// missing returns how many of the numbers 1..expected were never seen,
// and how many numbers above expected were seen (updates the publisher
// does not count as acknowledged, such as one whose response was lost).
func (t *seqTracker) missing(expected uint64) (lost, extra uint64) {
	for _, g := range t.gaps {
		lo, hi := g.lo, g.hi
		if lo > expected {
			continue
		}
		if hi > expected {
			hi = expected
		}
		lost += hi - lo + 1
	}
	if t.hi < expected {
		lost += expected - t.hi
	} else {
		extra = t.hi - expected
		// Numbers above expected inside gaps were not seen either.
		for _, g := range t.gaps {
			lo, hi := g.lo, g.hi
			if hi <= expected {
				continue
			}
			if lo <= expected {
				lo = expected + 1
			}
			extra -= hi - lo + 1
		}
	}
	return lost, extra
}
