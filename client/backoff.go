package client

import (
	"math"
	"time"
)

// Defaults of the reconnection policy; see the package documentation.
const (
	// DefaultInitialDelay is the reconnection time until the server sends
	// a "retry" field; browsers use about the same.
	DefaultInitialDelay = 3 * time.Second
	// DefaultMaxDelay caps the exponential backoff.
	DefaultMaxDelay = 30 * time.Second
	// DefaultHealthyAfter is how long a connection must stay open before
	// the backoff goes back to the reconnection time (LaunchDarkly's
	// figure: a shorter one lets a server that drops every stream after a
	// few seconds be hammered at the base rate).
	DefaultHealthyAfter = 60 * time.Second
	// MinServerRetry is the smallest reconnection time a server's "retry"
	// field can set: "retry: 0" must not become a tight reconnection loop.
	MinServerRetry = 100 * time.Millisecond
)

// backoff returns how long to wait before reconnection number n (0 for the
// first since the last healthy connection) with reconnection time base
// and cap max, given r uniformly random in [0, 1):
//
//	d = min(max, base × 2^n)    wait = d + r × d/2
//
// The result is never below min(base, max), never 0 unless base is, and
// below 1.5 × max.
func backoff(base, max time.Duration, n int, r float64) time.Duration {
	d := base
	if d > max {
		d = max
	}
	for i := 0; i < n && d < max; i++ {
		d *= 2 // d < max <= MaxInt64/2 in practice; capped below anyway
		if d > max || d < 0 {
			d = max
		}
	}
	if r < 0 || r >= 1 || math.IsNaN(r) {
		r = 0
	}
	j := time.Duration(r * float64(d/2))
	if d > math.MaxInt64-j {
		return math.MaxInt64
	}
	return d + j
}

// msToDuration converts a retry value in milliseconds to a Duration,
// saturating instead of overflowing.
func msToDuration(ms uint64) time.Duration {
	if ms > uint64(math.MaxInt64/int64(time.Millisecond)) {
		return math.MaxInt64
	}
	return time.Duration(ms) * time.Millisecond
}

// clock is the time source of a Client; tests replace it so that
// backoff, health and read timeouts can be checked without sleeping.
type clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) timer
}

// timer is the part of *time.Timer that a Client uses.
type timer interface {
	Stop() bool
	Reset(d time.Duration) bool
}

type realClock struct{}

func (realClock) Now() time.Time                            { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) timer { return time.AfterFunc(d, f) }
