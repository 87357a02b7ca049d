// Package redis is a herald.Transport on Redis: the transport for a cluster
// of Herald nodes that share one Redis (standalone or behind Sentinel).
//
// # Design
//
// A publish is one Lua script, run atomically by Redis: it takes the next
// sequence numbers from a counter, appends each update to a Stream under an
// explicit id "<seq>-0" (so that a replay after a sequence number is one
// XRANGE), records update id -> seq in a hash (the resume index), trims the
// stream and the index to the history bounds, and PUBLISHes the batch on one
// channel. The update is therefore stored before any node can see it, and
// every node sees the same sequence numbers: a client may resume on any node
// with the Last-Event-ID it got from another.
//
// Concurrent publishes are grouped: while one script call is on the wire,
// what arrives waits, and goes as the next call (up to 256 updates or
// 1 MiB). A lone publisher pays one round trip; many publishers share
// round trips, one script run and one Pub/Sub message per batch. This is
// why the transport uses go-redis with batching of its own rather than a
// client that auto-pipelines commands (rueidis): pipelining would still
// run one script and send one Pub/Sub message per update. go-redis also
// brings Sentinel support and is already a dependency. A batch carries a
// random token that Redis remembers for a short while, so a batch retried
// after a lost reply is not stored twice.
//
// Each Transport subscribes to the channel once, whatever the number of
// subscribers on its node, and delivers in sequence order. Redis Pub/Sub
// is at-most-once (a message published while a node is disconnected is
// gone), so the node tracks the last seq it delivered: a message whose
// first seq jumps ahead, a new subscription after a reconnect and a
// periodic idle check all fetch the missing range from the stream and
// deliver it first, and anything at or below the last seq is dropped as a
// duplicate. No update is lost or delivered twice at that seam.
//
// When Redis cannot be reached, Publish fails with an error wrapping
// herald.ErrUnavailable (the hub answers 503): at once when no connection
// can be made, within Config.Timeout when one was made but not answered.
// The node resubscribes with backoff and catches up once Redis is back, and
// Ping (the hub's readiness check) fails meanwhile. If Redis comes back
// without its data, nodes raise the counter past every seq they have seen,
// so that new updates are not taken for old ones.
//
// The data layout is described in scripts.go; docs/clustering.md covers
// operations and failure modes.
//
// The guarantee "a publish answered without error is kept" is as strong as
// Redis's own persistence: run Redis with appendonly yes and appendfsync
// always for no loss on a Redis crash (everysec loses up to a second).
// Redis 6.2 or later is required (XTRIM MINID, exclusive XRANGE).
package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldpush/herald"
)

// Config configures a Transport. Zero fields take the defaults.
type Config struct {
	// Prefix starts every key and the channel name, so that several hubs
	// (or tests) can share one Redis database. Default "herald:".
	Prefix string

	// Size is the most updates kept in history. Default
	// herald.DefaultHistorySize; negative removes the count bound, which
	// then requires MaxAge.
	Size int

	// MaxAge drops history older than this, judged by Update.Time (the
	// publishing node's clock). Default: no age bound.
	MaxAge time.Duration

	// Timeout bounds a publish and a history read, retries included.
	// After it, Publish fails with an error wrapping herald.ErrUnavailable.
	// Default 2 s.
	Timeout time.Duration

	// PingInterval is how long the subscription may stay silent before
	// the node pings Redis and checks that it missed nothing; a ping
	// unanswered for another interval drops the connection. Default 5 s.
	PingInterval time.Duration

	// Logger receives reconnects and data-loss warnings. Default
	// slog.Default().
	Logger *slog.Logger
}

// Defaults of Config.
const (
	DefaultPrefix       = "herald:"
	DefaultTimeout      = 2 * time.Second
	DefaultPingInterval = 5 * time.Second
)

// Batching limits: a script call carries at most maxBatch updates or
// about maxBatchBytes (one larger update goes alone).
//
// One batch is in flight at a time (group commit): while it is on the
// wire, what arrives queues up and goes in the next. The batch size thus
// follows the load, a lone publisher pays one round trip, and Redis runs
// few, larger scripts. Measured on two cores, two batches in flight gave
// smaller batches and about a third less throughput than one.
const (
	maxBatch      = 256
	maxBatchBytes = 1 << 20
	inFlight      = 1
	queueSize     = 4096
)

func (c *Config) setDefaults() error {
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.Size == 0 {
		c.Size = herald.DefaultHistorySize
	}
	if c.MaxAge < 0 {
		return fmt.Errorf("redis transport: negative max age %v", c.MaxAge)
	}
	if c.Size < 0 && c.MaxAge == 0 {
		// At least one bound always applies: an unbounded stream would
		// fill Redis's memory.
		return errors.New("redis transport: history needs a bound: a size or a max age")
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.PingInterval <= 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// keys are the Redis names a transport uses; see scripts.go for the layout.
type keys struct {
	seq, log, ids, channel, batch string
}

func newKeys(prefix string) keys {
	return keys{
		seq:     prefix + "seq",
		log:     prefix + "log",
		ids:     prefix + "ids",
		channel: prefix + "live",
		batch:   prefix + "b:",
	}
}

// Transport is a herald.Transport on Redis. Create it with Open or New.
// Its methods are safe for concurrent use.
type Transport struct {
	client     goredis.UniversalClient
	ownsClient bool
	cfg        Config
	keys       keys
	log        *slog.Logger

	ctx    context.Context // cancelled by Close; every background call uses it
	cancel context.CancelFunc
	wg     sync.WaitGroup

	queue    chan *pending
	stopping chan struct{} // closed when Close starts
	drained  chan struct{} // closed when no queued publish will be answered any more

	// hw is the highest seq this node has seen, published or delivered.
	hw atomic.Uint64

	// Listening state, see listen.go.
	lmu        sync.Mutex // guards listeners, nextL, ps, subErr
	listeners  map[int]*listener
	snapshot   atomic.Pointer[[]*listener]
	nextL      int
	delivering sync.Mutex // held while listeners are called
	ps         *goredis.PubSub
	subErr     error  // why the first subscription has not succeeded yet
	last       uint64 // last seq delivered; owned by the subscription loop
	started    bool   // the first subscription set last; owned by the loop
	subscribed atomic.Bool

	closed    atomic.Bool
	closeOnce sync.Once
}

// Open connects to the Redis named by rawURL (see ParseURL for the forms
// and options) and returns a transport that closes its client on Close.
// The URL's options override defaults. Open fails when Redis cannot be
// reached before ctx is done: a wrong address or password is reported at
// startup rather than by every publish.
func Open(ctx context.Context, rawURL string, defaults Config) (*Transport, error) {
	p, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	cfg := p.Apply(defaults)
	client := p.NewClient()
	t, err := newTransport(ctx, client, cfg, true)
	if err != nil {
		_ = client.Close()
		return nil, err
	}
	return t, nil
}

// New returns a transport on an existing client, which Close leaves open.
// The client should not retry commands on its own (go-redis: MaxRetries -1);
// a retried publish is still stored once, thanks to its batch token, but
// retries stretch the time before Publish reports an outage.
//
// New checks that Redis answers and is recent enough, loads the scripts and
// subscribes before it returns, all bounded by ctx.
func New(ctx context.Context, client goredis.UniversalClient, cfg Config) (*Transport, error) {
	return newTransport(ctx, client, cfg, false)
}

func newTransport(ctx context.Context, client goredis.UniversalClient, cfg Config, owns bool) (*Transport, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if err := checkServer(ctx, client); err != nil {
		return nil, err
	}
	for _, s := range []*goredis.Script{publishScript, historyScript, trimScript, raiseScript} {
		if err := s.Load(ctx, client).Err(); err != nil {
			return nil, fmt.Errorf("redis transport: load scripts: %w", classify(err))
		}
	}
	t := &Transport{
		client:     client,
		ownsClient: owns,
		cfg:        cfg,
		keys:       newKeys(cfg.Prefix),
		log:        cfg.Logger.With("transport", "redis"),
		queue:      make(chan *pending, queueSize),
		stopping:   make(chan struct{}),
		drained:    make(chan struct{}),
		listeners:  make(map[int]*listener),
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.snapshot.Store(&[]*listener{})

	ready := make(chan struct{}, 1)
	t.wg.Add(1)
	go t.subscribeLoop(ready)
	select {
	case <-ready:
	case <-ctx.Done():
		err := t.subscribeErr()
		t.shutdown()
		if err != nil {
			return nil, fmt.Errorf("redis transport: subscribe to %s: %w (%w)", t.keys.channel, classify(err), ctx.Err())
		}
		return nil, fmt.Errorf("redis transport: subscribe to %s: %w", t.keys.channel, ctx.Err())
	}
	for range inFlight {
		t.wg.Add(1)
		go t.worker()
	}
	if cfg.MaxAge > 0 {
		t.wg.Add(1)
		go t.trimLoop()
	}
	return t, nil
}

// checkServer pings Redis and checks its version.
func checkServer(ctx context.Context, client goredis.UniversalClient) error {
	info, err := client.Info(ctx, "server").Result()
	if err != nil {
		return fmt.Errorf("redis transport: connect: %w", classify(err))
	}
	for _, line := range strings.Split(info, "\n") {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:")
		if !ok {
			continue
		}
		parts := strings.SplitN(v, ".", 3)
		if len(parts) < 2 {
			break
		}
		major, err1 := strconv.Atoi(parts[0])
		minor, err2 := strconv.Atoi(parts[1])
		if err1 != nil || err2 != nil {
			break
		}
		if major < 6 || major == 6 && minor < 2 {
			return fmt.Errorf("redis transport: Redis %s is too old: 6.2 or later is needed (XTRIM MINID, exclusive ranges)", v)
		}
		return nil
	}
	// Servers that speak the protocol but report no version (proxies,
	// forks) are given the benefit of the doubt: the scripts fail clearly
	// if a command is missing.
	return nil
}

// Config returns the transport's configuration, defaults filled in.
func (t *Transport) Config() Config { return t.cfg }

// Ping implements herald.Pinger: it fails while Redis does not answer or
// while this node's subscription is down, since the node then neither
// stores nor receives updates.
func (t *Transport) Ping(ctx context.Context) error {
	if t.closed.Load() {
		return herald.ErrClosed
	}
	if err := t.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis transport: ping: %w", classify(err))
	}
	if !t.subscribed.Load() {
		return fmt.Errorf("redis transport: %w: subscription to %s is reconnecting", herald.ErrUnavailable, t.keys.channel)
	}
	return nil
}

// Close stops the transport: queued publishes fail with herald.ErrClosed,
// listeners are dropped, and the client is closed if Open created it. It
// does not delete anything in Redis. Close is safe to call more than once.
func (t *Transport) Close() error {
	var err error
	t.closeOnce.Do(func() {
		t.shutdown()
		if t.ownsClient {
			err = t.client.Close()
		}
	})
	return err
}

func (t *Transport) shutdown() {
	t.closed.Store(true)
	close(t.stopping)
	t.cancel()
	t.lmu.Lock()
	if t.ps != nil {
		_ = t.ps.Close() // unblocks the subscription loop's read
	}
	t.lmu.Unlock()
	t.wg.Wait()
	for {
		select {
		case p := <-t.queue:
			p.finish(0, herald.ErrClosed)
			continue
		default:
		}
		break
	}
	close(t.drained)
	t.lmu.Lock()
	clear(t.listeners)
	t.snapshot.Store(&[]*listener{})
	t.lmu.Unlock()
}

// sawSeq raises the node's high-water mark to seq.
func (t *Transport) sawSeq(seq uint64) {
	for {
		cur := t.hw.Load()
		if seq <= cur || t.hw.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// cutoff is the unix millisecond before which history has expired, or 0.
func (t *Transport) cutoff() int64 {
	if t.cfg.MaxAge <= 0 {
		return 0
	}
	return time.Now().Add(-t.cfg.MaxAge).UnixMilli()
}

// sizeArg is the count bound as the scripts take it (0: none).
func (t *Transport) sizeArg() int {
	return max(t.cfg.Size, 0)
}

// classify wraps errors that mean "Redis cannot serve this now" with
// herald.ErrUnavailable. Network errors, timeouts and replies such as
// LOADING (restarting), READONLY (a failover in progress), MASTERDOWN and
// OOM qualify; other error replies (a script error, a key of the wrong
// type) are bugs or misconfiguration and are returned as they are.
func classify(err error) error {
	if err == nil || errors.Is(err, herald.ErrUnavailable) || errors.Is(err, herald.ErrClosed) {
		return err
	}
	var rerr goredis.Error
	if errors.As(err, &rerr) && !errors.Is(err, goredis.ErrClosed) {
		msg := rerr.Error()
		for _, p := range []string{"LOADING", "READONLY", "MASTERDOWN", "OOM", "BUSY", "TRYAGAIN", "CLUSTERDOWN", "NOREPLICAS"} {
			if strings.HasPrefix(msg, p) {
				return fmt.Errorf("%w: %w", herald.ErrUnavailable, err)
			}
		}
		return err
	}
	return fmt.Errorf("%w: %w", herald.ErrUnavailable, err)
}

// newToken returns a random batch token.
func newToken() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
