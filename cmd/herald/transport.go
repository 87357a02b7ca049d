package main

import (
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"time"

	"github.com/heraldpush/herald"
)

// historyBounds are the history limits set by flags; a transport URL's
// own query parameters override them.
type historyBounds struct {
	size int
	age  time.Duration
}

// openTransport opens the transport named by a URL such as memory://,
// bolt:///var/lib/herald/herald.db or redis://localhost:6379/0.
func openTransport(raw string, hb historyBounds, log *slog.Logger) (herald.Transport, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("invalid transport URL %q: %v", raw, err)
	}
	q := u.Query()
	switch u.Scheme {
	case "memory":
		cfg := herald.MemoryConfig{Size: hb.size, MaxAge: hb.age}
		if v := q.Get("size"); v != "" {
			if cfg.Size, err = strconv.Atoi(v); err != nil {
				return nil, fmt.Errorf("transport %q: size: %v", raw, err)
			}
		}
		if v := q.Get("age"); v != "" {
			if cfg.MaxAge, err = time.ParseDuration(v); err != nil {
				return nil, fmt.Errorf("transport %q: age: %v", raw, err)
			}
		}
		return herald.NewMemoryTransport(cfg), nil
	case "bolt":
		return openBolt(raw, u, hb, log)
	case "redis", "rediss", "redis+sentinel", "rediss+sentinel":
		return openRedis(raw, hb, log)
	case "nats", "tls":
		return openNATS(raw, hb, log)
	}
	return nil, fmt.Errorf("unknown transport %q (use memory://, bolt://, redis:// or nats://)", u.Scheme)
}
