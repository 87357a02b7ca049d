package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/redistest"
)

// TestOutage stops Redis (SIGKILL, as a crash) under two nodes while both
// publish: every publish fails with ErrUnavailable or succeeds, readiness
// fails meanwhile, and once Redis is back every update that was answered
// nil is delivered exactly once on both nodes and is in history. Redis
// runs with appendfsync always, the setting that makes an acknowledged
// write survive a crash.
func TestOutage(t *testing.T) {
	srv := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	cfg := Config{Prefix: newPrefix(t), Timeout: 500 * time.Millisecond, PingInterval: 200 * time.Millisecond}
	a := open(t, srv, cfg, "")
	b := open(t, srv, cfg, "")
	sa, sb := listen(t, a, "node a"), listen(t, b, "node b")

	var (
		mu       sync.Mutex
		accepted []string
		failed   atomic.Int64
		down     atomic.Bool // Redis is stopped
		slowest  atomic.Int64
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for name, tr := range map[string]*Transport{"a": a, "b": b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("%s-%d", name, i)
				ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
				start := time.Now()
				err := tr.Publish(ctx, newUpdate(id))
				took := time.Since(start)
				cancel()
				if err == nil {
					mu.Lock()
					accepted = append(accepted, id)
					mu.Unlock()
					continue
				}
				if !errors.Is(err, herald.ErrUnavailable) {
					t.Errorf("Publish(%s) while Redis was down: %v; want an error wrapping ErrUnavailable", id, err)
					return
				}
				failed.Add(1)
				if down.Load() && int64(took) > slowest.Load() {
					slowest.Store(int64(took))
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	countAccepted := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(accepted)
	}
	waitUntil(t, "200 updates accepted", func() bool { return countAccepted() >= 200 })

	srv.Kill()
	down.Store(true)
	waitUntil(t, "publishes fail while Redis is down", func() bool { return failed.Load() >= 10 })
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	waitUntil(t, "readiness fails on both nodes", func() bool {
		return a.Ping(ctx) != nil && b.Ping(ctx) != nil
	})
	if err := a.Ping(ctx); !errors.Is(err, herald.ErrUnavailable) {
		t.Errorf("Ping while Redis is down: %v; want an error wrapping ErrUnavailable", err)
	}
	before := countAccepted()

	srv.Restart()
	down.Store(false)
	waitUntil(t, "both nodes ready again", func() bool { return a.Ping(ctx) == nil && b.Ping(ctx) == nil })
	waitUntil(t, "publishing resumes", func() bool { return countAccepted() >= before+200 })
	close(stop)
	wg.Wait()

	t.Logf("accepted %d, refused %d; slowest refusal while down %v (timeout %v)",
		countAccepted(), failed.Load(), time.Duration(slowest.Load()), cfg.Timeout)
	mu.Lock()
	want := slices.Clone(accepted)
	mu.Unlock()
	for _, s := range []*sink{sa, sb} {
		s.waitFor(want)
		s.checkOnce(want)
	}
	if !slices.Equal(sa.ids(), sb.ids()) {
		t.Errorf("the nodes delivered different sequences")
	}
	hist := map[string]bool{}
	for _, u := range allHistory(t, a) {
		hist[u.ID] = true
	}
	for _, id := range want {
		if !hist[id] {
			t.Errorf("%q was accepted but is not in history after the restart", id)
		}
	}
}

// storeSilently runs the publish script like a node would, but announces
// on a channel no node listens to: the updates are stored, and the nodes
// learn of them only from the stream. It models Pub/Sub messages lost on
// the way.
func storeSilently(t *testing.T, tr *Transport, idList ...string) {
	t.Helper()
	k := tr.keys
	args := []any{k.channel + ":elsewhere", 0, tr.sizeArg(), tr.cutoff(), len(idList) + 64, tr.tokenTTL(), len(idList)}
	for _, id := range idList {
		u := newUpdate(id)
		blob, _ := u.MarshalBinary()
		args = append(args, id, u.Time.UnixMilli(), blob)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if _, err := tr.runPublish(ctx, []string{k.seq, k.log, k.ids, k.batch + newToken()}, args); err != nil {
		t.Fatal(err)
	}
}

// TestGapFill checks the at-most-once repair: updates whose Pub/Sub
// message never arrived are read from the stream, in order, before the
// next message is delivered (a gap) or after a quiet interval (the idle
// check).
func TestGapFill(t *testing.T) {
	srv := redistest.Start(t)
	cfg := Config{Prefix: newPrefix(t), PingInterval: 200 * time.Millisecond}
	a := open(t, srv, cfg, "")
	b := open(t, srv, cfg, "")
	s := listen(t, b, "node b")

	mustPublish(t, a, "x-0")
	storeSilently(t, a, "x-1", "x-2", "x-3")
	mustPublish(t, a, "x-4")
	want := idRange("x", 0, 5)
	s.waitFor(want)
	if got := s.ids(); !slices.Equal(got, want) {
		t.Errorf("after a gap: delivered %q; want %q", got, want)
	}

	// No message follows: the idle check finds them.
	storeSilently(t, a, "x-5", "x-6")
	want = idRange("x", 0, 7)
	s.waitFor(want)
	if got := s.ids(); !slices.Equal(got, want) {
		t.Errorf("after the idle check: delivered %q; want %q", got, want)
	}
	s.checkOnce(want)
}

// TestRedisLostData restarts Redis without persistence: history is gone
// and the counter starts over in Redis, but seqs keep increasing on every
// node, so that new updates are not dropped as duplicates of old ones.
func TestRedisLostData(t *testing.T) {
	srv := redistest.Start(t)
	cfg := Config{Prefix: newPrefix(t), PingInterval: 200 * time.Millisecond}
	a := open(t, srv, cfg, "")
	b := open(t, srv, cfg, "")
	sb := listen(t, b, "node b")
	var last uint64
	for _, id := range idRange("before", 0, 5) {
		last = mustPublish(t, a, id).Seq
	}
	sb.waitFor(idRange("before", 0, 5))

	srv.Restart()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	waitUntil(t, "both nodes ready again", func() bool { return a.Ping(ctx) == nil && b.Ping(ctx) == nil })
	for _, id := range idRange("after", 0, 5) {
		u := mustPublish(t, a, id)
		if u.Seq <= last {
			t.Errorf("Seq %d after Redis lost its data; want more than %d", u.Seq, last)
		}
		last = u.Seq
	}
	u := mustPublish(t, b, "from-b")
	if u.Seq <= last {
		t.Errorf("Seq %d on the other node; want more than %d", u.Seq, last)
	}
	want := append(idRange("after", 0, 5), "from-b")
	sb.waitFor(want)
	sb.checkOnce(want)
}

// TestPublishClosedAndCancelled covers the error paths a hub relies on.
func TestPublishClosedAndCancelled(t *testing.T) {
	srv := redistest.Start(t)
	tr := open(t, srv, Config{Prefix: newPrefix(t)}, "")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := tr.Publish(ctx, newUpdate("cancelled")); !errors.Is(err, context.Canceled) {
		t.Errorf("Publish with a cancelled context: %v", err)
	}
	if err := tr.Ping(context.Background()); err != nil {
		t.Errorf("Ping: %v", err)
	}
	tr.Close()
	if err := tr.Ping(context.Background()); !errors.Is(err, herald.ErrClosed) {
		t.Errorf("Ping after Close: %v; want ErrClosed", err)
	}
}

// TestOpenFailsFast checks that a node that cannot reach Redis at startup
// says so instead of starting.
func TestOpenFailsFast(t *testing.T) {
	port := redistest.FreePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := Open(ctx, fmt.Sprintf("redis://127.0.0.1:%d/0", port), Config{})
	if !errors.Is(err, herald.ErrUnavailable) {
		t.Errorf("Open on a closed port: %v; want an error wrapping ErrUnavailable", err)
	}
	srv := redistest.Start(t, "--requirepass", "sesame")
	_, err = Open(ctx, srv.URL(), Config{})
	if err == nil || errors.Is(err, herald.ErrUnavailable) {
		t.Errorf("Open without the password: %v; want an authentication error", err)
	}
	tr, err := Open(ctx, "redis://:sesame@"+srv.Addr()+"/0", Config{Prefix: newPrefix(t)})
	if err != nil {
		t.Fatalf("Open with the password: %v", err)
	}
	tr.Close()
}

// TestBatchRetryStoredOnce runs one batch twice under the same token, as
// a retry after a lost reply does: the second run answers the first's
// seqs and stores nothing.
func TestBatchRetryStoredOnce(t *testing.T) {
	srv := redistest.Start(t)
	tr := open(t, srv, Config{Prefix: newPrefix(t)}, "")
	k := tr.keys
	u := newUpdate("retried")
	blob, _ := u.MarshalBinary()
	keys := []string{k.seq, k.log, k.ids, k.batch + newToken()}
	args := []any{k.channel, 0, tr.sizeArg(), tr.cutoff(), 65, tr.tokenTTL(), 1, u.ID, u.Time.UnixMilli(), blob}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	first, err := tr.runPublish(ctx, keys, args)
	if err != nil {
		t.Fatal(err)
	}
	again, err := tr.runPublish(ctx, keys, args)
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Errorf("the retry answered seq %d; the first run %d", again, first)
	}
	if h := allHistory(t, tr); len(h) != 1 {
		t.Errorf("history holds %d updates after a retried batch; want 1", len(h))
	}
}
