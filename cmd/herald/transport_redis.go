package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/redis"
)

// redisStartTimeout bounds how long herald serve waits for Redis at
// startup. A node that cannot reach Redis then exits with the reason
// (wrong address, password, TLS) instead of serving 503s; once running, it
// rides out outages.
const redisStartTimeout = 15 * time.Second

// openRedis opens a redis://, rediss:// or Sentinel transport; see
// redis.ParseURL for the URL forms and options. The URL's size and age
// override the --history-size and --history-age flags.
func openRedis(raw string, hb historyBounds, log *slog.Logger) (herald.Transport, error) {
	routeRedisLogs(log)
	ctx, cancel := context.WithTimeout(context.Background(), redisStartTimeout)
	defer cancel()
	tr, err := redis.Open(ctx, raw, redis.Config{Size: hb.size, MaxAge: hb.age, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	return tr, nil
}

// routeRedisLogs sends go-redis's own messages (it logs through a
// process-wide logger, which the binary may set since it opens one
// transport) to the server's log at debug level: the transport already
// reports what matters, such as a lost subscription, and go-redis would
// otherwise print every failed dial of an outage to stderr.
func routeRedisLogs(log *slog.Logger) {
	goredis.SetLogger(redisLogger{log.With("component", "go-redis")})
}

type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, fmt.Sprintf(format, v...))
}
