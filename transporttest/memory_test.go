package transporttest_test

import (
	"context"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/transporttest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestMemoryTransport runs the suite against the in-process transport, so
// that the suite itself is exercised on every CI run.
func TestMemoryTransport(t *testing.T) {
	transporttest.Run(t, transporttest.Harness{
		New: func(t *testing.T, b transporttest.Bounds) herald.Transport {
			tr := herald.NewMemoryTransport(herald.MemoryConfig{Size: b.Size, MaxAge: b.MaxAge})
			t.Cleanup(func() { _ = tr.Close() })
			return tr
		},
	})
}

// handle is one opening of a shared MemoryTransport: closing it closes
// only this handle, so that several handles model nodes on one backend
// (Peer) or a reopened file (Reopen).
type handle struct {
	mem    *herald.MemoryTransport
	mu     sync.Mutex
	closed bool
	stops  []func()
}

func (h *handle) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

func (h *handle) Publish(ctx context.Context, u *herald.Update) error {
	if h.isClosed() {
		return herald.ErrClosed
	}
	return h.mem.Publish(ctx, u)
}

func (h *handle) Listen(deliver func(*herald.Update)) (func(), error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, herald.ErrClosed
	}
	stop, err := h.mem.Listen(deliver)
	if err == nil {
		h.stops = append(h.stops, stop)
	}
	return stop, err
}

func (h *handle) History(ctx context.Context, q herald.HistoryQuery) (herald.HistoryPage, error) {
	if h.isClosed() {
		return herald.HistoryPage{}, herald.ErrClosed
	}
	return h.mem.History(ctx, q)
}

func (h *handle) Close() error {
	h.mu.Lock()
	h.closed = true
	stops := h.stops
	h.stops = nil
	h.mu.Unlock()
	for _, stop := range stops {
		stop()
	}
	return nil
}

// TestSuiteSelfCheck runs the suite's Peer and Reopen subtests, which no
// transport in this package offers, on handles sharing one memory
// transport: it checks the suite's own code, not a real cluster.
func TestSuiteSelfCheck(t *testing.T) {
	transporttest.Run(t, transporttest.Harness{
		New: func(t *testing.T, b transporttest.Bounds) herald.Transport {
			mem := herald.NewMemoryTransport(herald.MemoryConfig{Size: b.Size, MaxAge: b.MaxAge})
			t.Cleanup(func() { _ = mem.Close() })
			return &handle{mem: mem}
		},
		Peer: func(t *testing.T, tr herald.Transport) herald.Transport {
			return &handle{mem: tr.(*handle).mem}
		},
		Reopen: func(t *testing.T, tr herald.Transport) herald.Transport {
			if err := tr.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			return &handle{mem: tr.(*handle).mem}
		},
	})
}
