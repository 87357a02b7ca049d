// Package bolt is Herald's embedded durable transport: history in a bbolt
// file (go.etcd.io/bbolt) that survives a restart and a crash, for a single
// node.
//
// Every publish is committed to disk before Publish returns nil. One writer
// goroutine takes all pending publishes, writes them in one transaction and
// commits it with one fsync (group commit), then hands the updates to the
// listeners in Seq order and answers the publishers. History is bounded by
// count and by age by default; old entries are deleted a bounded number at a
// time, so that cleanup never stalls publishing.
//
// File layout (format "herald-bolt-1"):
//
//	bucket "updates": key = Seq as 8 bytes big-endian, value = entry;
//	                  the bucket's sequence is the last Seq assigned
//	bucket "ids":     key = update id (or 0xFF + SHA-256 of a long id),
//	                  value = Seq of the newest update with that id
//	bucket "meta":    "format" = "herald-bolt-1"
//
// An entry is the update's time (unix nanoseconds, 8 bytes big-endian), its
// id (uvarint length and bytes) and the update's binary encoding
// (herald.Update.MarshalBinary). The time and id up front let cleanup work
// without decoding whole updates.
package bolt

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/heraldpush/herald"
)

// Defaults for Options.
const (
	// DefaultMaxAge bounds history by age unless Options say otherwise:
	// an unbounded file is what operators of other hubs complain about.
	DefaultMaxAge = 24 * time.Hour

	// DefaultLockTimeout is how long Open waits for another process to
	// release the file before it gives up.
	DefaultLockTimeout = time.Second
)

// Tuning of the writer.
const (
	// maxBatch and maxBatchBytes bound the publishes committed in one
	// transaction, so that one transaction's memory and commit time stay
	// small.
	maxBatch      = 1024
	maxBatchBytes = 8 << 20

	// maxGatherWait bounds how long the writer waits for publishers to
	// fill a batch (see gather).
	maxGatherWait = 2 * time.Millisecond

	// cleanupBatch bounds the entries one transaction deletes, so that a
	// backlog (a lowered bound, a burst that aged out) is worked off in
	// small steps between publishes instead of in one long transaction.
	cleanupBatch = 2000

	// queueSize is how many publishes may wait for the writer.
	queueSize = 4096
)

const format = "herald-bolt-1"

var (
	bucketUpdates = []byte("updates")
	bucketIDs     = []byte("ids")
	bucketMeta    = []byte("meta")
	keyFormat     = []byte("format")
)

// Options configure a Transport. The zero value is the production default:
// 10,000 updates, 24 hours, fsync on every commit.
type Options struct {
	// Size is the most updates kept. Zero means herald.DefaultHistorySize;
	// negative means no count bound.
	Size int

	// MaxAge drops updates older than this (by Update.Time). Zero means
	// DefaultMaxAge; negative means no age bound. When both bounds are
	// off, the count bound is applied anyway: history is never unbounded
	// by accident.
	MaxAge time.Duration

	// NoSync skips fsync on commit: much faster, but a crash of the
	// machine (not only of the process) may lose updates that were
	// acknowledged. Off by default.
	NoSync bool

	// LockTimeout is how long Open waits for another process holding
	// the file. Zero means DefaultLockTimeout.
	LockTimeout time.Duration

	// Logger receives errors and cleanup progress. Default slog.Default().
	Logger *slog.Logger
}

// Transport is a herald.Transport storing history in a bbolt file. It
// delivers to listeners in this process only: it is for one node. Create
// one with Open.
type Transport struct {
	db     *bbolt.DB
	path   string
	size   uint64 // 0: no count bound
	maxAge time.Duration
	log    *slog.Logger
	now    func() time.Time

	reqs    chan *request
	closing chan struct{} // closed by Close
	exited  chan struct{} // closed when the writer has answered everything it took
	closed  atomic.Bool

	closeOnce sync.Once
	closeErr  error

	lmu       sync.Mutex
	listeners atomic.Pointer[[]*listener] // copy on write
	lastErr   atomic.Pointer[error]       // last commit failure, nil after a success
	commits   atomic.Uint64               // transactions committed with publishes, for benchmarks

	// Owned by the writer goroutine.
	seq          uint64 // last Seq committed
	cleanupDue   bool   // the last cleanup hit its budget
	nextAgeCheck time.Time
}

type request struct {
	ctx context.Context
	// u is the writer's own copy of the published update, so that a
	// publisher that gave up waiting never races with the writer.
	u    *herald.Update
	size int        // payload bytes, for the batch budget
	done chan error // buffered: the writer never blocks on it
}

type listener struct {
	mu      sync.Mutex // held while deliver runs
	stopped bool
	deliver func(*herald.Update)
}

// Open opens (creating it when missing) the history file at path. It
// fails with a clear error when another process holds the file.
func Open(path string, opts Options) (*Transport, error) {
	if path == "" {
		return nil, errors.New("bolt: empty path")
	}
	size, maxAge := opts.Size, opts.MaxAge
	if size == 0 {
		size = herald.DefaultHistorySize
	}
	if maxAge == 0 {
		maxAge = DefaultMaxAge
	}
	if size < 0 && maxAge < 0 {
		size = herald.DefaultHistorySize
	}
	lockTimeout := opts.LockTimeout
	if lockTimeout <= 0 {
		lockTimeout = DefaultLockTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout: lockTimeout,
		NoSync:  opts.NoSync,
		// The freelist is rebuilt by a scan at open instead of being
		// written by every commit: cheaper commits, and the file holds
		// little more than the bounded history, so the scan is short.
		NoFreelistSync: true,
		FreelistType:   bbolt.FreelistMapType,
	})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("bolt: open %s: the file is locked by another process (is another herald using it?); gave up after %v", path, lockTimeout)
		}
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	t := &Transport{
		db:      db,
		path:    path,
		maxAge:  max(maxAge, 0),
		log:     log.With("transport", "bolt", "path", path),
		now:     time.Now,
		reqs:    make(chan *request, queueSize),
		closing: make(chan struct{}),
		exited:  make(chan struct{}),
	}
	if size > 0 {
		t.size = uint64(size)
	}
	t.listeners.Store(new([]*listener))
	if err := db.Update(t.initialize); err != nil {
		db.Close()
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	// Whatever the bounds were when the file was last written, apply the
	// current ones soon.
	t.cleanupDue = true
	go t.writer()
	return t, nil
}

func (t *Transport) initialize(tx *bbolt.Tx) error {
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return err
	}
	switch f := meta.Get(keyFormat); {
	case f == nil:
		if err := meta.Put(keyFormat, []byte(format)); err != nil {
			return err
		}
	case string(f) != format:
		return fmt.Errorf("not a herald history file of format %q (found %q)", format, f)
	}
	updates, err := tx.CreateBucketIfNotExists(bucketUpdates)
	if err != nil {
		return err
	}
	if _, err := tx.CreateBucketIfNotExists(bucketIDs); err != nil {
		return err
	}
	t.seq = updates.Sequence()
	if k, _ := updates.Cursor().Last(); k != nil {
		if seq, ok := seqOf(k); ok {
			t.seq = max(t.seq, seq)
		}
	}
	return nil
}

// Path returns the file's path.
func (t *Transport) Path() string { return t.path }

// Publish implements herald.Transport. It returns nil once u is committed
// to the file (and fsynced, unless Options.NoSync), after listeners got it.
func (t *Transport) Publish(ctx context.Context, u *herald.Update) error {
	if t.closed.Load() {
		return herald.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("bolt: publish: %w", err)
	}
	c := *u // the hub's update is private already; a shallow copy will do
	r := &request{ctx: ctx, u: &c, size: len(u.Data) + len(u.ID), done: make(chan error, 1)}
	for _, topic := range u.Topics {
		r.size += len(topic)
	}
	select {
	case t.reqs <- r:
	case <-t.closing:
		return herald.ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("bolt: publish: %w", ctx.Err())
	}
	var err error
	select {
	case err = <-r.done:
	case <-t.exited:
		// The writer answers everything it took before it exits; a
		// request it did not take was sent after its last look.
		select {
		case err = <-r.done:
		default:
			return herald.ErrClosed
		}
	case <-ctx.Done():
		// The update may still be committed: the caller must treat it as
		// not accepted, which the interface allows.
		return fmt.Errorf("bolt: publish: %w", ctx.Err())
	}
	if err == nil {
		u.Seq = c.Seq
		if u.Time.IsZero() {
			u.Time = c.Time
		}
	}
	return err
}

// writer is the only goroutine that writes to the file and the only one
// that calls listeners, which is what keeps deliveries in Seq order.
func (t *Transport) writer() {
	defer close(t.exited)
	tick := time.NewTicker(t.cleanupInterval())
	defer tick.Stop()
	batch := make([]*request, 0, maxBatch)
	var lastBatch int            // publishes in the last commit
	var lastCommit time.Duration // how long it took
	for {
		// Pending publishes first; cleanup backlog only when idle.
		var first *request
		select {
		case first = <-t.reqs:
		case <-t.closing:
			t.drain(batch)
			return
		default:
			if t.cleanupDue {
				t.cleanupOnly()
				continue
			}
			select {
			case first = <-t.reqs:
			case <-t.closing:
				t.drain(batch)
				return
			case <-tick.C:
				t.cleanupIfExpired()
				continue
			}
		}
		batch = t.gather(append(batch[:0], first), lastBatch, lastCommit)
		start := time.Now()
		t.commit(batch)
		lastBatch, lastCommit = len(batch), time.Since(start)
		clear(batch)
	}
}

// gather adds pending publishes to batch. Publishers answered by the last
// commit need a moment to come back with their next update; a writer that
// commits at once catches only some of them, and batches alternate
// between large and small. So while the batch is smaller than the last
// one, gather waits for more, for at most an eighth of the last commit's
// duration: a few hundred microseconds against a millisecond fsync, next
// to nothing without one, and never for a lone publisher.
func (t *Transport) gather(batch []*request, lastBatch int, lastCommit time.Duration) []*request {
	var deadline time.Time
	bytes := batch[0].size
	for len(batch) < maxBatch && bytes < maxBatchBytes {
		select {
		case r := <-t.reqs:
			batch = append(batch, r)
			bytes += r.size
			continue
		default:
		}
		if len(batch) >= lastBatch {
			return batch
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(min(lastCommit/8, maxGatherWait))
		} else if time.Now().After(deadline) {
			return batch
		}
		runtime.Gosched()
	}
	return batch
}

// drain commits what was queued before Close.
func (t *Transport) drain(batch []*request) {
	for {
		batch = batch[:0]
		bytes := 0
	fill:
		for len(batch) < maxBatch && bytes < maxBatchBytes {
			select {
			case r := <-t.reqs:
				batch = append(batch, r)
				bytes += r.size
			default:
				break fill
			}
		}
		if len(batch) == 0 {
			return
		}
		t.commit(batch)
	}
}

func (t *Transport) cleanupInterval() time.Duration {
	if t.maxAge <= 0 {
		return time.Minute
	}
	return min(max(t.maxAge/10, 100*time.Millisecond), time.Minute)
}

// commit writes batch in one transaction, delivers it and answers the
// publishers.
func (t *Transport) commit(batch []*request) {
	live := batch[:0:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- fmt.Errorf("bolt: publish: %w", err)
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	now := t.now()
	seq := t.seq
	err := t.db.Update(func(tx *bbolt.Tx) error {
		updates, ids := tx.Bucket(bucketUpdates), tx.Bucket(bucketIDs)
		for _, r := range live {
			u := r.u
			if u.Time.IsZero() {
				u.Time = now
			}
			seq++
			u.Seq = seq
			entry, err := encodeEntry(u)
			if err != nil {
				return err
			}
			if err := updates.Put(seqKey(seq), entry); err != nil {
				return fmt.Errorf("store update %q: %w", u.ID, err)
			}
			if u.ID != "" {
				if err := ids.Put(idKey(u.ID), seqKey(seq)); err != nil {
					return fmt.Errorf("index update %q: %w", u.ID, err)
				}
			}
		}
		if err := updates.SetSequence(seq); err != nil {
			return err
		}
		return t.cleanup(tx, seq, now)
	})
	if err != nil {
		t.lastErr.Store(&err)
		t.log.Error("commit failed", "updates", len(live), "err", err)
		err = fmt.Errorf("bolt: commit: %w: %w", herald.ErrUnavailable, err)
		for _, r := range live {
			r.u.Seq = 0
			r.done <- err
		}
		return
	}
	t.lastErr.Store(nil)
	t.commits.Add(1)
	t.seq = seq
	ls := *t.listeners.Load()
	for _, r := range live {
		for _, l := range ls {
			l.call(r.u)
		}
	}
	for _, r := range live {
		r.done <- nil
	}
}

func (l *listener) call(u *herald.Update) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.stopped {
		l.deliver(u)
	}
}

// cleanup deletes, oldest first, at most cleanupBatch entries that the
// bounds no longer keep, and notes whether more are left.
func (t *Transport) cleanup(tx *bbolt.Tx, last uint64, now time.Time) error {
	updates, ids := tx.Bucket(bucketUpdates), tx.Bucket(bucketIDs)
	var minSeq uint64 // entries below it are over the count bound
	if t.size > 0 && last > t.size {
		minSeq = last - t.size + 1
	}
	var cutoff int64
	if t.maxAge > 0 {
		cutoff = now.Add(-t.maxAge).UnixNano()
	}
	type victim struct {
		key []byte
		id  string
	}
	var victims []victim
	c := updates.Cursor()
	t.cleanupDue = false
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(victims) == cleanupBatch {
			t.cleanupDue = true
			break
		}
		seq, ok := seqOf(k)
		e, err := decodeHead(v)
		if err != nil || !ok {
			// Never let one unreadable entry block every later commit:
			// History skips it, cleanup drops it.
			t.log.Error("dropping an unreadable history entry", "key", fmt.Sprintf("%x", k), "err", err)
		} else if seq >= minSeq && (cutoff == 0 || e.time >= cutoff) {
			break
		}
		// Copy: k and v point into the mmap, which a delete may change.
		victims = append(victims, victim{key: append([]byte(nil), k...), id: string(e.id)})
	}
	// Deleting after the scan, not through the cursor: bbolt's cursor may
	// skip an entry after Cursor.Delete.
	for _, vi := range victims {
		if err := updates.Delete(vi.key); err != nil {
			return err
		}
		if vi.id == "" {
			continue
		}
		// The id stays indexed when a newer update reuses it.
		ik := idKey(vi.id)
		if s := ids.Get(ik); s != nil && string(s) == string(vi.key) {
			if err := ids.Delete(ik); err != nil {
				return err
			}
		}
	}
	if len(victims) > 0 {
		t.log.Debug("history cleanup", "deleted", len(victims), "more", t.cleanupDue)
	}
	return nil
}

// cleanupOnly runs one cleanup transaction with no publishes in it.
func (t *Transport) cleanupOnly() {
	err := t.db.Update(func(tx *bbolt.Tx) error {
		return t.cleanup(tx, t.seq, t.now())
	})
	if err != nil {
		t.cleanupDue = false // retried at the next tick or publish
		t.log.Error("history cleanup failed", "err", err)
	}
}

// cleanupIfExpired reclaims expired entries when nothing is published:
// History already hides them, this gives their space back. A read
// transaction looks first, so that an idle file sees no writes.
func (t *Transport) cleanupIfExpired() {
	if t.maxAge <= 0 {
		return
	}
	cutoff := t.now().Add(-t.maxAge).UnixNano()
	expired := false
	_ = t.db.View(func(tx *bbolt.Tx) error {
		if _, v := tx.Bucket(bucketUpdates).Cursor().First(); v != nil {
			e, err := decodeHead(v)
			expired = err != nil || e.time < cutoff
		}
		return nil
	})
	if expired {
		t.cleanupOnly()
	}
}

// Listen implements herald.Transport. deliver is called from the writer
// goroutine, after the update is committed and before its publisher is
// answered; it may call History but must not call stop.
func (t *Transport) Listen(deliver func(*herald.Update)) (func(), error) {
	if deliver == nil {
		return nil, errors.New("bolt: Listen: nil deliver function")
	}
	t.lmu.Lock()
	defer t.lmu.Unlock()
	if t.closed.Load() {
		return nil, herald.ErrClosed
	}
	l := &listener{deliver: deliver}
	old := *t.listeners.Load()
	next := append(old[:len(old):len(old)], l)
	t.listeners.Store(&next)
	var once sync.Once
	return func() {
		once.Do(func() {
			t.lmu.Lock()
			cur := *t.listeners.Load()
			next := make([]*listener, 0, len(cur))
			for _, x := range cur {
				if x != l {
					next = append(next, x)
				}
			}
			t.listeners.Store(&next)
			t.lmu.Unlock()
			// Waits for a running call; none starts afterwards.
			l.mu.Lock()
			l.stopped = true
			l.mu.Unlock()
		})
	}, nil
}

// History implements herald.Transport. It runs in one read transaction:
// an index lookup for the cursor, then a cursor seek and at most Limit
// decoded updates (plus expired entries not yet deleted, which it skips).
func (t *Transport) History(ctx context.Context, q herald.HistoryQuery) (herald.HistoryPage, error) {
	if t.closed.Load() {
		return herald.HistoryPage{}, herald.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return herald.HistoryPage{}, fmt.Errorf("bolt: history: %w", err)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = herald.DefaultHistoryPage
	}
	var cutoff int64
	if t.maxAge > 0 {
		cutoff = t.now().Add(-t.maxAge).UnixNano()
	}
	page := herald.HistoryPage{Found: true}
	err := t.db.View(func(tx *bbolt.Tx) error {
		updates, ids := tx.Bucket(bucketUpdates), tx.Bucket(bucketIDs)
		last := updates.Sequence()
		// The bounds are applied here too, not only by cleanup, so that
		// they hold exactly whatever cleanup's progress.
		minSeq := uint64(1)
		if t.size > 0 && last > t.size {
			minSeq = last - t.size + 1
		}
		kept := func(seq uint64, v []byte) (entryHead, bool) {
			e, err := decodeHead(v)
			return e, err == nil && seq >= minSeq && (cutoff == 0 || e.time >= cutoff)
		}
		var after uint64
		switch {
		case q.AfterSeq != 0:
			after = q.AfterSeq
		case q.AfterID == herald.EarliestID:
		default:
			page.Found = false
			if s := ids.Get(idKey(q.AfterID)); len(s) == 8 {
				seq := binary.BigEndian.Uint64(s)
				if e, ok := kept(seq, updates.Get(s)); ok && string(e.id) == q.AfterID {
					page.Found, after = true, seq
				}
			}
		}
		c := updates.Cursor()
		for k, v := c.Seek(seqKey(max(after+1, minSeq))); k != nil && len(page.Updates) < limit; k, v = c.Next() {
			seq, ok := seqOf(k)
			if !ok {
				continue
			}
			e, ok := kept(seq, v)
			if !ok {
				continue
			}
			u := new(herald.Update)
			if err := u.UnmarshalBinary(v[e.n:]); err != nil {
				// One damaged entry must not make every resume fail;
				// cleanup drops it once it leaves the bounds.
				t.log.Error("skipping an unreadable history entry", "seq", seq, "err", err)
				continue
			}
			u.Seq = seq
			page.Updates = append(page.Updates, u)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, berrors.ErrDatabaseNotOpen) {
			return herald.HistoryPage{}, herald.ErrClosed
		}
		return herald.HistoryPage{}, fmt.Errorf("bolt: history: %w", err)
	}
	return page, nil
}

// Ping implements herald.Pinger: it fails when the transport is closed,
// the file cannot be read, or the last commit failed (a full or broken
// disk), so that readiness checks take the node out of rotation.
func (t *Transport) Ping(ctx context.Context) error {
	if t.closed.Load() {
		return herald.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("bolt: ping: %w", err)
	}
	if p := t.lastErr.Load(); p != nil {
		return fmt.Errorf("bolt: last commit failed: %w: %w", herald.ErrUnavailable, *p)
	}
	err := t.db.View(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketUpdates) == nil {
			return errors.New("updates bucket missing")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("bolt: ping: %w: %w", herald.ErrUnavailable, err)
	}
	return nil
}

// WriteTo writes a consistent copy of the whole file to w while the
// transport keeps running: one bbolt read transaction, so publishes go on
// (herald backup uses it). Close waits for a copy in progress.
func (t *Transport) WriteTo(w io.Writer) (int64, error) {
	if t.closed.Load() {
		return 0, herald.ErrClosed
	}
	var n int64
	err := t.db.View(func(tx *bbolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("bolt: backup of %s: %w", t.path, err)
	}
	return n, nil
}

// Close commits what is queued, stops the writer and releases the file.
// Publish, History and Listen fail with herald.ErrClosed afterwards.
// Calling it again returns the first call's result.
func (t *Transport) Close() error {
	t.closeOnce.Do(func() {
		t.lmu.Lock()
		t.closed.Store(true)
		t.lmu.Unlock()
		close(t.closing)
		<-t.exited
		if err := t.db.Close(); err != nil {
			t.closeErr = fmt.Errorf("bolt: close %s: %w", t.path, err)
		}
	})
	<-t.exited
	return t.closeErr
}

// seqOf reads a key of the "updates" bucket.
func seqOf(k []byte) (uint64, bool) {
	if len(k) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(k), true
}

func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq)
}

// idKey is the "ids" key of an id. Ids longer than a bbolt key may be are
// hashed, behind a 0xFF byte that valid UTF-8 (every id) never holds; the
// entry's own id is compared on lookup anyway.
func idKey(id string) []byte {
	if len(id) <= 512 {
		return []byte(id)
	}
	h := sha256.Sum256([]byte(id))
	return append([]byte{0xff}, h[:]...)
}

func encodeEntry(u *herald.Update) ([]byte, error) {
	b := make([]byte, 8, 8+binary.MaxVarintLen64+len(u.ID)+64+len(u.Data))
	var ns int64
	if !u.Time.IsZero() {
		ns = u.Time.UnixNano()
	}
	binary.BigEndian.PutUint64(b, uint64(ns))
	b = binary.AppendUvarint(b, uint64(len(u.ID)))
	b = append(b, u.ID...)
	b, err := u.AppendBinary(b)
	if err != nil {
		return nil, fmt.Errorf("encode update %q: %w", u.ID, err)
	}
	return b, nil
}

// entryHead is the part of an entry read without decoding the update.
type entryHead struct {
	time int64  // unix nanoseconds
	id   []byte // the update's id, pointing into the entry
	n    int    // bytes before the update's encoding
}

func decodeHead(v []byte) (entryHead, error) {
	if len(v) < 9 {
		return entryHead{}, io.ErrUnexpectedEOF
	}
	e := entryHead{time: int64(binary.BigEndian.Uint64(v))}
	l, n := binary.Uvarint(v[8:])
	if n <= 0 || l > uint64(len(v)-8-n) {
		return entryHead{}, errors.New("bad entry header")
	}
	e.n = 8 + n + int(l)
	e.id = v[8+n : e.n]
	return e, nil
}

// Compile-time checks.
var (
	_ herald.Transport = (*Transport)(nil)
	_ herald.Pinger    = (*Transport)(nil)
)
