// Package metrics exposes a Herald hub's activity to Prometheus.
//
// A Metrics is both the hub's Observer, which sees the rare events
// (streams opening and ending, publishes), and a prometheus.Collector that
// reads the hub's hot counters (deliveries, bytes, queue depth) from
// Hub.Stats at scrape time, so that the fan-out path pays for nothing:
//
//	m := metrics.New()
//	tr := m.InstrumentTransport(transport) // optional: transport metrics
//	hub := herald.New(herald.WithTransport(tr), herald.WithObserver(m))
//	m.Watch(hub)
//	registry.MustRegister(m)
//
// Every metric is prefixed herald_. See docs/operations.md for the list
// and what to alert on.
package metrics

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldpush/herald"
)

// Reasons lists the disconnect reasons the hub reports, in the order the
// dashboard shows them. Their counters exist from the start, at zero, so
// that rate() works from the first scrape.
var Reasons = []herald.DisconnectReason{
	herald.ReasonClientGone,
	herald.ReasonSlow,
	herald.ReasonWriteTimeout,
	herald.ReasonWriteError,
	herald.ReasonExpired,
	herald.ReasonLifetime,
	herald.ReasonFinished,
	herald.ReasonShutdown,
}

// Limits lists the kinds of request a server may refuse, for
// herald_rejected_total. Rejected accepts others too.
var Limits = []string{"connections", "connections_per_ip", "publish_rate", "overload"}

// Publish and transport results.
const (
	ResultOK          = "ok"
	ResultUnavailable = "unavailable" // the backend could not be reached
	ResultCanceled    = "canceled"    // the caller gave up
	ResultError       = "error"       // anything else
)

var results = []string{ResultOK, ResultUnavailable, ResultCanceled, ResultError}

// latencyBuckets span an in-memory publish (microseconds) to a backend
// struggling through an outage (seconds).
var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Options configures New.
type Options struct {
	// HistoryTimeout bounds how long a scrape waits for the transport to
	// report its history size. Default 1 s; the metric is left out of a
	// scrape that timed out.
	HistoryTimeout time.Duration
}

// Metrics collects one hub's metrics. Create it with New, pass it to
// herald.New with herald.WithObserver, then call Watch with the hub and
// register it with a prometheus.Registerer. Its methods are safe for
// concurrent use.
type Metrics struct {
	opts Options
	hub  atomic.Pointer[herald.Hub]

	connects      atomic.Uint64
	replays       atomic.Uint64
	replayed      atomic.Uint64
	subscriptions atomic.Int64
	disconnects   map[herald.DisconnectReason]*atomic.Uint64
	otherReasons  sync.Map         // DisconnectReason -> *atomic.Uint64, for reasons added later
	published     [4]atomic.Uint64 // by results index
	rejected      sync.Map         // string -> *atomic.Uint64
	trErrors      atomic.Uint64
	trUp          atomic.Int32 // 1 after a successful operation, 0 after an unavailable one
	trSeen        atomic.Bool

	publishDur prometheus.Histogram
	trOps      *prometheus.CounterVec
	trDur      *prometheus.HistogramVec
	trReceived prometheus.Counter

	descSubscribers   *prometheus.Desc
	descSubscriptions *prometheus.Desc
	descConnects      *prometheus.Desc
	descDisconnects   *prometheus.Desc
	descPublished     *prometheus.Desc
	descDelivered     *prometheus.Desc
	descBytes         *prometheus.Desc
	descQueued        *prometheus.Desc
	descReplays       *prometheus.Desc
	descReplayed      *prometheus.Desc
	descRejected      *prometheus.Desc
	descHistory       *prometheus.Desc
	descTrUp          *prometheus.Desc
	descNode          *prometheus.Desc
}

var (
	_ herald.StreamObserver = (*Metrics)(nil)
	_ prometheus.Collector  = (*Metrics)(nil)
)

// New returns a Metrics with every counter at zero.
func New(opts ...Options) *Metrics {
	m := &Metrics{disconnects: make(map[herald.DisconnectReason]*atomic.Uint64)}
	if len(opts) > 0 {
		m.opts = opts[0]
	}
	if m.opts.HistoryTimeout <= 0 {
		m.opts.HistoryTimeout = time.Second
	}
	for _, r := range Reasons {
		m.disconnects[r] = new(atomic.Uint64)
	}
	for _, l := range Limits {
		m.rejected.Store(l, new(atomic.Uint64))
	}
	m.publishDur = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "herald_publish_duration_seconds",
		Help:    "Time to store a published update in the transport (Hub.Publish), successful or not.",
		Buckets: latencyBuckets,
	})
	m.trOps = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herald_transport_operations_total",
		Help: "Transport operations by operation (publish, history, ping) and result (ok, unavailable, canceled, error).",
	}, []string{"op", "result"})
	m.trDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "herald_transport_operation_duration_seconds",
		Help:    "Duration of transport operations, by operation.",
		Buckets: latencyBuckets,
	}, []string{"op"})
	m.trReceived = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "herald_transport_received_total",
		Help: "Updates the transport delivered to this node (published on any node).",
	})
	for _, op := range []string{"publish", "history", "ping"} {
		for _, r := range results {
			m.trOps.WithLabelValues(op, r)
		}
		m.trDur.WithLabelValues(op)
	}
	m.descSubscribers = prometheus.NewDesc("herald_subscribers", "Streams open now.", nil, nil)
	m.descSubscriptions = prometheus.NewDesc("herald_subscriptions", "Topic selectors of the streams open now.", nil, nil)
	m.descConnects = prometheus.NewDesc("herald_connects_total", "Streams opened (after their replay).", nil, nil)
	m.descDisconnects = prometheus.NewDesc("herald_disconnects_total", "Streams ended, by reason: client_gone, slow (queue overflow), write_timeout, write_error, token_expired, lifetime, finished, shutdown.", []string{"reason"}, nil)
	m.descPublished = prometheus.NewDesc("herald_updates_published_total", "Publish attempts through this node, by result (ok, unavailable, canceled, error).", []string{"result"}, nil)
	m.descDelivered = prometheus.NewDesc("herald_updates_delivered_total", "Updates handed to streams (one per update per stream).", nil, nil)
	m.descBytes = prometheus.NewDesc("herald_bytes_written_total", "Bytes of updates handed to streams.", nil, nil)
	m.descQueued = prometheus.NewDesc("herald_queued_updates", "Updates waiting in subscriber queues now; a growing value means slow consumers.", nil, nil)
	m.descReplays = prometheus.NewDesc("herald_replays_total", "Streams that resumed with Last-Event-ID and were sent history.", nil, nil)
	m.descReplayed = prometheus.NewDesc("herald_replayed_updates_total", "Updates sent from history to resuming streams.", nil, nil)
	m.descRejected = prometheus.NewDesc("herald_rejected_total", "Requests and connections refused by a limit (connections, connections_per_ip, publish_rate, overload).", []string{"limit"}, nil)
	m.descHistory = prometheus.NewDesc("herald_history_updates", "Updates kept in the transport's history, where the transport can tell.", nil, nil)
	m.descTrUp = prometheus.NewDesc("herald_transport_up", "1 when the last transport operation reached the backend, 0 when it was unavailable.", nil, nil)
	m.descNode = prometheus.NewDesc("herald_node_info", "The hub's node id, as a label; always 1.", []string{"node"}, nil)
	return m
}

// Watch makes the collector read hub's counters at each scrape. Call it
// once the hub exists (the Metrics must be its observer already).
func (m *Metrics) Watch(hub *herald.Hub) { m.hub.Store(hub) }

// Published implements herald.Observer.
func (m *Metrics) Published(_ *herald.Update, took time.Duration, err error) {
	m.published[resultIndex(err)].Add(1)
	m.publishDur.Observe(took.Seconds())
}

// Connected implements herald.Observer.
func (m *Metrics) Connected(replayed int) {
	m.connects.Add(1)
	if replayed > 0 {
		m.replays.Add(1)
		m.replayed.Add(uint64(replayed))
	}
}

// Disconnected implements herald.Observer.
func (m *Metrics) Disconnected(reason herald.DisconnectReason) {
	if c := m.disconnects[reason]; c != nil {
		c.Add(1)
		return
	}
	c, _ := m.otherReasons.LoadOrStore(reason, new(atomic.Uint64))
	c.(*atomic.Uint64).Add(1)
}

// StreamOpened implements herald.StreamObserver: it counts the stream's
// topic selectors until it ends.
func (m *Metrics) StreamOpened(_ *http.Request, selectors int) func() {
	m.subscriptions.Add(int64(selectors))
	return func() { m.subscriptions.Add(-int64(selectors)) }
}

// Rejected counts a request or connection refused by a limit; see Limits
// for the names the server uses.
func (m *Metrics) Rejected(limit string) {
	c, ok := m.rejected.Load(limit)
	if !ok {
		c, _ = m.rejected.LoadOrStore(limit, new(atomic.Uint64))
	}
	c.(*atomic.Uint64).Add(1)
}

func resultIndex(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, herald.ErrUnavailable):
		return 1
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return 2
	}
	return 3
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		m.descSubscribers, m.descSubscriptions, m.descConnects, m.descDisconnects,
		m.descPublished, m.descDelivered, m.descBytes, m.descQueued, m.descReplays,
		m.descReplayed, m.descRejected, m.descHistory, m.descTrUp, m.descNode,
	} {
		ch <- d
	}
	m.publishDur.Describe(ch)
	m.trOps.Describe(ch)
	m.trDur.Describe(ch)
	m.trReceived.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	s := m.Snapshot()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	if s.Node != "" {
		gauge(m.descNode, 1, s.Node)
		gauge(m.descSubscribers, float64(s.Subscribers))
		counter(m.descDelivered, s.Delivered)
		counter(m.descBytes, s.Bytes)
		gauge(m.descQueued, float64(s.Queued))
	}
	gauge(m.descSubscriptions, float64(s.Subscriptions))
	counter(m.descConnects, s.Connects)
	counter(m.descReplays, s.Replays)
	counter(m.descReplayed, s.Replayed)
	for _, r := range s.Disconnects {
		counter(m.descDisconnects, r.Count, r.Name)
	}
	for i, r := range results {
		counter(m.descPublished, m.published[i].Load(), r)
	}
	for _, r := range s.Rejected {
		counter(m.descRejected, r.Count, r.Name)
	}
	if m.trSeen.Load() {
		gauge(m.descTrUp, float64(m.trUp.Load()))
	}
	if hub := m.hub.Load(); hub != nil {
		if hs, ok := hub.Transport().(herald.HistorySizer); ok {
			ctx, cancel := context.WithTimeout(context.Background(), m.opts.HistoryTimeout)
			n, err := hs.HistorySize(ctx)
			cancel()
			if err == nil {
				gauge(m.descHistory, float64(n))
			}
		}
	}
	m.publishDur.Collect(ch)
	m.trOps.Collect(ch)
	m.trDur.Collect(ch)
	m.trReceived.Collect(ch)
}

// A Count is one labelled counter of a Snapshot.
type Count struct {
	Name  string `json:"name"`  // the label: a disconnect reason or a limit's name
	Count uint64 `json:"count"` // how many since the process started
}

// A Snapshot is the current value of every counter, for the dashboard.
// Counts are since the process started unless they say "now".
type Snapshot struct {
	Node          string  `json:"node"`          // the hub's node ID
	Subscribers   uint64  `json:"subscribers"`   // streams open now
	Subscriptions int64   `json:"subscriptions"` // topic selectors of the streams open now
	Connects      uint64  `json:"connects"`      // streams accepted
	Disconnects   []Count `json:"disconnects"`   // by reason, in Reasons order, then others by name
	Published     uint64  `json:"published"`     // updates published successfully
	PublishFailed uint64  `json:"publishFailed"` // publishes that failed, for any reason
	Delivered     uint64  `json:"delivered"`     // updates handed to streams
	Bytes         uint64  `json:"bytes"`         // bytes of those updates
	Queued        uint64  `json:"queued"`        // updates waiting in subscriber queues now
	Replays       uint64  `json:"replays"`       // streams that began with a replay of history
	Replayed      uint64  `json:"replayed"`      // updates sent by those replays
	Rejected      []Count `json:"rejected"`      // requests or connections refused, by limit, by name
	// TransportErrors counts transport operations that failed.
	TransportErrors uint64 `json:"transportErrors"`
}

// Snapshot returns the current counters, with the watched hub's Stats.
func (m *Metrics) Snapshot() Snapshot {
	s := Snapshot{
		Subscriptions:   max(m.subscriptions.Load(), 0),
		Connects:        m.connects.Load(),
		Replays:         m.replays.Load(),
		Replayed:        m.replayed.Load(),
		Published:       m.published[0].Load(),
		TransportErrors: m.trErrors.Load(),
	}
	for i := 1; i < len(m.published); i++ {
		s.PublishFailed += m.published[i].Load()
	}
	if hub := m.hub.Load(); hub != nil {
		st := hub.Stats()
		s.Node = hub.NodeID()
		s.Subscribers, s.Delivered, s.Bytes, s.Queued = st.Subscribers, st.Delivered, st.Bytes, st.Queued
	}
	for _, r := range Reasons {
		s.Disconnects = append(s.Disconnects, Count{string(r), m.disconnects[r].Load()})
	}
	var other []Count
	m.otherReasons.Range(func(k, v any) bool {
		other = append(other, Count{string(k.(herald.DisconnectReason)), v.(*atomic.Uint64).Load()})
		return true
	})
	sort.Slice(other, func(i, j int) bool { return other[i].Name < other[j].Name })
	s.Disconnects = append(s.Disconnects, other...)
	m.rejected.Range(func(k, v any) bool {
		s.Rejected = append(s.Rejected, Count{k.(string), v.(*atomic.Uint64).Load()})
		return true
	})
	sort.Slice(s.Rejected, func(i, j int) bool { return s.Rejected[i].Name < s.Rejected[j].Name })
	return s
}
