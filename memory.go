package herald

import (
	"context"
	"sync"
	"time"
)

// MemoryConfig bounds the history a MemoryTransport keeps. Zero fields take
// the defaults; a negative field removes that bound. At least one bound
// always applies: history is never unbounded by accident.
type MemoryConfig struct {
	// Size is the most updates kept. Default 10,000.
	Size int
	// Bytes is the most payload bytes (topics, data and fields) kept.
	// Default 64 MiB.
	Bytes int64
	// MaxAge evicts updates older than this. Default: no age bound.
	MaxAge time.Duration
}

// Default history bounds.
const (
	DefaultHistorySize  = 10000
	DefaultHistoryBytes = 64 << 20
)

// MemoryTransport keeps history in process memory and delivers to the hubs
// of this process only. It is the default transport of New: right for one
// node whose history need not survive a restart.
type MemoryTransport struct {
	cfg MemoryConfig

	mu        sync.Mutex
	ring      []*Update // ring buffer of kept updates, oldest at head
	head, n   int
	bytes     int64
	byID      map[string]uint64 // id -> seq of the newest update with that id
	seq       uint64            // seq of the newest update
	listeners map[int]func(*Update)
	nextL     int
	closed    bool
	now       func() time.Time
}

// NewMemoryTransport returns a memory transport bounded by cfg.
func NewMemoryTransport(cfg MemoryConfig) *MemoryTransport {
	if cfg.Size == 0 {
		cfg.Size = DefaultHistorySize
	}
	if cfg.Bytes == 0 {
		cfg.Bytes = DefaultHistoryBytes
	}
	if cfg.Size < 0 && cfg.Bytes < 0 && cfg.MaxAge <= 0 {
		cfg.Size = DefaultHistorySize
	}
	capacity := cfg.Size
	if capacity <= 0 || capacity > 1024 {
		capacity = 1024
	}
	return &MemoryTransport{
		cfg:       cfg,
		ring:      make([]*Update, capacity),
		byID:      make(map[string]uint64),
		listeners: make(map[int]func(*Update)),
		now:       time.Now,
	}
}

func updateSize(u *Update) int64 {
	n := len(u.ID) + len(u.Type) + len(u.Retry) + len(u.Data) + 64
	for _, t := range u.Topics {
		n += len(t) + 16
	}
	return int64(n)
}

// HistorySize implements HistorySizer: the number of updates kept.
func (m *MemoryTransport) HistorySize(context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return int64(m.n), nil
}

// Publish implements Transport.
func (m *MemoryTransport) Publish(ctx context.Context, u *Update) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if u.Time.IsZero() {
		u.Time = m.now()
	}
	m.seq++
	u.Seq = m.seq
	m.push(u)
	m.evict()
	// Delivering under the lock keeps deliveries in Seq order and after
	// storage; listeners only enqueue, so this stays short.
	for _, deliver := range m.listeners {
		deliver(u)
	}
	return nil
}

func (m *MemoryTransport) push(u *Update) {
	if m.n == len(m.ring) {
		bigger := make([]*Update, 2*len(m.ring))
		for i := 0; i < m.n; i++ {
			bigger[i] = m.ring[(m.head+i)%len(m.ring)]
		}
		m.ring, m.head = bigger, 0
	}
	m.ring[(m.head+m.n)%len(m.ring)] = u
	m.n++
	m.bytes += updateSize(u)
	if u.ID != "" {
		m.byID[u.ID] = u.Seq
	}
}

func (m *MemoryTransport) evict() {
	var cutoff time.Time
	if m.cfg.MaxAge > 0 {
		cutoff = m.now().Add(-m.cfg.MaxAge)
	}
	for m.n > 0 {
		old := m.ring[m.head]
		over := (m.cfg.Size > 0 && m.n > m.cfg.Size) ||
			(m.cfg.Bytes > 0 && m.bytes > m.cfg.Bytes && m.n > 1) ||
			(!cutoff.IsZero() && old.Time.Before(cutoff))
		if !over {
			break
		}
		m.ring[m.head] = nil
		m.head = (m.head + 1) % len(m.ring)
		m.n--
		m.bytes -= updateSize(old)
		if seq, ok := m.byID[old.ID]; ok && seq == old.Seq {
			delete(m.byID, old.ID)
		}
	}
	// Give memory back after a burst: shrink when a quarter full.
	if len(m.ring) > 1024 && m.n < len(m.ring)/4 {
		smaller := make([]*Update, len(m.ring)/2)
		for i := 0; i < m.n; i++ {
			smaller[i] = m.ring[(m.head+i)%len(m.ring)]
		}
		m.ring, m.head = smaller, 0
	}
}

// Listen implements Transport.
func (m *MemoryTransport) Listen(deliver func(*Update)) (func(), error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	id := m.nextL
	m.nextL++
	m.listeners[id] = deliver
	return func() {
		m.mu.Lock()
		delete(m.listeners, id)
		m.mu.Unlock()
	}, nil
}

// History implements Transport.
func (m *MemoryTransport) History(ctx context.Context, q HistoryQuery) (HistoryPage, error) {
	if err := ctx.Err(); err != nil {
		return HistoryPage{}, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultHistoryPage
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return HistoryPage{}, ErrClosed
	}
	m.evict()
	page := HistoryPage{Found: true}
	if m.n == 0 {
		page.Found = q.AfterSeq != 0 || q.AfterID == EarliestID
		return page, nil
	}
	first := m.ring[m.head].Seq // seqs in the ring are contiguous
	var after uint64
	switch {
	case q.AfterSeq != 0:
		after = q.AfterSeq
	case q.AfterID == EarliestID:
		after = first - 1
	default:
		seq, ok := m.byID[q.AfterID]
		if ok && seq >= first {
			after = seq
		} else {
			page.Found = false
			after = first - 1
		}
	}
	if after < first-1 {
		after = first - 1
	}
	start := int(after - (first - 1))
	for i := start; i < m.n && len(page.Updates) < limit; i++ {
		page.Updates = append(page.Updates, m.ring[(m.head+i)%len(m.ring)])
	}
	return page, nil
}

// Close implements Transport.
func (m *MemoryTransport) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.listeners = map[int]func(*Update){}
	return nil
}
