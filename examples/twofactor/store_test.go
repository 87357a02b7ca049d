package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goqr "github.com/piglig/go-qr"

	"github.com/heraldpush/herald/internal/redistest"
)

// Both stores pass the same checks; the Redis one against a real server.
func TestStores(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testStore(t, newMemoryStore()) })
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := openRedisStore(ctx, srv.URL(), "tf-store:")
		if err != nil {
			t.Fatal(err)
		}
		testStore(t, s)
	})
}

func testStore(t *testing.T, s Store) {
	defer s.Close()
	ctx := context.Background()
	now := time.Now()
	c := &Challenge{ID: randomToken(32), User: "alice", Code: shortCode(), State: Pending, Created: now, Expires: now.Add(time.Minute)}
	if err := s.PutChallenge(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Challenge(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown challenge: %v", err)
	}
	if _, err := s.Transition(ctx, "nope", Pending, Approved, now); !errors.Is(err, ErrNotFound) {
		t.Fatalf("transition of an unknown challenge: %v", err)
	}

	// Twenty approvals race: exactly one wins.
	var wins, conflicts atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Go(func() {
			_, err := s.Transition(ctx, c.ID, Pending, Approved, time.Now())
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, ErrConflict):
				conflicts.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 || conflicts.Load() != 19 {
		t.Fatalf("racing approvals: %d won, %d conflicts; want 1 and 19", wins.Load(), conflicts.Load())
	}
	got, err := s.Challenge(ctx, c.ID)
	if err != nil || got.State != Approved || got.Decided.IsZero() || got.User != "alice" || got.Code != c.Code {
		t.Fatalf("after approval: %+v, %v", got, err)
	}
	if got, err := s.Transition(ctx, c.ID, Pending, Denied, time.Now()); !errors.Is(err, ErrConflict) || got.State != Approved {
		t.Fatalf("deny after approval: %+v, %v", got, err)
	}
	if _, err := s.Transition(ctx, c.ID, Approved, Used, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Transition(ctx, c.ID, Approved, Used, time.Now()); !errors.Is(err, ErrConflict) {
		t.Fatalf("second use: %v", err)
	}

	// An expired challenge cannot move, even if its stored state is pending.
	old := &Challenge{ID: randomToken(32), User: "bob", State: Pending, Created: now.Add(-time.Hour), Expires: now.Add(-time.Second)}
	if err := s.PutChallenge(ctx, old); err != nil {
		t.Fatal(err)
	}
	got, err = s.Transition(ctx, old.ID, Pending, Approved, now)
	if !errors.Is(err, ErrConflict) || got.StateAt(now) != Expired {
		t.Fatalf("approving an expired challenge: %+v, %v", got, err)
	}

	// Sessions.
	sess := &Session{User: "alice", Kind: DeviceSession, CSRF: "x", Created: now, Expires: now.Add(time.Hour)}
	if err := s.PutSession(ctx, "k1", sess); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Session(ctx, "k1"); err != nil || got.User != "alice" || got.Kind != DeviceSession {
		t.Fatalf("session: %+v, %v", got, err)
	}
	if err := s.DeleteSession(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, "k1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted session: %v", err)
	}
}

func TestRandomValues(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := randomToken(32)
		if len(id) != 43 || seen[id] {
			t.Fatalf("id %q (len %d, seen %v)", id, len(id), seen[id])
		}
		seen[id] = true
		code := shortCode()
		if ok, _ := regexp.MatchString(`^\d{3} \d{3}$`, code); !ok {
			t.Fatalf("code %q", code)
		}
	}
}

// TestQRCode redraws the module grid from the SVG path and compares it
// with the encoder's: the run-length drawing loses nothing.
func TestQRCode(t *testing.T) {
	const link = "http://localhost:8080/approve/0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
	svg, err := qrSVG(link, `a "label" <x>`)
	if err != nil {
		t.Fatal(err)
	}
	qr, err := goqr.EncodeText(link, goqr.Medium)
	if err != nil {
		t.Fatal(err)
	}
	n := qr.Size()
	if want := fmt.Sprintf(`viewBox="0 0 %d %d"`, n+8, n+8); !regexp.MustCompile(regexp.QuoteMeta(want)).MatchString(string(svg)) {
		t.Fatalf("no %s in %.200s", want, svg)
	}
	if !regexp.MustCompile(`aria-label="a &#34;label&#34; &lt;x&gt;"`).MatchString(string(svg)) {
		t.Fatalf("label not escaped: %.300s", svg)
	}
	grid := make([][]bool, n)
	for i := range grid {
		grid[i] = make([]bool, n)
	}
	for _, m := range regexp.MustCompile(`M(\d+) (\d+)h(\d+)v1h-(\d+)z`).FindAllStringSubmatch(string(svg), -1) {
		x, _ := strconv.Atoi(m[1])
		y, _ := strconv.Atoi(m[2])
		run, _ := strconv.Atoi(m[3])
		for i := 0; i < run; i++ {
			if grid[y-4][x-4+i] {
				t.Fatalf("module %d,%d drawn twice", x-4+i, y-4)
			}
			grid[y-4][x-4+i] = true
		}
	}
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			if grid[y][x] != qr.Module(x, y) {
				t.Fatalf("module %d,%d: drawn %v, encoded %v", x, y, grid[y][x], qr.Module(x, y))
			}
		}
	}
}
