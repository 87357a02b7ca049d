package nats

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/natstest"
	"github.com/heraldpush/herald/transporttest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The embedded nats-server very rarely leaves a file store open
		// when it is shut down right after JetStream recovery; these are
		// its goroutines, not the transport's.
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*fileStore).flushStreamStateLoop"),
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server/ats.Register.func1"),
	)
}

// testLogger discards the transport's log unless HERALD_TEST_LOG is set:
// nats.go calls its handlers asynchronously, possibly after a test has
// ended, so the log cannot go to t.Log.
func testLogger() *slog.Logger {
	if os.Getenv("HERALD_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

var streamCounter atomic.Int64

// freshConfig returns a config for a new, empty stream on srv.
func freshConfig(srv *natstest.Server) Config {
	n := streamCounter.Add(1)
	return Config{
		Servers:       []string{srv.URL()},
		Stream:        fmt.Sprintf("herald_test_%d", n),
		SubjectPrefix: fmt.Sprintf("ht%d", n),
		Logger:        testLogger(),
	}
}

// open opens a transport and closes it when the test ends.
//
// It retries one server-side race: deleting a stream (as the conformance
// harness's cleanup and TestStreamRecreated do) makes nats-server remove
// the account's streams directory, if empty, in a goroutine of its own
// (server/stream.go, stream.stop); a stream created at that moment fails
// with "could not create storage directory ... no such file or directory",
// answered as err_code 10049 "error creating store for stream". About one
// run in fifty here; it is the embedded server's, not Herald's.
func open(t testing.TB, cfg Config, tweak ...func(*Transport)) *Transport {
	t.Helper()
	const storeFailed jetstream.ErrorCode = 10049 // nats-server's JSStreamStoreFailedF
	deadline := time.Now().Add(30 * time.Second)
	var tr *Transport
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var err error
		tr, err = Open(ctx, cfg)
		cancel()
		if err == nil {
			break
		}
		var apiErr *jetstream.APIError
		if !errors.As(err, &apiErr) || apiErr.ErrorCode != storeFailed || time.Now().After(deadline) {
			t.Fatalf("Open: %v", err)
		}
		t.Logf("Open: %v; retrying (a stream deleted a moment ago)", err)
		time.Sleep(20 * time.Millisecond)
	}
	for _, f := range tweak {
		f(tr)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

// harness runs the conformance suite on one embedded server, each New on
// its own stream.
func harness(srv *natstest.Server, storage Storage, tweak ...func(*Transport)) transporttest.Harness {
	return transporttest.Harness{
		New: func(t *testing.T, b transporttest.Bounds) herald.Transport {
			cfg := freshConfig(srv)
			cfg.Size, cfg.MaxAge, cfg.Storage = b.Size, b.MaxAge, storage
			// JetStream reserves each stream's byte bound; delete the
			// stream afterwards so that the server's limits hold the suite.
			t.Cleanup(func() { deleteStream(t, srv, cfg.Stream) })
			return open(t, cfg, tweak...)
		},
		Peer: func(t *testing.T, tr herald.Transport) herald.Transport {
			return open(t, tr.(*Transport).cfg, tweak...)
		},
		Reopen: func(t *testing.T, tr herald.Transport) herald.Transport {
			if err := tr.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			return open(t, tr.(*Transport).cfg, tweak...)
		},
	}
}

// deleteStream deletes a stream through a connection of its own.
func deleteStream(t testing.TB, srv *natstest.Server, name string) {
	nc, err := natsgo.Connect(srv.URL())
	if err != nil {
		t.Errorf("connect to delete stream %s: %v", name, err)
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = js.DeleteStream(ctx, name)
	}
	if err != nil {
		t.Errorf("delete stream %s: %v", name, err)
	}
}

func TestConformance(t *testing.T) {
	srv := natstest.Start(t)
	transporttest.Run(t, harness(srv, FileStorage))
}

// TestConformanceUnbatched runs the suite with history read one message
// per request, as on NATS servers older than 2.11, on memory storage.
func TestConformanceUnbatched(t *testing.T) {
	srv := natstest.Start(t)
	transporttest.Run(t, harness(srv, MemoryStorage, func(tr *Transport) { tr.noBatch = true }))
}

// recorder is a listener that keeps what it gets.
type recorder struct {
	mu      sync.Mutex
	got     []*herald.Update
	changed chan struct{}
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{})} }

func (r *recorder) deliver(u *herald.Update) {
	r.mu.Lock()
	r.got = append(r.got, u)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

func (r *recorder) snapshot() ([]*herald.Update, chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got), r.changed
}

// waitFor waits until cond holds for what r got.
func (r *recorder) waitFor(t *testing.T, what string, limit time.Duration, cond func([]*herald.Update) bool) []*herald.Update {
	t.Helper()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for {
		got, changed := r.snapshot()
		if cond(got) {
			return got
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("%s: not within %v (have %d updates)", what, limit, len(got))
		}
	}
}

func hasIDs(want map[string]uint64) func([]*herald.Update) bool {
	return func(got []*herald.Update) bool {
		n := 0
		for _, u := range got {
			if _, ok := want[u.ID]; ok {
				n++
			}
		}
		return n >= len(want)
	}
}

func upd(id string) *herald.Update {
	return &herald.Update{ID: id, Topics: []string{"https://example.com/t"}, Data: "data of " + id}
}

// checkStream checks that a listener got increasing Seqs, no id twice, and
// every acknowledged id with the Seq its Publish returned.
func checkStream(t *testing.T, node string, got []*herald.Update, acked map[string]uint64) {
	t.Helper()
	seen := map[string]bool{}
	for i, u := range got {
		if i > 0 && u.Seq <= got[i-1].Seq {
			t.Errorf("node %s: %q (Seq %d) after Seq %d", node, u.ID, u.Seq, got[i-1].Seq)
		}
		if seen[u.ID] {
			t.Errorf("node %s: %q delivered twice", node, u.ID)
		}
		seen[u.ID] = true
		if seq, ok := acked[u.ID]; ok && seq != u.Seq {
			t.Errorf("node %s: %q delivered with Seq %d; Publish returned %d", node, u.ID, u.Seq, seq)
		}
	}
	for id := range acked {
		if !seen[id] {
			t.Errorf("node %s: acknowledged update %q never delivered", node, id)
		}
	}
}

// TestOutage shuts NATS down while a publisher runs: publishes fail with
// ErrUnavailable within the timeout, Ping and History fail, and after the
// restart both nodes receive every acknowledged update exactly once, in
// order.
func TestOutage(t *testing.T) {
	srv := natstest.Start(t)
	cfg := freshConfig(srv)
	cfg.Timeout = 2 * time.Second
	a, b := open(t, cfg), open(t, cfg)
	churn(t, a, b, func(failures, _ func() int) {
		srv.Shutdown()
		before := failures()
		waitUntil(t, "publishes to fail during the outage", 30*time.Second, func() bool { return failures() >= before+25 })
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Ping(ctx); !errors.Is(err, herald.ErrUnavailable) {
			t.Errorf("Ping during the outage: %v; want ErrUnavailable", err)
		}
		if _, err := b.History(ctx, herald.HistoryQuery{AfterID: herald.EarliestID}); !errors.Is(err, herald.ErrUnavailable) {
			t.Errorf("History during the outage: %v; want ErrUnavailable", err)
		}
		srv.Restart()
	})
}

// TestReplicatedFailover runs a three-server NATS cluster with a stream of
// three replicas and shuts the stream's leader down under load: the
// remaining servers elect a new leader, publishes resume, history is read
// from any replica, and both nodes get every acknowledged update once, in
// order. The old leader then comes back and catches up as a replica.
func TestReplicatedFailover(t *testing.T) {
	c := natstest.StartCluster(t, 3)
	cfg := freshConfig(c.Servers[0])
	cfg.Servers = nil
	for _, s := range c.Servers {
		cfg.Servers = append(cfg.Servers, s.URL())
	}
	cfg.Replicas = 3
	cfg.Timeout = 2 * time.Second
	a, b := open(t, cfg), open(t, cfg)
	if a.replicas != 3 {
		t.Fatalf("stream replicas %d; want 3", a.replicas)
	}
	churn(t, a, b, func(_, ackedCount func() int) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		info, err := a.stream.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.Cluster == nil || c.Server(info.Cluster.Leader) == nil {
			t.Fatalf("no stream leader among the servers: %+v", info.Cluster)
		}
		leader := c.Server(info.Cluster.Leader)
		t.Logf("shutting down the stream leader %s", leader.Name())
		leader.Shutdown()
		// Let the others carry on without it for a while, then bring it
		// back: it must catch up as a replica.
		acked := ackedCount()
		waitUntil(t, "20 publishes acknowledged without the old leader", 60*time.Second, func() bool { return ackedCount() >= acked+20 })
		leader.Restart()
		c.WaitJetStream(t)
	})
	// Every replica, the old leader included, is current again.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	waitUntil(t, "all replicas current", 60*time.Second, func() bool {
		info, err := a.stream.Info(ctx)
		if err != nil || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
			return false
		}
		for _, r := range info.Cluster.Replicas {
			if !r.Current || r.Offline {
				return false
			}
		}
		return true
	})
}

// churn runs a publisher that alternates between nodes a and b (both
// listening), calls disrupt once 50 updates are acknowledged, waits for 50
// more, and checks that both nodes got every acknowledged update exactly
// once, in Seq order, and that every failed publish wrapped
// herald.ErrUnavailable and ended within three timeouts.
func churn(t *testing.T, a, b *Transport, disrupt func(failures, acked func() int)) {
	t.Helper()
	ra, rb := newRecorder(), newRecorder()
	for _, l := range []struct {
		tr *Transport
		r  *recorder
	}{{a, ra}, {b, rb}} {
		stop, err := l.tr.Listen(l.r.deliver)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
	}

	var (
		mu       sync.Mutex
		acked    = map[string]uint64{}
		failures int
		slowest  time.Duration
		badErr   error
	)
	counts := func() (int, int) {
		mu.Lock()
		defer mu.Unlock()
		return len(acked), failures
	}
	stopPub := make(chan struct{})
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		for i := 0; ; i++ {
			select {
			case <-stopPub:
				return
			default:
			}
			tr := a
			if i%2 == 1 {
				tr = b
			}
			u := upd(fmt.Sprintf("u-%d", i))
			start := time.Now()
			err := tr.Publish(context.Background(), u)
			took := time.Since(start)
			mu.Lock()
			if err == nil {
				acked[u.ID] = u.Seq
			} else {
				failures++
				slowest = max(slowest, took)
				if !errors.Is(err, herald.ErrUnavailable) && badErr == nil {
					badErr = err
				}
			}
			mu.Unlock()
			if err != nil {
				time.Sleep(20 * time.Millisecond) // as a client backs off
			} else {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	stopOnce := sync.OnceFunc(func() {
		close(stopPub)
		<-pubDone
	})
	defer stopOnce()
	waitUntil(t, "50 acknowledged publishes", 30*time.Second, func() bool { n, _ := counts(); return n >= 50 })
	disrupt(func() int { _, f := counts(); return f }, func() int { n, _ := counts(); return n })
	n, _ := counts()
	waitUntil(t, "50 acknowledged publishes after the disruption", 60*time.Second, func() bool { m, _ := counts(); return m >= n+50 })
	stopOnce()

	mu.Lock()
	defer mu.Unlock()
	if badErr != nil {
		t.Errorf("a publish failed with %v; want an error wrapping ErrUnavailable", badErr)
	}
	if limit := 3 * a.cfg.Timeout; slowest > limit {
		t.Errorf("the slowest failed publish took %v; want it bounded by the %v timeout", slowest, a.cfg.Timeout)
	}
	t.Logf("%d acknowledged, %d failed (slowest failure %v)", len(acked), failures, slowest)
	gotA := ra.waitFor(t, "node a gets every acknowledged update", 60*time.Second, hasIDs(acked))
	gotB := rb.waitFor(t, "node b gets every acknowledged update", 60*time.Second, hasIDs(acked))
	checkStream(t, "a", gotA, acked)
	checkStream(t, "b", gotB, acked)
	// History, from whichever replica answers, holds them too.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var hist []*herald.Update
	q := herald.HistoryQuery{AfterID: herald.EarliestID, Limit: 100}
	for {
		p, err := b.History(ctx, q)
		if err != nil {
			t.Fatalf("History after the disruption: %v", err)
		}
		if len(p.Updates) == 0 {
			break
		}
		hist = append(hist, p.Updates...)
		q = herald.HistoryQuery{AfterSeq: p.Updates[len(p.Updates)-1].Seq, Limit: 100}
	}
	checkStream(t, "history", hist, acked)
	if err := a.Ping(ctx); err != nil {
		t.Errorf("Ping after the disruption: %v", err)
	}
}

func waitUntil(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: not within %v", what, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRetryIsIdempotent: publishing the same update again (a publisher's
// retry after a lost answer) returns the stored Seq and delivers once; a
// different update that reuses the id is stored as well, and resuming
// after the id starts after the newest.
func TestRetryIsIdempotent(t *testing.T) {
	srv := natstest.Start(t)
	tr := open(t, freshConfig(srv))
	r := newRecorder()
	stop, err := tr.Listen(r.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	ctx := context.Background()
	first := upd("same")
	if err := tr.Publish(ctx, first); err != nil {
		t.Fatal(err)
	}
	retry := upd("same")
	retry.Time = time.Now() // a retry through the hub gets a new time
	if err := tr.Publish(ctx, retry); err != nil {
		t.Fatal(err)
	}
	if retry.Seq != first.Seq {
		t.Errorf("retry got Seq %d; want the stored %d", retry.Seq, first.Seq)
	}
	reuse := upd("same")
	reuse.Data = "different data"
	if err := tr.Publish(ctx, reuse); err != nil {
		t.Fatal(err)
	}
	if reuse.Seq <= first.Seq {
		t.Errorf("a different update with a reused id got Seq %d; want a new one after %d", reuse.Seq, first.Seq)
	}
	last := upd("last")
	if err := tr.Publish(ctx, last); err != nil {
		t.Fatal(err)
	}
	got := r.waitFor(t, "deliveries", 30*time.Second, func(g []*herald.Update) bool { return len(g) >= 3 })
	if len(got) != 3 || got[0].Data != first.Data || got[1].Data != reuse.Data || got[2].ID != "last" {
		t.Errorf("delivered %v; want the first, the reuse and the last", got)
	}
	p, err := tr.History(ctx, herald.HistoryQuery{AfterID: "same"})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Found || len(p.Updates) != 1 || p.Updates[0].ID != "last" {
		t.Errorf("History(after \"same\") = %+v; want found, [last]", p)
	}
}

// TestListenStartsAtTheEnd: a node that starts listening does not get the
// updates stored before.
func TestListenStartsAtTheEnd(t *testing.T) {
	srv := natstest.Start(t)
	cfg := freshConfig(srv)
	a := open(t, cfg)
	for i := range 5 {
		if err := a.Publish(context.Background(), upd(fmt.Sprintf("old-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	b := open(t, cfg)
	r := newRecorder()
	stop, err := b.Listen(r.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if err := a.Publish(context.Background(), upd("new")); err != nil {
		t.Fatal(err)
	}
	got := r.waitFor(t, "the new update", 30*time.Second, func(g []*herald.Update) bool { return len(g) >= 1 })
	if got[0].ID != "new" {
		t.Errorf("first delivery %q; want \"new\"", got[0].ID)
	}
}

// TestStreamRecreated: when the stream is deleted and created again, the
// watchdog notices and the node receives the new stream's updates.
func TestStreamRecreated(t *testing.T) {
	srv := natstest.Start(t)
	cfg := freshConfig(srv)
	a := open(t, cfg, func(tr *Transport) { tr.checkEvery = 50 * time.Millisecond })
	r := newRecorder()
	stop, err := a.Listen(r.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	ctx := context.Background()
	for i := range 5 {
		if err := a.Publish(ctx, upd(fmt.Sprintf("before-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	r.waitFor(t, "the first updates", 30*time.Second, func(g []*herald.Update) bool { return len(g) >= 5 })
	if err := a.js.DeleteStream(ctx, cfg.Stream); err != nil {
		t.Fatal(err)
	}
	b := open(t, cfg) // creates the stream again
	if err := b.Publish(ctx, upd("after")); err != nil {
		t.Fatal(err)
	}
	got := r.waitFor(t, "the update on the new stream", 30*time.Second, func(g []*herald.Update) bool { return len(g) >= 6 })
	if got[5].ID != "after" {
		t.Errorf("after the stream was recreated got %q; want \"after\"", got[5].ID)
	}
}

// TestExistingStream: an existing stream's limits are brought in line; an
// incompatible one is refused with a clear error.
func TestExistingStream(t *testing.T) {
	srv := natstest.Start(t)
	cfg := freshConfig(srv)
	cfg.Size = 100
	open(t, cfg)
	cfg.Size = 200
	cfg.MaxAge = time.Hour
	tr := open(t, cfg)
	info := tr.stream.CachedInfo().Config
	if info.MaxMsgs != 200 || info.MaxAge != time.Hour {
		t.Errorf("stream limits %d, %v; want 200, 1h", info.MaxMsgs, info.MaxAge)
	}
	mem := cfg
	mem.Storage = MemoryStorage
	ctx := context.Background()
	if tr, err := Open(ctx, mem); err == nil {
		tr.Close()
		t.Errorf("Open with memory storage on a file stream: no error")
	} else {
		t.Logf("storage mismatch: %v", err)
	}
	other := cfg
	other.SubjectPrefix = "elsewhere"
	if tr, err := Open(ctx, other); err == nil {
		tr.Close()
		t.Errorf("Open with another prefix on an existing stream: no error")
	} else {
		t.Logf("prefix mismatch: %v", err)
	}
}

func TestOpenUnreachable(t *testing.T) {
	srv := natstest.Start(t)
	cfg := freshConfig(srv)
	srv.Shutdown()
	cfg.Timeout = 500 * time.Millisecond
	tr, err := Open(context.Background(), cfg)
	if err == nil {
		tr.Close()
		t.Fatal("Open with NATS down: no error")
	}
	if !errors.Is(err, herald.ErrUnavailable) {
		t.Errorf("Open with NATS down: %v; want ErrUnavailable", err)
	}
}

// TestPublishTooLarge: an update over the server's max_payload gets
// herald.ErrTooLarge (the hub answers 413), not ErrUnavailable.
func TestPublishTooLarge(t *testing.T) {
	srv := natstest.Start(t)
	tr := open(t, freshConfig(srv))
	u := upd("big")
	u.Data = string(make([]byte, tr.nc.MaxPayload()))
	err := tr.Publish(context.Background(), u)
	if !errors.Is(err, herald.ErrTooLarge) || errors.Is(err, herald.ErrUnavailable) {
		t.Errorf("Publish over max_payload: %v; want herald.ErrTooLarge", err)
	}
}

func TestServerAtLeast(t *testing.T) {
	for v, want := range map[string]bool{
		"2.11.0": true, "2.15.2": true, "3.0.0": true, "2.10.22": false, "2.12.0-RC.1": true,
		"1.4.1": false, "": false, "garbage": false,
	} {
		if got := serverAtLeast(v, 2, 11); got != want {
			t.Errorf("serverAtLeast(%q, 2, 11) = %v; want %v", v, got, want)
		}
	}
}

func TestSubjectFor(t *testing.T) {
	tr := &Transport{cfg: Config{SubjectPrefix: "herald"}}
	s := tr.subjectFor("urn:uuid:1")
	if len(s) != len("herald.u.")+16 || validSubject(s) != nil {
		t.Errorf("subjectFor = %q", s)
	}
	if s == tr.subjectFor("urn:uuid:2") || s != tr.subjectFor("urn:uuid:1") {
		t.Errorf("subjectFor is not a function of the id")
	}
}

// TestUnmanagedStream: with manage=false Herald uses an operator's stream
// as it is, even without direct gets, and refuses a missing one.
func TestUnmanagedStream(t *testing.T) {
	srv := natstest.Start(t)
	cfg := freshConfig(srv)
	cfg.Unmanaged = true
	ctx := context.Background()
	if tr, err := Open(ctx, cfg); err == nil {
		tr.Close()
		t.Fatal("Open unmanaged on a missing stream: no error")
	}
	nc, err := natsgo.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: cfg.Stream, Subjects: []string{cfg.SubjectPrefix + ".u.*"}, MaxMsgs: 50, Storage: jetstream.MemoryStorage,
	}); err != nil {
		t.Fatal(err)
	}
	tr := open(t, cfg)
	var ids []string
	for i := range 60 {
		u := upd(fmt.Sprintf("op-%d", i))
		if err := tr.Publish(ctx, u); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.ID)
	}
	p, err := tr.History(ctx, herald.HistoryQuery{AfterID: herald.EarliestID, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Updates) != 50 || p.Updates[0].ID != ids[10] {
		t.Errorf("History(earliest) has %d updates from %q; want 50 from %q", len(p.Updates), p.Updates[0].ID, ids[10])
	}
	p, err = tr.History(ctx, herald.HistoryQuery{AfterID: ids[55]})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Found || len(p.Updates) != 4 {
		t.Errorf("History(after %q) = found %v, %d updates; want found, 4", ids[55], p.Found, len(p.Updates))
	}
	info, err := tr.stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.MaxMsgs != 50 || info.Config.AllowDirect {
		t.Errorf("an unmanaged stream was changed: max_msgs %d, allow_direct %v", info.Config.MaxMsgs, info.Config.AllowDirect)
	}
}
