package redis

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/redistest"
	"github.com/heraldpush/herald/transporttest"
)

func TestMain(m *testing.M) {
	// go-redis logs every failed dial of the outage tests through its
	// process-wide logger; a test binary may silence it.
	goredis.SetLogger(quietLogger{})
	goleak.VerifyTestMain(m,
		// go-redis probes a Redis it could not dial once a second until it
		// answers, and lets the probe finish its sleep after Close.
		goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"),
	)
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

var prefixes atomic.Int64

// newPrefix returns a key prefix no other test uses: a fresh, empty
// backend on a shared server.
func newPrefix(t testing.TB) string {
	return fmt.Sprintf("test%d:%s:", prefixes.Add(1), t.Name())
}

// open opens a transport on srv under prefix, closed when the test ends.
func open(t testing.TB, srv *redistest.Server, cfg Config, query string) *Transport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := srv.URL()
	if query != "" {
		u += "?" + query
	}
	tr, err := Open(ctx, u, cfg)
	if err != nil {
		t.Fatalf("Open(%s): %v", u, err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

func TestConformance(t *testing.T) {
	srv := redistest.Start(t)
	transporttest.Run(t, transporttest.Harness{
		New: func(t *testing.T, b transporttest.Bounds) herald.Transport {
			return open(t, srv, Config{Prefix: newPrefix(t), Size: b.Size, MaxAge: b.MaxAge}, "")
		},
		Peer: func(t *testing.T, tr herald.Transport) herald.Transport {
			return open(t, srv, tr.(*Transport).cfg, "")
		},
		// A node that restarts finds its history in Redis: the same
		// properties as a durable transport's reopen.
		Reopen: func(t *testing.T, tr herald.Transport) herald.Transport {
			cfg := tr.(*Transport).cfg
			if err := tr.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			return open(t, srv, cfg, "")
		},
	})
}
