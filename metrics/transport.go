package metrics

import (
	"context"
	"time"

	"github.com/heraldpush/herald"
)

// InstrumentTransport returns t wrapped so that its operations are
// counted and timed (herald_transport_operations_total,
// herald_transport_operation_duration_seconds) and the updates it delivers
// are counted (herald_transport_received_total). The wrapper is a
// herald.Pinger (answering nil, ready, when t is not one, as the hub does)
// and a herald.HistorySizer when t is one. Unwrap returns t.
func (m *Metrics) InstrumentTransport(t herald.Transport) herald.Transport {
	it := &instrumented{t: t, m: m}
	if hs, ok := t.(herald.HistorySizer); ok {
		return &instrumentedSizer{instrumented: it, hs: hs}
	}
	return it
}

type instrumented struct {
	t herald.Transport
	m *Metrics
}

// Unwrap returns the instrumented transport.
func (i *instrumented) Unwrap() herald.Transport { return i.t }

func (i *instrumented) observe(op string, start time.Time, err error) {
	r := resultIndex(err)
	m := i.m
	m.trOps.WithLabelValues(op, results[r]).Inc()
	m.trDur.WithLabelValues(op).Observe(time.Since(start).Seconds())
	switch r {
	case 0:
		m.trUp.Store(1)
		m.trSeen.Store(true)
	case 1:
		m.trUp.Store(0)
		m.trSeen.Store(true)
		m.trErrors.Add(1)
	case 3:
		m.trErrors.Add(1)
	}
}

func (i *instrumented) Publish(ctx context.Context, u *herald.Update) error {
	start := time.Now()
	err := i.t.Publish(ctx, u)
	i.observe("publish", start, err)
	return err
}

func (i *instrumented) Listen(deliver func(*herald.Update)) (func(), error) {
	c := i.m.trReceived
	return i.t.Listen(func(u *herald.Update) {
		c.Inc()
		deliver(u)
	})
}

func (i *instrumented) History(ctx context.Context, q herald.HistoryQuery) (herald.HistoryPage, error) {
	start := time.Now()
	p, err := i.t.History(ctx, q)
	i.observe("history", start, err)
	return p, err
}

// Ping implements herald.Pinger.
func (i *instrumented) Ping(ctx context.Context) error {
	p, ok := i.t.(herald.Pinger)
	if !ok {
		return nil
	}
	start := time.Now()
	err := p.Ping(ctx)
	i.observe("ping", start, err)
	return err
}

func (i *instrumented) Close() error { return i.t.Close() }

type instrumentedSizer struct {
	*instrumented
	hs herald.HistorySizer
}

// HistorySize implements herald.HistorySizer.
func (i *instrumentedSizer) HistorySize(ctx context.Context) (int64, error) {
	return i.hs.HistorySize(ctx)
}
