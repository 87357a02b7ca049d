package redis

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald"
)

// waitLimit bounds every wait for a condition in this package's tests.
const waitLimit = 30 * time.Second

// A sink is a listener that records deliveries and checks their order.
type sink struct {
	t      testing.TB
	name   string
	mu     sync.Mutex
	got    []*herald.Update
	count  map[string]int
	change chan struct{}
}

func listen(t testing.TB, tr *Transport, name string) *sink {
	t.Helper()
	s := &sink{t: t, name: name, count: map[string]int{}, change: make(chan struct{})}
	stop, err := tr.Listen(s.deliver)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(stop)
	return s
}

func (s *sink) deliver(u *herald.Update) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.got); n > 0 && u.Seq <= s.got[n-1].Seq {
		s.t.Errorf("%s: %q (Seq %d) delivered after Seq %d", s.name, u.ID, u.Seq, s.got[n-1].Seq)
	}
	s.got = append(s.got, u)
	s.count[u.ID]++
	close(s.change)
	s.change = make(chan struct{})
}

// waitFor waits until every id in ids was delivered.
func (s *sink) waitFor(ids []string) {
	s.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		s.mu.Lock()
		missing := 0
		first := ""
		for _, id := range ids {
			if s.count[id] == 0 {
				if missing == 0 {
					first = id
				}
				missing++
			}
		}
		ch := s.change
		s.mu.Unlock()
		if missing == 0 {
			return
		}
		select {
		case <-ch:
		case <-time.After(time.Until(deadline)):
			s.t.Fatalf("%s: %d of %d updates not delivered within %v, first %q", s.name, missing, len(ids), waitLimit, first)
		}
	}
}

// checkOnce fails the test for every id of ids not delivered exactly once.
func (s *sink) checkOnce(ids []string) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		if n := s.count[id]; n != 1 {
			s.t.Errorf("%s: %q delivered %d times; want once", s.name, id, n)
		}
	}
	for id, n := range s.count {
		if n > 1 {
			s.t.Errorf("%s: %q delivered %d times", s.name, id, n)
		}
	}
}

func (s *sink) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.got))
	for i, u := range s.got {
		out[i] = u.ID
	}
	return out
}

func newUpdate(id string) *herald.Update {
	return &herald.Update{ID: id, Topics: []string{"https://example.com/t"}, Data: "data of " + id, Time: time.Now()}
}

func mustPublish(t testing.TB, tr *Transport, id string) *herald.Update {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	u := newUpdate(id)
	if err := tr.Publish(ctx, u); err != nil {
		t.Fatalf("Publish(%s): %v", id, err)
	}
	return u
}

// allHistory reads the whole history from the oldest update kept.
func allHistory(t testing.TB, tr *Transport) []*herald.Update {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	var all []*herald.Update
	q := herald.HistoryQuery{AfterID: herald.EarliestID, Limit: 1000}
	for {
		p, err := tr.History(ctx, q)
		if err != nil {
			t.Fatalf("History(%+v): %v", q, err)
		}
		if len(p.Updates) == 0 {
			return all
		}
		all = append(all, p.Updates...)
		q = herald.HistoryQuery{AfterSeq: p.Updates[len(p.Updates)-1].Seq, Limit: 1000}
	}
}

// waitUntil polls cond until it holds or waitLimit passes.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, waitLimit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ids(us []*herald.Update) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.ID
	}
	return out
}

func idRange(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s-%d", prefix, i))
	}
	return out
}
