package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/nats"
)

// natsStartTimeout bounds how long herald serve waits for NATS at
// startup. A node that cannot reach JetStream exits with the reason (wrong
// address, credentials, TLS, a stream configured differently) instead of
// serving 503s; once running, it rides out outages.
const natsStartTimeout = 15 * time.Second

// openNATS opens a nats:// or tls:// transport on a JetStream stream; see
// nats.ParseURL for the options. --history-size and --history-age are the
// defaults that the URL's size= and age= override; with --history-age at
// 0 (its default) the stream keeps updates for nats.DefaultMaxAge (24 h)
// on top of the count bound, unless the URL says age=0.
func openNATS(raw string, hb historyBounds, log *slog.Logger) (herald.Transport, error) {
	base := nats.Config{Size: hb.size, MaxAge: hb.age, Logger: log}
	cfg, err := nats.ParseURL(raw, base)
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), natsStartTimeout)
	defer cancel()
	tr, err := nats.Open(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	return tr, nil
}
