package bolt

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
	"go.uber.org/goleak"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/transporttest"
)

// crashEnv names the file the test binary publishes to when it is re-run
// as the kill -9 helper.
const crashEnv = "HERALD_BOLT_CRASH_HELPER"

func TestMain(m *testing.M) {
	if path := os.Getenv(crashEnv); path != "" {
		os.Exit(crashHelper(path))
	}
	goleak.VerifyTestMain(m)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func open(t testing.TB, path string, opts Options) *Transport {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	tr, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := tr.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return tr
}

func TestConformance(t *testing.T) {
	var mu sync.Mutex
	opened := map[*Transport]Options{}
	transporttest.Run(t, transporttest.Harness{
		New: func(t *testing.T, b transporttest.Bounds) herald.Transport {
			opts := Options{Size: b.Size, MaxAge: b.MaxAge}
			tr := open(t, filepath.Join(t.TempDir(), "herald.db"), opts)
			mu.Lock()
			opened[tr] = opts
			mu.Unlock()
			return tr
		},
		Reopen: func(t *testing.T, tr herald.Transport) herald.Transport {
			old := tr.(*Transport)
			if err := old.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			mu.Lock()
			opts := opened[old]
			mu.Unlock()
			next := open(t, old.Path(), opts)
			mu.Lock()
			opened[next] = opts
			mu.Unlock()
			return next
		},
	})
}

func pub(t testing.TB, tr herald.Transport, id string) *herald.Update {
	t.Helper()
	u := &herald.Update{ID: id, Topics: []string{"https://example.com/t"}, Data: "d " + id, Time: time.Now()}
	if err := tr.Publish(context.Background(), u); err != nil {
		t.Fatalf("Publish(%q): %v", id, err)
	}
	return u
}

// stored counts the entries in the file's buckets, which History's
// filtering hides: what cleanup has really deleted.
func stored(t testing.TB, tr *Transport) (updates, ids int) {
	t.Helper()
	err := tr.db.View(func(tx *bbolt.Tx) error {
		updates = tx.Bucket(bucketUpdates).Stats().KeyN
		ids = tx.Bucket(bucketIDs).Stats().KeyN
		return nil
	})
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	return updates, ids
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSecondOpenFailsClearly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "herald.db")
	open(t, path, Options{})
	start := time.Now()
	_, err := Open(path, Options{LockTimeout: 200 * time.Millisecond, Logger: quiet})
	if err == nil || !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("second Open: %v; want a 'locked by another process' error", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("second Open took %v", d)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open("", Options{}); err == nil {
		t.Error("Open(\"\"): no error")
	}
	if _, err := Open(filepath.Join(dir, "missing", "herald.db"), Options{Logger: quiet}); err == nil {
		t.Error("Open in a missing directory: no error")
	}
	// A bbolt file that is not Herald's is refused, not reused.
	other := filepath.Join(dir, "other.db")
	db, err := bbolt.Open(other, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		return b.Put(keyFormat, []byte("something-else"))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(other, Options{Logger: quiet}); err == nil || !strings.Contains(err.Error(), "format") {
		t.Errorf("Open(foreign file): %v; want a format error", err)
	}
}

func TestDuplicateIDNewestWins(t *testing.T) {
	tr := open(t, filepath.Join(t.TempDir(), "herald.db"), Options{Size: 5})
	pub(t, tr, "dup")
	pub(t, tr, "x")
	pub(t, tr, "dup")
	pub(t, tr, "y")
	p, err := tr.History(context.Background(), herald.HistoryQuery{AfterID: "dup"})
	if err != nil || !p.Found || len(p.Updates) != 1 || p.Updates[0].ID != "y" {
		t.Fatalf("History(after dup) = %+v, %v; want [y] found", p, err)
	}
	// Evicting the older "dup" must not unindex the newer one.
	pub(t, tr, "a")
	pub(t, tr, "b")
	p, err = tr.History(context.Background(), herald.HistoryQuery{AfterID: "dup"})
	if err != nil || !p.Found || len(p.Updates) != 3 {
		t.Fatalf("History(after dup) after eviction = %+v, %v; want 3 updates, found", p, err)
	}
}

func TestLongID(t *testing.T) {
	tr := open(t, filepath.Join(t.TempDir(), "herald.db"), Options{})
	long := strings.Repeat("é", 40000) // longer than a bbolt key may be
	pub(t, tr, long)
	pub(t, tr, "next")
	p, err := tr.History(context.Background(), herald.HistoryQuery{AfterID: long})
	if err != nil || !p.Found || len(p.Updates) != 1 || p.Updates[0].ID != "next" {
		t.Fatalf("History(after a 80 KB id) = found %v, %d updates, %v", p.Found, len(p.Updates), err)
	}
}

func TestPing(t *testing.T) {
	tr := open(t, filepath.Join(t.TempDir(), "herald.db"), Options{})
	if err := tr.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	tr.Close()
	if err := tr.Ping(context.Background()); !errors.Is(err, herald.ErrClosed) {
		t.Fatalf("Ping after Close: %v; want ErrClosed", err)
	}
}

// TestCleanupKeepsBounds publishes far more than the bounds from several
// publishers and checks that the file's buckets, not only History, stay
// near the bound and that the file stops growing.
func TestCleanupKeepsBounds(t *testing.T) {
	const size, total, publishers = 300, 20000, 8
	path := filepath.Join(t.TempDir(), "herald.db")
	// Without fsync: this is about cleanup, and fsync would only make the
	// run long (TestKill9 and the suite cover the synced path).
	tr := open(t, path, Options{Size: size, NoSync: true})
	var wg sync.WaitGroup
	var fileAtHalf int64
	for p := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range total / publishers {
				u := &herald.Update{ID: fmt.Sprintf("p%d-%d", p, i), Topics: []string{"t"}, Data: strings.Repeat("x", 200)}
				if err := tr.Publish(context.Background(), u); err != nil {
					t.Errorf("Publish: %v", err)
					return
				}
				if p == 0 && i%500 == 0 {
					// A cleanup that falls behind shows as entries well
					// beyond the bound (one batch's worth is allowed).
					if n, ids := stored(t, tr); n > size+maxBatch || ids > size+maxBatch {
						t.Errorf("after %d publishes: %d entries, %d ids stored; bound %d", i*publishers, n, ids, size)
					}
				}
				if p == 0 && i == total/publishers/2 {
					fileAtHalf = fileSize(t, path)
				}
			}
		}()
	}
	wg.Wait()
	if n, ids := stored(t, tr); n != size || ids != size {
		t.Errorf("at the end: %d entries, %d ids stored; want %d", n, ids, size)
	}
	// Freed pages are reused: the second half of the run may not grow the
	// file much (a few pages of slack for the freelist's churn).
	if end := fileSize(t, path); end > fileAtHalf*3/2+1<<20 {
		t.Errorf("file grew from %d to %d bytes in the second half of the run", fileAtHalf, end)
	}
	p, err := tr.History(context.Background(), herald.HistoryQuery{AfterID: herald.EarliestID, Limit: 1000})
	if err != nil || len(p.Updates) != size {
		t.Fatalf("History = %d updates, %v; want %d", len(p.Updates), err, size)
	}
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestAgeCleanupWhenIdle checks that expired entries are deleted from the
// file by the background tick, with no publish to trigger it.
func TestAgeCleanupWhenIdle(t *testing.T) {
	tr := open(t, filepath.Join(t.TempDir(), "herald.db"), Options{MaxAge: 300 * time.Millisecond})
	for i := range 50 {
		pub(t, tr, fmt.Sprintf("u%d", i))
	}
	waitFor(t, "expired entries to be deleted", func() bool {
		n, ids := stored(t, tr)
		return n == 0 && ids == 0
	})
}

// TestBacklogCleanupDoesNotStall reopens a large file with a small bound:
// cleanup works the backlog off in steps while publishes keep succeeding,
// and History applies the new bound at once.
func TestBacklogCleanupDoesNotStall(t *testing.T) {
	const before, size = 20000, 100
	path := filepath.Join(t.TempDir(), "herald.db")
	tr, err := Open(path, Options{Size: before * 2, NoSync: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for p := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range before / 16 {
				if err := tr.Publish(context.Background(), &herald.Update{ID: fmt.Sprintf("old-%d-%d", p, i), Topics: []string{"t"}}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	tr = open(t, path, Options{Size: size})
	p, err := tr.History(context.Background(), herald.HistoryQuery{AfterID: herald.EarliestID, Limit: 1000})
	if err != nil || len(p.Updates) != size {
		t.Fatalf("History right after reopening with Size %d = %d updates, %v", size, len(p.Updates), err)
	}
	for i := range 20 {
		pub(t, tr, fmt.Sprintf("new-%d", i))
	}
	waitFor(t, "the backlog to be cleaned", func() bool {
		n, _ := stored(t, tr)
		return n == size
	})
	p, err = tr.History(context.Background(), herald.HistoryQuery{AfterID: herald.EarliestID, Limit: 1000})
	if err != nil || len(p.Updates) != size || p.Updates[size-1].ID != "new-19" {
		t.Fatalf("History after cleanup = %d updates, %v", len(p.Updates), err)
	}
}

// crashHelper is the child of TestKill9: it publishes from several
// goroutines forever and prints each id once Publish returned nil.
func crashHelper(path string) int {
	tr, err := Open(path, Options{Size: 1 << 20, Logger: quiet})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Println("ready")
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for p := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				id := fmt.Sprintf("p%d-%d", p, i)
				err := tr.Publish(context.Background(), &herald.Update{ID: id, Topics: []string{"t"}, Data: id})
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(3)
				}
				// Write and flush under the lock: a line reaches the
				// parent whole, and only after its publish was answered.
				mu.Lock()
				out.WriteString(id + "\n")
				out.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return 0
}

// TestKill9 SIGKILLs a process in the middle of a publish burst and checks
// that every update it was told was stored is in the file.
func TestKill9(t *testing.T) {
	path := filepath.Join(t.TempDir(), "herald.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	var acked []string
	killed := false
	for sc.Scan() {
		line := sc.Text()
		if line == "ready" {
			continue
		}
		acked = append(acked, line)
		if len(acked) == 3000 && !killed {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	// Scanner drops nothing but a last line without its newline, which is
	// one whose write the kill interrupted: not an acknowledgement.
	err = cmd.Wait()
	if !killed {
		t.Fatalf("the helper ended before it was killed: %v", err)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("helper: %v; want killed by SIGKILL", err)
	}
	tr := open(t, path, Options{Size: 1 << 20})
	have := map[string]bool{}
	q := herald.HistoryQuery{AfterID: herald.EarliestID, Limit: 5000}
	for {
		p, err := tr.History(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Updates) == 0 {
			break
		}
		for _, u := range p.Updates {
			have[u.ID] = true
		}
		q = herald.HistoryQuery{AfterSeq: p.Updates[len(p.Updates)-1].Seq, Limit: 5000}
	}
	missing := 0
	for _, id := range acked {
		if !have[id] {
			missing++
			if missing < 10 {
				t.Errorf("acknowledged update %q is not in history after kill -9", id)
			}
		}
	}
	t.Logf("kill -9 after %d acknowledged publishes: %d in history after restart, %d acknowledged ones missing", len(acked), len(have), missing)
	if missing > 0 {
		t.Fatalf("%d acknowledged updates lost", missing)
	}
	// The file is usable: publishing continues after the last Seq.
	last := pub(t, tr, "after-crash")
	if last.Seq <= uint64(len(have)) {
		t.Errorf("Seq after restart = %d; want more than %d", last.Seq, len(have))
	}
}

func BenchmarkPublish(b *testing.B) {
	for _, publishers := range []int{1, 16, 128} {
		for _, nosync := range []bool{false, true} {
			name := "publishers=" + strconv.Itoa(publishers) + "/fsync=" + strconv.FormatBool(!nosync)
			b.Run(name, func(b *testing.B) {
				tr := open(b, filepath.Join(b.TempDir(), "herald.db"), Options{NoSync: nosync})
				stop, err := tr.Listen(func(*herald.Update) {})
				if err != nil {
					b.Fatal(err)
				}
				defer stop()
				data := strings.Repeat("x", 256)
				b.ResetTimer()
				start := time.Now()
				var wg sync.WaitGroup
				for p := range publishers {
					n := b.N / publishers
					if p < b.N%publishers {
						n++
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := range n {
							u := &herald.Update{ID: fmt.Sprintf("p%d-%d", p, i), Topics: []string{"https://example.com/t"}, Data: data, Time: time.Now()}
							if err := tr.Publish(context.Background(), u); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "publishes/s")
				b.ReportMetric(float64(b.N)/float64(max(tr.commits.Load(), 1)), "publishes/commit")
			})
		}
	}
}
