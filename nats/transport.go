package nats

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldpush/herald"
)

// Transport is a herald.Transport on a JetStream stream. Open one per
// node; nodes on the same stream form a cluster. It is safe for concurrent
// use.
type Transport struct {
	cfg       Config
	log       *slog.Logger
	nc        *natsgo.Conn
	js        jetstream.JetStream
	stream    jetstream.Stream
	filter    string        // the stream's subject filter: <prefix>.u.*
	apiPrefix string        // $JS.API, or $JS.<domain>.API
	replicas  int           // the stream's, at Open
	maxAge    time.Duration // the stream's, at Open; 0 for none
	direct    bool          // the stream allows direct gets

	// lastKnown is the highest stream sequence this node knows to be
	// stored: from the stream's state, its own acks and its deliveries.
	// History reads at least up to it (see readFrom).
	lastKnown atomic.Uint64

	closed    atomic.Bool
	closeOnce sync.Once

	// connDown is canceled when the connection drops and replaced when it
	// is back: a request in flight then fails at once instead of waiting
	// out its timeout for an answer that cannot come.
	connMu   sync.Mutex
	connDown context.Context
	connLost context.CancelCauseFunc

	mu        sync.Mutex // guards feed, nextL and changes to listeners
	listeners atomic.Pointer[[]listener]
	nextL     int
	feed      *feed

	bufs sync.Pool // *[]byte encoding buffers

	// noBatch makes History read one message per request, as it does on
	// servers older than 2.11 (set by tests to cover that path).
	noBatch bool
	// checkEvery is how often the feed checks that it makes progress.
	checkEvery time.Duration
}

type listener struct {
	id      int
	deliver func(*herald.Update)
}

var _ herald.Transport = (*Transport)(nil)
var _ herald.Pinger = (*Transport)(nil)

// Open connects to NATS, creates the stream if it does not exist (or
// brings an existing one's limits in line with cfg), and returns the
// transport. It fails if NATS cannot be reached within cfg.Timeout (the
// error wraps herald.ErrUnavailable) or if the stream exists with an
// incompatible configuration; after Open succeeds, the connection is
// re-established forever whenever it drops.
func Open(ctx context.Context, cfg Config) (*Transport, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	t := &Transport{
		cfg:        cfg,
		log:        cfg.Logger.With("transport", "nats", "stream", cfg.Stream),
		filter:     cfg.SubjectPrefix + ".u.*",
		apiPrefix:  "$JS.API",
		checkEvery: time.Second,
	}
	t.connDown, t.connLost = context.WithCancelCause(context.Background())
	if cfg.Domain != "" {
		t.apiPrefix = "$JS." + cfg.Domain + ".API"
	}
	servers := strings.Join(cfg.Redacted(), ",")
	opts := []natsgo.Option{
		natsgo.Name(cfg.Name),
		natsgo.Timeout(cfg.Timeout),
		// Reconnect forever, with exponential backoff and jitter so that a
		// fleet of nodes does not reconnect in waves.
		natsgo.MaxReconnects(-1),
		natsgo.CustomReconnectDelay(reconnectDelay),
		// No reconnect buffer: while disconnected a publish fails at once
		// (and the hub answers 503) instead of being queued in memory with
		// an outcome nobody waits for.
		natsgo.ReconnectBufSize(-1),
		// Notice a silently dead server in about 20 s, not the default
		// 4 minutes.
		natsgo.PingInterval(10 * time.Second),
		natsgo.MaxPingsOutstanding(2),
		natsgo.DisconnectErrHandler(func(_ *natsgo.Conn, err error) {
			t.connMu.Lock()
			t.connLost(errConnectionLost)
			t.connMu.Unlock()
			if t.closed.Load() {
				return // Close, not an outage
			}
			t.log.Warn("nats: disconnected; reconnecting", "err", err)
		}),
		natsgo.ReconnectHandler(func(nc *natsgo.Conn) {
			t.connMu.Lock()
			t.connDown, t.connLost = context.WithCancelCause(context.Background())
			t.connMu.Unlock()
			t.log.Info("nats: reconnected", "server", nc.ConnectedUrlRedacted())
		}),
		natsgo.ErrorHandler(func(_ *natsgo.Conn, sub *natsgo.Subscription, err error) {
			if sub != nil {
				t.log.Warn("nats: asynchronous error", "subject", sub.Subject, "err", err)
				return
			}
			t.log.Warn("nats: asynchronous error", "err", err)
		}),
	}
	opts = append(opts, cfg.Options...)
	nc, err := natsgo.Connect(strings.Join(cfg.Servers, ","), opts...)
	if err != nil {
		return nil, fmt.Errorf("nats: connect to %s: %w: %w", servers, herald.ErrUnavailable, err)
	}
	t.nc = nc
	if cfg.Domain != "" {
		t.js, err = jetstream.NewWithDomain(nc, cfg.Domain)
	} else {
		t.js, err = jetstream.New(nc)
	}
	if err == nil {
		err = t.ensureStream(ctx)
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	info := t.stream.CachedInfo()
	t.lastKnown.Store(info.State.LastSeq)
	t.replicas = info.Config.Replicas
	t.maxAge = info.Config.MaxAge
	t.direct = info.Config.AllowDirect
	t.log.Debug("nats: transport open", "servers", servers, "last_seq", info.State.LastSeq)
	return t, nil
}

// streamConfig is the stream configuration cfg asks for.
func (t *Transport) streamConfig() jetstream.StreamConfig {
	c := t.cfg
	sc := jetstream.StreamConfig{
		Name:        c.Stream,
		Description: "Herald updates: history and fan-out between nodes",
		Subjects:    []string{t.filter},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxMsgs:     -1,
		MaxBytes:    -1,
		Storage:     jetstream.FileStorage,
		Replicas:    c.Replicas,
		Duplicates:  c.Duplicates,
		AllowDirect: true,
	}
	if c.Size > 0 {
		sc.MaxMsgs = int64(c.Size)
	}
	if c.MaxAge > 0 {
		sc.MaxAge = c.MaxAge
	}
	if c.MaxBytes > 0 {
		sc.MaxBytes = c.MaxBytes
	}
	if c.Storage == MemoryStorage {
		sc.Storage = jetstream.MemoryStorage
	}
	return sc
}

// ensureStream creates the stream, or checks an existing one and updates
// its limits to the configured ones. Nodes configured alike converge on
// one stream; the last node to start with different limits sets them (and
// says so in its log).
func (t *Transport) ensureStream(ctx context.Context) error {
	want := t.streamConfig()
	ctx, cancel := context.WithTimeout(ctx, 2*t.cfg.Timeout)
	defer cancel()
	s, err := t.js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) && t.cfg.Unmanaged {
		return fmt.Errorf("nats: stream %q does not exist, and Herald was told not to manage it (manage=false): create it with subjects %q and limits retention", want.Name, t.filter)
	}
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = t.js.CreateStream(ctx, want)
		if err == nil {
			t.log.Info("nats: created stream", "subjects", want.Subjects, "max_msgs", want.MaxMsgs,
				"max_age", want.MaxAge, "max_bytes", want.MaxBytes, "storage", want.Storage.String(), "replicas", want.Replicas)
			t.stream = s
			return nil
		}
		if !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return t.openErr("create stream", err)
		}
		// Another node created it first: check it like any existing one.
		s, err = t.js.Stream(ctx, want.Name)
	}
	if err != nil {
		return t.openErr("look up stream", err)
	}
	have := s.CachedInfo().Config
	if !slices.Contains(have.Subjects, t.filter) {
		return fmt.Errorf("nats: stream %q exists with subjects %q, not %q: use another stream= or prefix=", want.Name, have.Subjects, t.filter)
	}
	if have.Retention != jetstream.LimitsPolicy {
		return fmt.Errorf("nats: stream %q has %s retention; Herald needs limits retention", want.Name, have.Retention)
	}
	if t.cfg.Unmanaged {
		if !have.AllowDirect {
			t.log.Warn("nats: the stream does not allow direct gets (allow_direct): history is read from the stream leader one message at a time; enable allow_direct for faster resumes")
		}
		t.stream = s
		return nil
	}
	if have.Storage != want.Storage {
		return fmt.Errorf("nats: stream %q exists with %s storage, not %s as configured (JetStream cannot change a stream's storage: delete the stream or change storage=)",
			want.Name, strings.ToLower(have.Storage.String()), strings.ToLower(want.Storage.String()))
	}
	upd := have
	upd.MaxMsgs, upd.MaxAge, upd.MaxBytes = want.MaxMsgs, want.MaxAge, want.MaxBytes
	upd.Replicas, upd.Duplicates, upd.AllowDirect, upd.Discard = want.Replicas, want.Duplicates, true, jetstream.DiscardOld
	if upd.MaxMsgs != have.MaxMsgs || upd.MaxAge != have.MaxAge || upd.MaxBytes != have.MaxBytes ||
		upd.Replicas != have.Replicas || upd.Duplicates != have.Duplicates || !have.AllowDirect || have.Discard != jetstream.DiscardOld {
		s, err = t.js.UpdateStream(ctx, upd)
		if err != nil {
			return t.openErr("update stream limits", err)
		}
		t.log.Warn("nats: updated the existing stream's configuration to this node's",
			"max_msgs", fmt.Sprintf("%d -> %d", have.MaxMsgs, upd.MaxMsgs),
			"max_age", fmt.Sprintf("%v -> %v", have.MaxAge, upd.MaxAge),
			"max_bytes", fmt.Sprintf("%d -> %d", have.MaxBytes, upd.MaxBytes),
			"replicas", fmt.Sprintf("%d -> %d", have.Replicas, upd.Replicas),
			"duplicates", fmt.Sprintf("%v -> %v", have.Duplicates, upd.Duplicates))
	}
	t.stream = s
	return nil
}

// openErr wraps an error met while opening: an unreachable JetStream is
// herald.ErrUnavailable, anything else (a refused configuration) is not.
func (t *Transport) openErr(op string, err error) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return fmt.Errorf("nats: %s %q: %w", op, t.cfg.Stream, err)
	}
	return fmt.Errorf("nats: %s %q: %w: %w", op, t.cfg.Stream, herald.ErrUnavailable, err)
}

// reconnectDelay is the wait before each pass over the server list:
// exponential from 100 ms to 5 s, jittered down by up to half.
func reconnectDelay(attempts int) time.Duration {
	d := 100 * time.Millisecond << min(max(attempts-1, 0), 6)
	d = min(d, 5*time.Second)
	return d/2 + rand.N(d/2+1)
}

// idEncoding writes subject tokens: digits and upper-case letters only.
var idEncoding = base32.HexEncoding.WithPadding(base32.NoPadding)

// subjectFor returns the subject an update with this id is stored on:
// <prefix>.u.<16 base32 characters of SHA-256(id)>. 80 bits make an
// accidental collision negligible; lookups check the stored id anyway.
func (t *Transport) subjectFor(id string) string {
	sum := sha256.Sum256([]byte(id))
	return t.cfg.SubjectPrefix + ".u." + idEncoding.EncodeToString(sum[:10])
}

// noteSeq records that seq is stored.
func (t *Transport) noteSeq(seq uint64) {
	for {
		cur := t.lastKnown.Load()
		if seq <= cur || t.lastKnown.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// fail wraps an error from NATS for the caller: ErrClosed once the
// transport is closed, the caller's own context error when that ended the
// wait, herald.ErrUnavailable otherwise.
func (t *Transport) fail(ctx context.Context, op string, err error) error {
	if t.closed.Load() {
		return fmt.Errorf("nats: %s: %w", op, herald.ErrClosed)
	}
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("nats: %s: %w", op, cerr)
	}
	return fmt.Errorf("nats: %s: %w: %w", op, herald.ErrUnavailable, err)
}

// errConnectionLost ends a request whose connection dropped.
var errConnectionLost = errors.New("connection to NATS lost")

// opContext returns the context of one request to NATS: ctx, bounded by
// the timeout and ended early if the connection drops.
func (t *Transport) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	t.connMu.Lock()
	down := t.connDown
	t.connMu.Unlock()
	octx, cancelCause := context.WithCancelCause(ctx)
	tctx, cancelTimeout := context.WithTimeout(octx, t.cfg.Timeout)
	stop := context.AfterFunc(down, func() { cancelCause(context.Cause(down)) })
	return tctx, func() {
		stop()
		cancelTimeout()
		cancelCause(nil)
	}
}

// cause replaces the bare context error of a request that opContext ended
// with the reason.
func cause(octx context.Context, err error) error {
	if c := context.Cause(octx); c != nil && errors.Is(err, octx.Err()) && !errors.Is(c, octx.Err()) {
		return c
	}
	return err
}

// notConnected is the error for a call made while the connection is down.
func (t *Transport) notConnected(op string) error {
	return fmt.Errorf("nats: %s: %w: not connected to NATS (%s)", op, herald.ErrUnavailable, t.nc.Status())
}

// Publish implements herald.Transport. It returns nil once JetStream has
// acknowledged that the stream stored u, and sets u.Seq to its stream
// sequence. Without a connection, or when JetStream does not answer within
// Config.Timeout, the error wraps herald.ErrUnavailable.
//
// The update id is sent as Nats-Msg-Id. Mercure ids identify one update,
// so a second publish of the same id within the de-duplication window is
// almost always a retry whose first answer was lost; JetStream then
// answers with the stored update's sequence instead of storing it again,
// and Publish returns nil with that Seq. To keep a publisher that reuses
// an id for a different update from losing it, Publish compares the
// stored update with u (topics, data, type, retry, flags) and, if they
// differ, stores u once more without de-duplication.
func (t *Transport) Publish(ctx context.Context, u *herald.Update) error {
	if t.closed.Load() {
		return herald.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("nats: publish: %w", err)
	}
	if u.Time.IsZero() {
		u.Time = time.Now()
	}
	if !t.nc.IsConnected() {
		return t.notConnected("publish")
	}
	bp, _ := t.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	defer t.bufs.Put(bp)
	enc := *u
	enc.Seq = 0
	body, err := enc.AppendBinary((*bp)[:0])
	if err != nil {
		return fmt.Errorf("nats: publish: encode: %w", err)
	}
	*bp = body
	if max := t.nc.MaxPayload(); int64(len(body)+len(u.ID)+len(t.cfg.Stream)+128) > max {
		return fmt.Errorf("nats: publish: the update is %d bytes encoded, more than the NATS server's max_payload of %d bytes: %w", len(body), max, herald.ErrTooLarge)
	}
	subject := t.subjectFor(u.ID)
	pctx, cancel := t.opContext(ctx)
	defer cancel()
	ack, err := t.publish(pctx, subject, body, u.ID)
	if err != nil {
		return t.fail(ctx, "publish", cause(pctx, err))
	}
	if ack.Duplicate {
		same, err := t.sameAsStored(pctx, ack.Sequence, u)
		if err != nil {
			return t.fail(ctx, "publish: check the stored update with the same id", cause(pctx, err))
		}
		if !same {
			t.log.Warn("nats: an update reused the id of a different stored update; storing it without de-duplication", "id", u.ID)
			if ack, err = t.publish(pctx, subject, body, ""); err != nil {
				return t.fail(ctx, "publish", cause(pctx, err))
			}
		}
	}
	u.Seq = ack.Sequence
	t.noteSeq(ack.Sequence)
	return nil
}

func (t *Transport) publish(ctx context.Context, subject string, body []byte, msgID string) (*jetstream.PubAck, error) {
	msg := &natsgo.Msg{Subject: subject, Data: body, Header: natsgo.Header{}}
	opts := []jetstream.PublishOpt{jetstream.WithExpectStream(t.cfg.Stream)}
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	return t.js.PublishMsg(ctx, msg, opts...)
}

// sameAsStored reports whether the update stored at seq carries the same
// content as u, the publish that JetStream took for its duplicate.
func (t *Transport) sameAsStored(ctx context.Context, seq uint64, u *herald.Update) (bool, error) {
	m, found, err := t.leaderGet(ctx, msgGetRequest{Seq: seq})
	if err != nil {
		return false, err
	}
	if !found {
		// Already evicted: storing it again is the safe side.
		return false, nil
	}
	var s herald.Update
	if err := s.UnmarshalBinary(m.data); err != nil {
		return false, nil
	}
	return s.ID == u.ID && slices.Equal(s.Topics, u.Topics) && s.Data == u.Data && s.Type == u.Type &&
		s.Retry == u.Retry && s.Private == u.Private && s.Final == u.Final, nil
}

// Listen implements herald.Transport. The first Listen starts the node's
// one ordered consumer at the stream's current end; every listener gets
// the updates the consumer receives from then on. deliver must not call
// the returned stop function.
func (t *Transport) Listen(deliver func(*herald.Update)) (func(), error) {
	if deliver == nil {
		return nil, errors.New("nats: Listen: nil deliver function")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed.Load() {
		return nil, herald.ErrClosed
	}
	id := t.nextL
	t.nextL++
	var cur []listener
	if p := t.listeners.Load(); p != nil {
		cur = *p
	}
	next := append(slices.Clip(cur), listener{id: id, deliver: deliver})
	t.listeners.Store(&next)
	if t.feed == nil {
		t.feed = t.startFeed()
	}
	f := t.feed
	var once sync.Once
	return func() {
		once.Do(func() {
			t.mu.Lock()
			if p := t.listeners.Load(); p != nil {
				rest := slices.DeleteFunc(slices.Clone(*p), func(l listener) bool { return l.id == id })
				t.listeners.Store(&rest)
			}
			t.mu.Unlock()
			// Wait for a delivery that may still be calling this
			// listener: later ones load the new list.
			f.dmu.Lock()
			f.dmu.Unlock() //nolint:staticcheck // the empty critical section is the wait

		})
	}, nil
}

// History implements herald.Transport.
func (t *Transport) History(ctx context.Context, q herald.HistoryQuery) (herald.HistoryPage, error) {
	if t.closed.Load() {
		return herald.HistoryPage{}, herald.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return herald.HistoryPage{}, fmt.Errorf("nats: history: %w", err)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = herald.DefaultHistoryPage
	}
	if !t.nc.IsConnected() {
		return herald.HistoryPage{}, t.notConnected("history")
	}
	hctx, cancel := t.opContext(ctx)
	defer cancel()
	// Everything this node knows to be stored must be in the page: a
	// replica that lags behind the one that stored it is caught up from
	// the stream leader (see readFrom).
	floor := t.lastKnown.Load()
	var cutoff time.Time
	if t.maxAge > 0 {
		// JetStream expires old messages on a timer; reading by the same
		// rule keeps History exact in between.
		cutoff = time.Now().Add(-t.maxAge)
	}
	page := herald.HistoryPage{Found: true}
	start := uint64(1)
	switch {
	case q.AfterSeq != 0:
		start = q.AfterSeq + 1
	case q.AfterID == herald.EarliestID:
	default:
		seq, found, err := t.lookup(hctx, q.AfterID, cutoff)
		if err != nil {
			return herald.HistoryPage{}, t.fail(ctx, "history: look up "+q.AfterID, cause(hctx, err))
		}
		if found {
			start = seq + 1
		} else {
			page.Found = false
		}
	}
	ups, err := t.readFrom(hctx, start, limit, cutoff, floor)
	if err != nil {
		return herald.HistoryPage{}, t.fail(ctx, "history", cause(hctx, err))
	}
	page.Updates = ups
	return page, nil
}

// Ping implements herald.Pinger: it fails while the connection is down or
// JetStream does not answer for the stream.
func (t *Transport) Ping(ctx context.Context) error {
	if t.closed.Load() {
		return herald.ErrClosed
	}
	if !t.nc.IsConnected() {
		return t.notConnected("ping")
	}
	pctx, cancel := t.opContext(ctx)
	defer cancel()
	info, err := t.stream.Info(pctx)
	if err != nil {
		return t.fail(ctx, "ping", cause(pctx, err))
	}
	t.noteSeq(info.State.LastSeq)
	return nil
}

// Close implements herald.Transport: it stops the consumer, waits for a
// delivery in progress, and closes the connection. The stream and its
// history stay on the NATS servers.
func (t *Transport) Close() error {
	t.closeOnce.Do(func() {
		t.mu.Lock()
		t.closed.Store(true)
		f := t.feed
		t.listeners.Store(nil)
		t.mu.Unlock()
		if f != nil {
			f.stop()
		}
		t.nc.Close()
	})
	return nil
}
