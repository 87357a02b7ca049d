package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/redistest"
	"github.com/heraldpush/herald/redis"
)

func TestOpenRedisTransport(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	hb := historyBounds{size: 123, age: time.Hour}

	// Mistakes in the URL are reported before anything is dialed.
	if _, err := openTransport("redis://localhost/0?sise=5", hb, log); err == nil || !strings.Contains(err.Error(), `unknown option "sise"`) {
		t.Errorf("misspelt option: %v", err)
	}
	// No Redis there: herald serve refuses to start, at once.
	port := redistest.FreePort(t)
	start := time.Now()
	_, err := openTransport(fmt.Sprintf("redis://127.0.0.1:%d/0", port), hb, log)
	if !errors.Is(err, herald.ErrUnavailable) {
		t.Errorf("no Redis: %v; want an error wrapping ErrUnavailable", err)
	}
	if d := time.Since(start); d > redisStartTimeout {
		t.Errorf("no Redis: failed after %v", d)
	}

	srv := redistest.Start(t)
	tr, err := openTransport(srv.URL()+"?prefix=cmdtest:&age=2h", hb, log)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	rt, ok := tr.(*redis.Transport)
	if !ok {
		t.Fatalf("redis:// opened a %T", tr)
	}
	if c := rt.Config(); c.Size != 123 || c.MaxAge != 2*time.Hour || c.Prefix != "cmdtest:" {
		t.Errorf("config: %+v; want the flag's size, the URL's age and prefix", c)
	}
	if err := rt.Ping(context.Background()); err != nil {
		t.Errorf("Ping: %v", err)
	}
	u := &herald.Update{ID: "x", Topics: []string{"https://example.com/t"}}
	if err := tr.Publish(context.Background(), u); err != nil || u.Seq == 0 {
		t.Errorf("Publish: seq %d, %v", u.Seq, err)
	}
}
