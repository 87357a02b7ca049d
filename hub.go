package herald

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/topic"
)

// Defaults for a hub's options.
const (
	DefaultHeartbeat      = 15 * time.Second
	DefaultWriteTimeout   = 5 * time.Second
	DefaultQueueSize      = 1024
	DefaultQueueBytes     = 1 << 20
	DefaultMaxPublishSize = 1 << 20
	DefaultMaxSelectors   = 100
)

type config struct {
	transport      Transport
	authorizer     Authorizer
	anonymous      bool
	publishNoToken bool
	heartbeat      time.Duration
	writeTimeout   time.Duration
	maxLifetime    time.Duration
	queueSize      int
	queueBytes     int
	maxPublishSize int64
	maxSelectors   int
	corsOrigins    []string
	publishOrigins []string
	logger         *slog.Logger
	shards         int
	hijack         bool
	ioUring        bool
	nodeID         string
	metadataURL    string
	finishedTTL    time.Duration
	observer       Observer
	hubURL         string // Mercure: WithHubURL (http.go)
	subscriptions  bool   // Mercure: WithSubscriptions (subscriptions.go)
}

// An Option configures a Hub.
type Option func(*config)

// WithTransport sets the transport that stores history and carries updates
// between nodes. The default is a MemoryTransport with default bounds. The
// hub does not close a transport it was given; the caller does, after
// Hub.Close.
func WithTransport(t Transport) Option { return func(c *config) { c.transport = t } }

// WithAuthorizer sets who may publish and receive private updates. Without
// one, HTTP publishing is refused (see WithPublishWithoutToken) and only
// public updates can be received.
func WithAuthorizer(a Authorizer) Option { return func(c *config) { c.authorizer = a } }

// WithAnonymous lets subscribers without a token receive public updates.
// It is off by default: every subscriber must present a valid token.
func WithAnonymous(on bool) Option { return func(c *config) { c.anonymous = on } }

// WithPublishWithoutToken lets anyone who can reach the hub publish to any
// topic over HTTP. Only for hubs that are not reachable by untrusted
// clients; off by default.
func WithPublishWithoutToken(on bool) Option { return func(c *config) { c.publishNoToken = on } }

// WithHeartbeat sets how long a stream may stay silent before the hub
// writes a comment to keep proxies and clients from timing it out. Traffic
// pushes the heartbeat back. Default 15 s; 0 disables heartbeats.
func WithHeartbeat(d time.Duration) Option { return func(c *config) { c.heartbeat = d } }

// WithWriteTimeout sets how long a write to a subscriber may take before
// the subscriber is dropped as dead or too slow. Default 5 s.
func WithWriteTimeout(d time.Duration) Option { return func(c *config) { c.writeTimeout = d } }

// WithMaxLifetime ends every stream after about d (randomised by up to 10%
// so that reconnects do not come in waves); clients resume with
// Last-Event-ID. Default: no limit.
func WithMaxLifetime(d time.Duration) Option { return func(c *config) { c.maxLifetime = d } }

// WithQueueLimits bounds each subscriber's queue of updates not yet
// written, by count and by bytes. A subscriber whose queue overflows is
// disconnected and resumes by itself with Last-Event-ID. Defaults 1024
// updates and 1 MiB.
func WithQueueLimits(count, bytes int) Option {
	return func(c *config) { c.queueSize, c.queueBytes = count, bytes }
}

// WithMaxPublishSize bounds a publish request's body; larger ones are
// answered 413. Default 1 MiB.
func WithMaxPublishSize(n int64) Option { return func(c *config) { c.maxPublishSize = n } }

// WithMaxSelectors bounds the topic selectors of one subscription request.
// Default 100.
func WithMaxSelectors(n int) Option { return func(c *config) { c.maxSelectors = n } }

// WithCORSOrigins sets the origins allowed to subscribe and publish from a
// browser on another origin. "*" allows every origin without credentials;
// credentialed requests are answered only for origins on the list.
func WithCORSOrigins(origins ...string) Option {
	return func(c *config) { c.corsOrigins = append([]string(nil), origins...) }
}

// WithPublishOrigins sets the origins from which a publish authorized by a
// cookie is accepted (CSRF protection). Without it, cookie-authorized
// publishing is refused unless the Origin is one of the CORS origins.
func WithPublishOrigins(origins ...string) Option {
	return func(c *config) { c.publishOrigins = append([]string(nil), origins...) }
}

// WithLogger sets the logger. The default discards nothing and writes to
// slog.Default().
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithShards sets how many dispatch goroutines share the subscribers.
// Default GOMAXPROCS.
func WithShards(n int) Option { return func(c *config) { c.shards = n } }

// WithHijack controls whether plain HTTP/1.1 streams are taken off net/http
// after their headers and served by the hub's shared writers (on Linux),
// which costs far less memory per idle stream. Default on; streams on
// HTTP/2, TLS or a ResponseWriter that cannot be hijacked stay on net/http
// either way.
func WithHijack(on bool) Option { return func(c *config) { c.hijack = on } }

// WithIOUring makes each shard write to its hijacked streams through an
// io_uring (Linux): the writes and heartbeats of a round are submitted in
// batches, one system call each, instead of one call per stream — about a
// third less CPU per write and lower fan-out latency where system calls are
// expensive (docs/benchmarks.md). Default off. Where the kernel or a
// sandbox refuses io_uring, the hub logs it and writes as before.
func WithIOUring(on bool) Option { return func(c *config) { c.ioUring = on } }

// WithNodeID names this node in logs and health output. Default: a random
// id.
func WithNodeID(id string) Option { return func(c *config) { c.nodeID = id } }

// WithFinishedTTL sets how long a topic finished by a final update keeps
// answering reconnects with 204. Default 1 hour.
func WithFinishedTTL(d time.Duration) Option { return func(c *config) { c.finishedTTL = d } }

// WithObserver sets a hook that sees the hub's events, for metrics.
func WithObserver(o Observer) Option { return func(c *config) { c.observer = o } }

// A Hub fans updates out to subscribers. It is an http.Handler that serves
// the Mercure protocol: GET subscribes, POST publishes.
//
// Create one with New; the zero Hub is not usable.
type Hub struct {
	cfg       config
	transport Transport
	ownsTr    bool
	stopL     func()
	log       *slog.Logger
	cache     *topic.Cache
	shards    []*shard
	next      atomic.Uint32
	finished  *finishedTopics
	rawConns  *rawServer // nil where hijacked streams are not supported
	// subs tracks Mercure subscriptions; nil unless WithSubscriptions.
	subs *subscriptionRegistry

	closing   chan struct{}
	closeOnce sync.Once
	closed    atomic.Bool
	loops     sync.WaitGroup // shard goroutines
	streams   sync.WaitGroup // subscribers not yet ended

	stats hubStats
}

// New returns a hub configured by opts, ready to serve.
func New(opts ...Option) *Hub {
	cfg := config{
		heartbeat:      DefaultHeartbeat,
		writeTimeout:   DefaultWriteTimeout,
		queueSize:      DefaultQueueSize,
		queueBytes:     DefaultQueueBytes,
		maxPublishSize: DefaultMaxPublishSize,
		maxSelectors:   DefaultMaxSelectors,
		hijack:         true,
		finishedTTL:    time.Hour,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.shards <= 0 {
		cfg.shards = runtime.GOMAXPROCS(0)
	}
	if cfg.queueSize <= 0 {
		cfg.queueSize = DefaultQueueSize
	}
	if cfg.queueBytes <= 0 {
		cfg.queueBytes = DefaultQueueBytes
	}
	if cfg.writeTimeout <= 0 {
		cfg.writeTimeout = DefaultWriteTimeout
	}
	if cfg.nodeID == "" {
		cfg.nodeID = NewID()[len("urn:uuid:"):][:8]
	}
	if cfg.observer == nil {
		cfg.observer = nopObserver{}
	}
	h := &Hub{
		cfg:      cfg,
		log:      cfg.logger,
		cache:    topic.NewCache(64 << 10),
		closing:  make(chan struct{}),
		finished: newFinishedTopics(cfg.finishedTTL),
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	h.log = h.log.With("node", cfg.nodeID)
	h.transport = cfg.transport
	if h.transport == nil {
		h.transport = NewMemoryTransport(MemoryConfig{})
		h.ownsTr = true
	}
	if cfg.subscriptions {
		h.subs = newSubscriptionRegistry(h) // subscriptions.go
	}
	h.shards = make([]*shard, cfg.shards)
	for i := range h.shards {
		h.shards[i] = newShard(h, i)
		h.loops.Add(1)
		go h.shards[i].run()
	}
	if cfg.hijack {
		h.rawConns = newRawServer(h)
	}
	stop, err := h.transport.Listen(h.deliver)
	if err != nil {
		// Listen fails only on a closed transport; every publish will fail
		// with the same error, which is where the caller will see it.
		h.log.Error("transport refused to listen", "err", err)
		stop = func() {}
	}
	h.stopL = stop
	h.startFinishedScan()
	return h
}

// NodeID returns the name of this node.
func (h *Hub) NodeID() string { return h.cfg.nodeID }

// Transport returns the hub's transport.
func (h *Hub) Transport() Transport { return h.transport }

// Publish validates u, fills in its ID (when empty), Time and Seq, and
// hands it to the transport, which delivers it to every matching
// subscriber on every node. It returns once the transport has stored it;
// it never waits for a subscriber.
func (h *Hub) Publish(ctx context.Context, u *Update) error {
	if h.closed.Load() {
		return ErrClosed
	}
	if u.ID == "" {
		u.ID = NewID()
	}
	if err := u.Validate(); err != nil {
		return err
	}
	if u.Time.IsZero() {
		u.Time = time.Now()
	}
	start := time.Now()
	c := u.clone()
	err := h.transport.Publish(ctx, c)
	h.cfg.observer.Published(c, time.Since(start), err)
	if err != nil {
		return fmt.Errorf("herald: publish %s: %w", u.ID, err)
	}
	u.Seq = c.Seq
	return nil
}

// deliver is the transport's listener: it hands the update to every shard.
func (h *Hub) deliver(u *Update) {
	if u.Final {
		h.finished.add(u.Topics, time.Now())
	}
	if h.subs != nil {
		h.subs.last.Store(u) // the subscriptions API's lastEventID
	}
	m := newMessage(u)
	for _, s := range h.shards {
		s.push(shardCmd{kind: cmdDeliver, msg: m})
	}
}

// Close ends every stream cleanly, after writing what was already queued
// for it, and stops the hub. Accepted updates are kept by the transport,
// so clients resume on another hub sharing it. Close waits for streams to
// end until ctx is done. It closes the transport only if New created it.
func (h *Hub) Close(ctx context.Context) error {
	var err error
	h.closeOnce.Do(func() {
		h.closed.Store(true)
		h.stopL()
		close(h.closing)
		for _, s := range h.shards {
			s.push(shardCmd{kind: cmdShutdown})
		}
		done := make(chan struct{})
		go func() {
			h.streams.Wait()
			h.loops.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-ctx.Done():
			err = fmt.Errorf("herald: close: %w", ctx.Err())
		}
		if h.rawConns != nil {
			h.rawConns.close()
		}
		if h.ownsTr {
			if cerr := h.transport.Close(); cerr != nil && err == nil {
				err = cerr
			}
		}
	})
	return err
}

// Ready reports whether the hub can accept updates: it is not closed and
// its transport, when it can tell, is reachable.
func (h *Hub) Ready(ctx context.Context) error {
	if h.closed.Load() {
		return ErrClosed
	}
	if p, ok := h.transport.(Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (h *Hub) pickShard() *shard {
	return h.shards[int(h.next.Add(1))%len(h.shards)]
}

var errHubClosed = errors.New("herald: hub is shutting down")
