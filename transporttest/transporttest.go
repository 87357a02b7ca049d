// Package transporttest is the conformance suite every herald.Transport
// must pass: ordering, history cursors and bounds, field round-trips,
// concurrent publishers, listener and close semantics, and, where the
// transport offers them, clustering (Peer) and durability (Reopen).
//
// A transport's own test calls Run with a Harness:
//
//	func TestConformance(t *testing.T) {
//		transporttest.Run(t, transporttest.Harness{
//			New: func(t *testing.T, b transporttest.Bounds) herald.Transport {
//				tr := open(t, b) // a fresh, empty backend
//				t.Cleanup(func() { tr.Close() })
//				return tr
//			},
//		})
//	}
//
// The suite closes some transports itself, so Close must be safe to call
// more than once (the harness's cleanup closes them again).
package transporttest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald"
)

// Bounds are the history bounds a test asks a fresh backend for.
type Bounds struct {
	Size   int           // most updates kept; 0 for the backend's default
	MaxAge time.Duration // age past which updates are dropped; 0 for the default
}

// A Harness opens transports for the suite.
type Harness struct {
	// New opens a transport on a fresh, empty backend bounded by b (zero
	// fields: the transport's defaults).
	New func(t *testing.T, b Bounds) herald.Transport
	// Peer opens another node's transport on the same backend as tr (a
	// cluster transport). Nil for single-node transports.
	Peer func(t *testing.T, tr herald.Transport) herald.Transport
	// Reopen closes tr and opens it again on the same storage (a durable
	// transport). Nil for non-durable ones.
	Reopen func(t *testing.T, tr herald.Transport) herald.Transport
}

// waitLimit bounds every wait for a condition. It is generous on purpose:
// the suite runs under -race on small, loaded machines, and a correct
// transport meets every condition long before it.
const waitLimit = 30 * time.Second

// Run runs the conformance suite against the transports h opens. Each
// property is its own subtest.
func Run(t *testing.T, h Harness) {
	if h.New == nil {
		t.Fatal("transporttest: Harness.New is nil")
	}
	s := &suite{h: h}
	t.Run("PublishSetsIncreasingSeq", s.publishSetsSeq)
	t.Run("ListenOrderAndVisibility", s.listenOrder)
	t.Run("HistoryEmpty", s.historyEmpty)
	t.Run("HistoryAfterID", s.historyAfterID)
	t.Run("HistoryEarliest", s.historyEarliest)
	t.Run("HistoryUnknownID", s.historyUnknownID)
	t.Run("HistoryAfterSeqPaging", s.historyPaging)
	t.Run("CountBound", s.countBound)
	t.Run("AgeBound", s.ageBound)
	t.Run("FieldsRoundTrip", s.fieldsRoundTrip)
	t.Run("ConcurrentPublishers", s.concurrentPublishers)
	t.Run("ListenStop", s.listenStop)
	t.Run("Close", s.close)
	t.Run("PublishCancelledContext", s.cancelledContext)
	if h.Peer != nil {
		t.Run("Peer", s.peer)
	}
	if h.Reopen != nil {
		t.Run("Reopen", s.reopen)
	}
}

type suite struct {
	h Harness
	// blocking is set once a transport was seen not to answer History
	// while one of its listeners runs (it delivers under a lock, as
	// MemoryTransport does). Visibility checks then stop waiting for the
	// answer inside the listener and check it when it comes.
	blocking atomic.Bool
}

// update returns a publishable update, filled in as Hub.Publish would.
func update(id string, topics ...string) *herald.Update {
	if len(topics) == 0 {
		topics = []string{"https://example.com/t"}
	}
	return &herald.Update{ID: id, Topics: topics, Data: "data of " + id, Time: time.Now()}
}

func publish(t *testing.T, tr herald.Transport, u *herald.Update) *herald.Update {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := tr.Publish(ctx, u); err != nil {
		t.Fatalf("Publish(%q): %v", u.ID, err)
	}
	return u
}

// publishCopies publishes a copy of each of want and records in want the
// Seq the transport gave the copy. Publishing copies means a transport that
// keeps or changes the caller's update cannot make a later comparison with
// want pass.
func publishCopies(t *testing.T, tr herald.Transport, want []*herald.Update) {
	t.Helper()
	for _, u := range want {
		cp := *u
		cp.Topics = slices.Clone(u.Topics)
		publish(t, tr, &cp)
		u.Seq = cp.Seq
	}
}

// publishN publishes n updates with ids prefix-0 … prefix-(n-1) and returns
// them in publish order.
func publishN(t *testing.T, tr herald.Transport, prefix string, n int) []*herald.Update {
	t.Helper()
	out := make([]*herald.Update, n)
	for i := range out {
		out[i] = publish(t, tr, update(fmt.Sprintf("%s-%d", prefix, i)))
	}
	return out
}

func history(t *testing.T, tr herald.Transport, q herald.HistoryQuery) herald.HistoryPage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	p, err := tr.History(ctx, q)
	if err != nil {
		t.Fatalf("History(%+v): %v", q, err)
	}
	checkPage(t, q, p)
	return p
}

// checkPage checks what holds for every page: increasing Seq, the limit,
// Found for earliest and AfterSeq queries, nothing at or before AfterSeq.
func checkPage(t *testing.T, q herald.HistoryQuery, p herald.HistoryPage) {
	t.Helper()
	if q.Limit > 0 && len(p.Updates) > q.Limit {
		t.Errorf("History(%+v): %d updates, more than the limit", q, len(p.Updates))
	}
	if (q.AfterSeq != 0 || q.AfterID == herald.EarliestID) && !p.Found {
		t.Errorf("History(%+v): Found = false; want true for earliest and AfterSeq queries", q)
	}
	for i, u := range p.Updates {
		if u == nil {
			t.Fatalf("History(%+v): update %d is nil", q, i)
		}
		if i > 0 && u.Seq <= p.Updates[i-1].Seq {
			t.Errorf("History(%+v): Seq %d after %d: not increasing", q, u.Seq, p.Updates[i-1].Seq)
		}
		if q.AfterSeq != 0 && u.Seq <= q.AfterSeq {
			t.Errorf("History(%+v): update %q has Seq %d, not after %d", q, u.ID, u.Seq, q.AfterSeq)
		}
	}
}

// allHistory pages through the whole history from the oldest update kept.
func allHistory(t *testing.T, tr herald.Transport, limit int) []*herald.Update {
	t.Helper()
	var all []*herald.Update
	q := herald.HistoryQuery{AfterID: herald.EarliestID, Limit: limit}
	for {
		p := history(t, tr, q)
		if len(p.Updates) == 0 {
			return all
		}
		all = append(all, p.Updates...)
		last := p.Updates[len(p.Updates)-1].Seq
		if q.AfterSeq != 0 && last <= q.AfterSeq {
			t.Fatalf("History(%+v) does not advance", q)
		}
		q = herald.HistoryQuery{AfterSeq: last, Limit: limit}
	}
}

func ids(us []*herald.Update) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.ID
	}
	return out
}

func wantIDs(t *testing.T, what string, got []*herald.Update, want []string) {
	t.Helper()
	if g := ids(got); !slices.Equal(g, want) {
		t.Errorf("%s: got ids %s; want %s", what, short(g), short(want))
	}
}

// short abbreviates long id lists in failure messages.
func short(s []string) string {
	if len(s) <= 12 {
		return fmt.Sprintf("%q (%d)", s, len(s))
	}
	return fmt.Sprintf("%q … %q (%d)", s[:5], s[len(s)-5:], len(s))
}

// A collector is a listener that records what it gets and checks the
// Listen contract: one call at a time, increasing Seq and, when visible is
// set, that History already knows each update it is handed.
type collector struct {
	t       *testing.T
	s       *suite
	tr      herald.Transport
	visible bool

	inflight atomic.Int32
	checks   sync.WaitGroup // visibility checks still running

	mu      sync.Mutex
	got     []*herald.Update
	changed chan struct{} // closed and replaced on every delivery
	stop    func()
}

func (s *suite) listen(t *testing.T, tr herald.Transport, visible bool) *collector {
	t.Helper()
	c := &collector{t: t, s: s, tr: tr, visible: visible, changed: make(chan struct{})}
	stop, err := tr.Listen(c.deliver)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	var once sync.Once
	c.stop = func() { once.Do(func() { stop(); c.checks.Wait() }) }
	t.Cleanup(c.stop)
	return c
}

func (c *collector) deliver(u *herald.Update) {
	if n := c.inflight.Add(1); n != 1 {
		c.t.Errorf("Listen: %d deliver calls run at once; want one at a time", n)
	}
	defer c.inflight.Add(-1)
	if u == nil {
		c.t.Errorf("Listen: delivered a nil update")
		return
	}
	if c.visible {
		c.checkVisible(u)
	}
	c.mu.Lock()
	if n := len(c.got); n > 0 && u.Seq <= c.got[n-1].Seq {
		c.t.Errorf("Listen: %q (Seq %d) delivered after %q (Seq %d): not in increasing Seq order",
			u.ID, u.Seq, c.got[n-1].ID, c.got[n-1].Seq)
	}
	c.got = append(c.got, u)
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

// checkVisible asks History, from inside the listener, whether it already
// has u. A transport that delivers while holding the lock History needs
// (allowed: deliver must only be quick, not reentrant) cannot answer until
// deliver returns; after waiting a second once, the suite notes that and
// checks the answer when it comes instead, which is weaker but still
// catches an update never stored.
func (c *collector) checkVisible(u *herald.Update) {
	done := make(chan struct{})
	c.checks.Add(1)
	go func() {
		defer c.checks.Done()
		defer close(done)
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		p, err := c.tr.History(ctx, herald.HistoryQuery{AfterID: u.ID, Limit: 1})
		switch {
		case err != nil:
			c.t.Errorf("History(after %q) from the listener: %v", u.ID, err)
		case !p.Found:
			c.t.Errorf("History(after %q) from the listener: Found = false: the update was delivered before it was stored", u.ID)
		case len(p.Updates) > 0 && p.Updates[0].Seq <= u.Seq:
			c.t.Errorf("History(after %q, Seq %d) from the listener starts at Seq %d", u.ID, u.Seq, p.Updates[0].Seq)
		}
	}()
	if c.s.blocking.Load() {
		return
	}
	select {
	case <-done:
	case <-time.After(time.Second):
		if !c.s.blocking.Swap(true) {
			c.t.Logf("History does not answer while a listener runs (the transport delivers under a lock); visibility is checked after delivery")
		}
	}
}

// wait waits until the collector has n updates and returns them.
func (c *collector) wait(n int) []*herald.Update {
	c.t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		got, changed := c.got, c.changed
		c.mu.Unlock()
		if len(got) >= n {
			return slices.Clone(got)
		}
		select {
		case <-changed:
		case <-deadline.C:
			c.t.Fatalf("Listen: got %d updates after %v; want %d (last ids %s)", len(got), waitLimit, n, short(ids(got)))
		}
	}
}

func (s *suite) publishSetsSeq(t *testing.T) {
	tr := s.h.New(t, Bounds{})
	var prev uint64
	for i := range 20 {
		u := publish(t, tr, update(fmt.Sprintf("seq-%d", i)))
		if u.Seq == 0 || u.Seq <= prev {
			t.Fatalf("publish %d: Seq %d after %d; want strictly increasing and non-zero", i, u.Seq, prev)
		}
		prev = u.Seq
	}
}

func (s *suite) listenOrder(t *testing.T) {
	tr := s.h.New(t, Bounds{})
	c := s.listen(t, tr, true)
	pub := publishN(t, tr, "listen", 30)
	got := c.wait(len(pub))
	c.stop()
	wantIDs(t, "delivered", got, ids(pub))
	for i := range min(len(got), len(pub)) {
		if got[i].Seq != pub[i].Seq {
			t.Errorf("delivered %q with Seq %d; Publish set %d", got[i].ID, got[i].Seq, pub[i].Seq)
		}
	}
}

func (s *suite) historyEmpty(t *testing.T) {
	tr := s.h.New(t, Bounds{})
	p := history(t, tr, herald.HistoryQuery{AfterID: herald.EarliestID})
	if len(p.Updates) != 0 || !p.Found {
		t.Errorf("History(earliest) on a fresh backend = %s, Found %v; want empty, found", short(ids(p.Updates)), p.Found)
	}
	p = history(t, tr, herald.HistoryQuery{AfterID: "never-published"})
	if len(p.Updates) != 0 || p.Found {
		t.Errorf("History(unknown id) on a fresh backend = %s, Found %v; want empty, not found", short(ids(p.Updates)), p.Found)
	}
}

func (s *suite) historyAfterID(t *testing.T) {
	tr := s.h.New(t, Bounds{})
	pub := publishN(t, tr, "after", 20)
	for _, k := range []int{0, 5, 18, 19} {
		p := history(t, tr, herald.HistoryQuery{AfterID: pub[k].ID, Limit: 100})
		if !p.Found {
			t.Errorf("History(after %q): Found = false; want true", pub[k].ID)
		}
		wantIDs(t, fmt.Sprintf("History(after %q)", pub[k].ID), p.Updates, ids(pub[k+1:]))
	}
	// A limit cuts the page without moving its start.
	p := history(t, tr, herald.HistoryQuery{AfterID: pub[5].ID, Limit: 3})
	wantIDs(t, fmt.Sprintf("History(after %q, limit 3)", pub[5].ID), p.Updates, ids(pub[6:9]))
	// No limit: the transport's default page, from the same start.
	p = history(t, tr, herald.HistoryQuery{AfterID: pub[5].ID})
	if len(p.Updates) == 0 || p.Updates[0].ID != pub[6].ID {
		t.Errorf("History(after %q, no limit) = %s; want it to start at %q", pub[5].ID, short(ids(p.Updates)), pub[6].ID)
	}
}

func (s *suite) historyEarliest(t *testing.T) {
	tr := s.h.New(t, Bounds{})
	pub := publishN(t, tr, "earliest", 20)
	p := history(t, tr, herald.HistoryQuery{AfterID: herald.EarliestID, Limit: 100})
	wantIDs(t, "History(earliest)", p.Updates, ids(pub))
	for i := range min(len(p.Updates), len(pub)) {
		if p.Updates[i].Seq != pub[i].Seq {
			t.Errorf("History(earliest): %q has Seq %d; Publish set %d", p.Updates[i].ID, p.Updates[i].Seq, pub[i].Seq)
		}
	}
}

func (s *suite) historyUnknownID(t *testing.T) {
	tr := s.h.New(t, Bounds{})
	pub := publishN(t, tr, "unknown", 10)
	p := history(t, tr, herald.HistoryQuery{AfterID: "no-such-id", Limit: 100})
	if p.Found {
		t.Errorf("History(unknown id): Found = true; want false")
	}
	wantIDs(t, "History(unknown id)", p.Updates, ids(pub))
}

func (s *suite) historyPaging(t *testing.T) {
	tr := s.h.New(t, Bounds{})
	pub := publishN(t, tr, "page", 23)
	var got []*herald.Update
	p := history(t, tr, herald.HistoryQuery{AfterID: herald.EarliestID, Limit: 7})
	for pages := 0; len(p.Updates) > 0; pages++ {
		if pages > 10 {
			t.Fatalf("paging does not end: %s", short(ids(got)))
		}
		want := min(7, len(pub)-len(got))
		if len(p.Updates) != want {
			t.Errorf("page %d has %d updates; want %d", pages, len(p.Updates), want)
		}
		got = append(got, p.Updates...)
		p = history(t, tr, herald.HistoryQuery{AfterSeq: p.Updates[len(p.Updates)-1].Seq, Limit: 7})
	}
	wantIDs(t, "paged history", got, ids(pub))
	// After the newest update: an empty page, found.
	p = history(t, tr, herald.HistoryQuery{AfterSeq: pub[len(pub)-1].Seq, Limit: 7})
	if len(p.Updates) != 0 {
		t.Errorf("History(after the newest Seq) = %s; want empty", short(ids(p.Updates)))
	}
}

func (s *suite) countBound(t *testing.T) {
	const size = 100
	tr := s.h.New(t, Bounds{Size: size})
	pub := publishN(t, tr, "count", size+50)
	kept := pub[50:]
	wantIDs(t, fmt.Sprintf("history bounded to %d", size), allHistory(t, tr, 30), ids(kept))
	p := history(t, tr, herald.HistoryQuery{AfterID: pub[10].ID, Limit: size + 100})
	if p.Found {
		t.Errorf("History(after evicted %q): Found = true; want false", pub[10].ID)
	}
	wantIDs(t, fmt.Sprintf("History(after evicted %q)", pub[10].ID), p.Updates, ids(kept))
	// The oldest kept id is still a valid cursor.
	p = history(t, tr, herald.HistoryQuery{AfterID: kept[0].ID, Limit: size + 100})
	if !p.Found {
		t.Errorf("History(after the oldest kept %q): Found = false; want true", kept[0].ID)
	}
	wantIDs(t, fmt.Sprintf("History(after %q)", kept[0].ID), p.Updates, ids(kept[1:]))
	// An AfterSeq from before the oldest kept update starts at the oldest.
	p = history(t, tr, herald.HistoryQuery{AfterSeq: pub[10].Seq, Limit: size + 100})
	wantIDs(t, fmt.Sprintf("History(after evicted Seq %d)", pub[10].Seq), p.Updates, ids(kept))
}

func (s *suite) ageBound(t *testing.T) {
	const age = time.Second
	tr := s.h.New(t, Bounds{MaxAge: age})
	old := publishN(t, tr, "old", 5)
	deadline := time.Now().Add(age + waitLimit)
	for {
		p := history(t, tr, herald.HistoryQuery{AfterID: herald.EarliestID, Limit: 100})
		if len(p.Updates) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("history still holds %s %v after publishing with MaxAge %v", short(ids(p.Updates)), waitLimit+age, age)
		}
		time.Sleep(50 * time.Millisecond)
	}
	p := history(t, tr, herald.HistoryQuery{AfterID: old[2].ID, Limit: 100})
	if p.Found || len(p.Updates) != 0 {
		t.Errorf("History(after expired %q) = %s, Found %v; want empty, not found", old[2].ID, short(ids(p.Updates)), p.Found)
	}
	// The transport keeps working once everything expired.
	fresh := publish(t, tr, update("fresh"))
	if fresh.Seq <= old[len(old)-1].Seq {
		t.Errorf("Seq after expiry = %d; want more than %d", fresh.Seq, old[len(old)-1].Seq)
	}
	p = history(t, tr, herald.HistoryQuery{AfterID: herald.EarliestID, Limit: 100})
	if len(p.Updates) > 0 && p.Updates[len(p.Updates)-1].ID != "fresh" {
		t.Errorf("History(earliest) after expiry = %s; want it to end with \"fresh\"", short(ids(p.Updates)))
	}
}

// roundTripUpdates covers every field with values that break naive
// encodings.
func roundTripUpdates() []*herald.Update {
	now := time.Now()
	big := strings.Repeat("0123456789abcdef\n", 4096) // 68 KiB, many lines
	return []*herald.Update{
		{
			ID:      "urn:uuid:6a4b2c8e-0f00-4d3c-9a1b-7e5f3d2c1b0a",
			Topics:  []string{"https://example.com/books/1", "https://example.com/users/dunglas/{id}", "urn:isbn:978-0", "/relative/topic"},
			Data:    "line1\rline2\nline3\r\nline4\r\n\r\nafter a blank line\n",
			Type:    "book-updated",
			Retry:   "2500",
			Private: true,
			Final:   true,
			Time:    now,
		},
		{
			ID:     "ünïcødé-ид-标识-🎉",
			Topics: []string{"https://example.com/😀/ü", "topic with spaces"},
			Data:   "héllo wörld — 世界 🎉\u2028\u00a0 : data: id: x\n  leading and trailing spaces  ",
			Time:   now.Add(time.Microsecond + 123*time.Nanosecond),
		},
		{
			ID:     "empty-data",
			Topics: []string{"https://example.com/t"},
			Data:   "",
			Time:   now.Add(2 * time.Microsecond),
		},
		{
			ID:      "big",
			Topics:  []string{"https://example.com/big"},
			Data:    big,
			Type:    "x",
			Retry:   "0",
			Private: true,
			Time:    now.Add(3 * time.Microsecond),
		},
		{
			ID:     "final-public",
			Topics: []string{"https://example.com/end"},
			Data:   "\n",
			Final:  true,
			Time:   now.Add(4 * time.Microsecond),
		},
	}
}

func sameUpdate(t *testing.T, where string, got, want *herald.Update) {
	t.Helper()
	if got.ID != want.ID {
		t.Errorf("%s: ID %q; want %q", where, got.ID, want.ID)
	}
	if !slices.Equal(got.Topics, want.Topics) {
		t.Errorf("%s %q: Topics %q; want %q", where, want.ID, got.Topics, want.Topics)
	}
	if got.Data != want.Data {
		t.Errorf("%s %q: Data %q; want %q", where, want.ID, trunc(got.Data), trunc(want.Data))
	}
	if got.Type != want.Type || got.Retry != want.Retry || got.Private != want.Private || got.Final != want.Final {
		t.Errorf("%s %q: Type %q Retry %q Private %v Final %v; want %q %q %v %v", where, want.ID,
			got.Type, got.Retry, got.Private, got.Final, want.Type, want.Retry, want.Private, want.Final)
	}
	if got.Seq != want.Seq {
		t.Errorf("%s %q: Seq %d; Publish set %d", where, want.ID, got.Seq, want.Seq)
	}
	if d := got.Time.Sub(want.Time); d >= time.Microsecond || d <= -time.Microsecond {
		t.Errorf("%s %q: Time %v; want %v (within 1µs)", where, want.ID, got.Time, want.Time)
	}
}

func trunc(s string) string {
	if len(s) > 80 {
		return fmt.Sprintf("%s…(%d bytes)", s[:80], len(s))
	}
	return s
}

func (s *suite) fieldsRoundTrip(t *testing.T) {
	tr := s.h.New(t, Bounds{})
	c := s.listen(t, tr, false)
	want := roundTripUpdates()
	publishCopies(t, tr, want)
	got := c.wait(len(want))
	for i := range want {
		sameUpdate(t, "delivered", got[i], want[i])
	}
	p := history(t, tr, herald.HistoryQuery{AfterID: herald.EarliestID, Limit: 100})
	if len(p.Updates) != len(want) {
		t.Fatalf("History(earliest) = %s; want %d updates", short(ids(p.Updates)), len(want))
	}
	for i := range want {
		sameUpdate(t, "history", p.Updates[i], want[i])
	}
}

func (s *suite) concurrentPublishers(t *testing.T) {
	const publishers, each = 8, 200
	tr := s.h.New(t, Bounds{Size: 5000})
	c := s.listen(t, tr, false)
	var wg sync.WaitGroup
	errs := make(chan error, publishers)
	for p := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var prev uint64
			for i := range each {
				u := update(fmt.Sprintf("p%d-%d", p, i), fmt.Sprintf("https://example.com/p/%d", p))
				ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
				err := tr.Publish(ctx, u)
				cancel()
				if err != nil {
					errs <- fmt.Errorf("publisher %d, update %d: %w", p, i, err)
					return
				}
				if u.Seq <= prev {
					errs <- fmt.Errorf("publisher %d: Seq %d after its own %d", p, u.Seq, prev)
					return
				}
				prev = u.Seq
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	got := c.wait(publishers * each)
	seen := make(map[string]int, len(got))
	for _, u := range got {
		seen[u.ID]++
	}
	for p := range publishers {
		for i := range each {
			if id := fmt.Sprintf("p%d-%d", p, i); seen[id] != 1 {
				t.Errorf("update %q delivered %d times; want once", id, seen[id])
			}
		}
	}
	if len(got) != publishers*each {
		t.Errorf("delivered %d updates; want %d", len(got), publishers*each)
	}
	hist := allHistory(t, tr, 500)
	wantIDs(t, "history after concurrent publishes", hist, ids(got))
}

func (s *suite) listenStop(t *testing.T) {
	tr := s.h.New(t, Bounds{})
	other := s.listen(t, tr, false)

	entered := make(chan *herald.Update, 1)
	release := make(chan struct{})
	var after atomic.Int32 // calls after stop returned
	var stopped atomic.Bool
	stop, err := tr.Listen(func(u *herald.Update) {
		if stopped.Load() {
			after.Add(1)
			return
		}
		select {
		case entered <- u:
			<-release
		default:
		}
	})
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	// The listener blocks inside its first call; Publish may wait for it,
	// so it runs on its own goroutine.
	pubDone := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*waitLimit)
		defer cancel()
		pubDone <- tr.Publish(ctx, update("blocked"))
	}()
	select {
	case <-entered:
	case <-time.After(waitLimit):
		close(release)
		t.Fatalf("the listener was not called within %v", waitLimit)
	}
	stopDone := make(chan struct{})
	go func() {
		stop()
		stopped.Store(true)
		close(stopDone)
	}()
	// stop must not return while the call runs. A few milliseconds give a
	// wrong implementation the chance to show itself; a correct one never
	// fails here, however slow the machine.
	select {
	case <-stopDone:
		t.Errorf("stop returned while a deliver call was still running")
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	select {
	case <-stopDone:
	case <-time.After(waitLimit):
		t.Fatalf("stop did not return within %v after the running call ended", waitLimit)
	}
	if err := <-pubDone; err != nil {
		t.Fatalf("Publish(blocked): %v", err)
	}
	// Later updates reach the other listener but not the stopped one.
	publishN(t, tr, "after-stop", 5)
	other.wait(6)
	if n := after.Load(); n != 0 {
		t.Errorf("the stopped listener was called %d times after stop returned", n)
	}
	stop() // a second stop is harmless
}

func (s *suite) close(t *testing.T) {
	tr := s.h.New(t, Bounds{})
	publishN(t, tr, "close", 3)
	if err := tr.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := tr.Publish(ctx, update("after-close")); !errors.Is(err, herald.ErrClosed) {
		t.Errorf("Publish after Close: %v; want ErrClosed", err)
	}
	if _, err := tr.History(ctx, herald.HistoryQuery{AfterID: herald.EarliestID}); !errors.Is(err, herald.ErrClosed) {
		t.Errorf("History after Close: %v; want ErrClosed", err)
	}
	if stop, err := tr.Listen(func(*herald.Update) {}); err == nil {
		stop()
		t.Errorf("Listen after Close: no error; want ErrClosed")
	} else if !errors.Is(err, herald.ErrClosed) {
		t.Errorf("Listen after Close: %v; want ErrClosed", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = tr.Close() // a second Close must neither hang nor panic
	}()
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatalf("a second Close did not return within %v", waitLimit)
	}
}

func (s *suite) cancelledContext(t *testing.T) {
	tr := s.h.New(t, Bounds{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := tr.Publish(ctx, update("cancelled")); err == nil {
		t.Errorf("Publish with a cancelled context: no error")
	}
	// The transport still works for the next publisher.
	publish(t, tr, update("next"))
}

func (s *suite) peer(t *testing.T) {
	a := s.h.New(t, Bounds{})
	b := s.h.Peer(t, a)
	ca := s.listen(t, a, true)
	cb := s.listen(t, b, true)

	// Publishers on both nodes at once.
	const each = 50
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for node, tr := range map[string]herald.Transport{"a": a, "b": b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
				err := tr.Publish(ctx, update(fmt.Sprintf("%s-%d", node, i)))
				cancel()
				if err != nil {
					errs <- fmt.Errorf("Publish on node %s: %w", node, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	gotA, gotB := ca.wait(2*each), cb.wait(2*each)
	if !slices.Equal(ids(gotA), ids(gotB)) {
		t.Errorf("nodes got different orders:\n a: %s\n b: %s", short(ids(gotA)), short(ids(gotB)))
	}
	for i := range min(len(gotA), len(gotB)) {
		if gotA[i].ID == gotB[i].ID && gotA[i].Seq != gotB[i].Seq {
			t.Errorf("%q has Seq %d on node a and %d on node b", gotA[i].ID, gotA[i].Seq, gotB[i].Seq)
		}
	}
	seen := map[string]int{}
	for _, u := range gotA {
		seen[u.ID]++
	}
	for _, node := range []string{"a", "b"} {
		for i := range each {
			if id := fmt.Sprintf("%s-%d", node, i); seen[id] != 1 {
				t.Errorf("%q delivered %d times; want once", id, seen[id])
			}
		}
	}
	// Each node's history resumes from ids published on the other.
	for _, tc := range []struct {
		on   herald.Transport
		node string
		id   string
	}{{b, "b", "a-10"}, {a, "a", "b-10"}, {b, "b", "a-49"}, {a, "a", "b-0"}} {
		p := history(t, tc.on, herald.HistoryQuery{AfterID: tc.id, Limit: 1000})
		if !p.Found {
			t.Errorf("History(after %q) on node %s: Found = false; want true", tc.id, tc.node)
			continue
		}
		k := slices.Index(ids(gotA), tc.id)
		if k >= 0 {
			wantIDs(t, fmt.Sprintf("History(after %q) on node %s", tc.id, tc.node), p.Updates, ids(gotA[k+1:]))
		}
	}
	wantIDs(t, "history on node b", allHistory(t, b, 64), ids(gotA))
}

func (s *suite) reopen(t *testing.T) {
	tr := s.h.New(t, Bounds{})
	want := roundTripUpdates()
	publishCopies(t, tr, want)
	more := publishN(t, tr, "before-reopen", 10)
	tr = s.h.Reopen(t, tr)
	p := history(t, tr, herald.HistoryQuery{AfterID: herald.EarliestID, Limit: 100})
	if len(p.Updates) != len(want)+len(more) {
		t.Fatalf("History(earliest) after reopen = %s; want %d updates", short(ids(p.Updates)), len(want)+len(more))
	}
	for i := range want {
		sameUpdate(t, "history after reopen", p.Updates[i], want[i])
	}
	p = history(t, tr, herald.HistoryQuery{AfterID: more[4].ID, Limit: 100})
	if !p.Found {
		t.Errorf("History(after %q) after reopen: Found = false", more[4].ID)
	}
	wantIDs(t, fmt.Sprintf("History(after %q) after reopen", more[4].ID), p.Updates, ids(more[5:]))

	c := s.listen(t, tr, true)
	next := publish(t, tr, update("after-reopen"))
	if last := more[len(more)-1].Seq; next.Seq <= last {
		t.Errorf("Seq after reopen = %d; want more than %d, the last before", next.Seq, last)
	}
	wantIDs(t, "delivered after reopen", c.wait(1), []string{"after-reopen"})
	c.stop()
	// And once more, with nothing published in between.
	tr = s.h.Reopen(t, tr)
	again := publish(t, tr, update("after-second-reopen"))
	if again.Seq <= next.Seq {
		t.Errorf("Seq after a second reopen = %d; want more than %d", again.Seq, next.Seq)
	}
}
