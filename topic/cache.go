package topic

import (
	"hash/maphash"
	"math/bits"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
)

// Cache memoises the results of matching templates and URL patterns against
// topics. It is safe for concurrent use and holds at most the number of
// entries it was created with, evicting the least recently useful ones
// (CLOCK, an approximation of LRU).
//
// A hit takes no lock and does not allocate: the cache is split in shards,
// each an open-addressing hash table that readers probe with atomic loads
// only; writers (on a miss) take the shard's mutex. A miss computes the
// match without holding any lock, then inserts the result, copying the
// topic so that the cache never pins a larger buffer the topic was sliced
// from. Memory is bounded by the number of entries times the length of the
// topics they hold, plus about 100 bytes per entry.
//
// Entries are keyed by the compiled matcher of the selector (not its text)
// and the topic, so selectors should be interned by [Selector.Key] for a
// shared selector to share its entries. Any and Exact selectors, and a
// template compared with its own text, are answered without the cache.
//
// A nil *Cache is valid and caches nothing.
type Cache struct {
	seed   maphash.Seed
	shift  uint // 64 - log2(len(shards)); the shard is hash >> shift
	shards []cacheShard
	tomb   *cacheEntry // marks a deleted slot; never matches a lookup
}

// cacheShard is one independently locked part of a Cache. The table
// pointer, read by every hit, has a cache line to itself so that misses
// writing the other fields do not slow hits down.
type cacheShard struct {
	tab atomic.Pointer[cacheTable] // read without locking
	_   [56]byte

	mu        sync.Mutex
	ring      []*cacheEntry // CLOCK ring of live entries
	hand      int           // next CLOCK candidate in ring
	used      int           // non-nil slots (live or tombstone) in tab
	capacity  int           // maximum number of live entries
	misses    uint64
	evictions uint64
	_         [56]byte
}

// cacheTable is an immutable-size open-addressing table with linear
// probing. Slots only ever go from nil to an entry, from an entry to the
// tombstone, or from the tombstone to an entry, so a reader's probe
// sequence is never cut short by a concurrent writer.
type cacheTable struct {
	slots []atomic.Pointer[cacheEntry]
	mask  uint64
}

// cacheEntry is one memoised result. All fields but ref and slot are
// immutable once the entry is published.
type cacheEntry struct {
	hash  uint64
	sel   *compiled
	topic string
	match bool
	ref   atomic.Bool // CLOCK reference bit, set by hits
	slot  uint64      // index in the shard's current table; guarded by mu
}

// Sharding parameters.
const (
	maxShards          = 256
	minEntriesPerShard = 16
	minTableSize       = 8
)

// NewCache returns a cache holding at most maxEntries results. With
// maxEntries zero or less it caches nothing (its Match is [Selector.Match]).
func NewCache(maxEntries int) *Cache {
	c := &Cache{seed: maphash.MakeSeed(), tomb: &cacheEntry{}}
	if maxEntries <= 0 {
		return c
	}
	n := 1
	for n < runtime.GOMAXPROCS(0)*4 && n < maxShards {
		n <<= 1
	}
	for n > 1 && maxEntries/n < minEntriesPerShard {
		n >>= 1
	}
	c.shards = make([]cacheShard, n)
	c.shift = uint(64 - bits.TrailingZeros(uint(n)))
	for i := range c.shards {
		c.shards[i].capacity = maxEntries / n
		if i < maxEntries%n {
			c.shards[i].capacity++
		}
	}
	return c
}

// Match reports whether topic matches s, like [Selector.Match], consulting
// and filling the cache for templates and URL patterns.
func (c *Cache) Match(s Selector, topic string) bool {
	switch s.kind {
	case Any:
		return true
	case Exact:
		return topic == s.expr
	case Template:
		if topic == s.expr {
			return true
		}
		if s.c.re == nil {
			return false
		}
	case URLPattern:
	default:
		return false
	}
	return c.slowMatch(s.c, topic)
}

// slowMatch answers the expensive part of a match from the cache, or
// computes and caches it.
func (c *Cache) slowMatch(sel *compiled, topic string) bool {
	if c == nil || len(c.shards) == 0 {
		return sel.slowMatch(topic)
	}
	h := c.hash(sel.id, topic)
	sh := &c.shards[h>>c.shift]
	if match, ok := sh.lookup(h, sel, topic); ok {
		return match
	}
	match := sel.slowMatch(topic)
	sh.insert(h, sel, topic, match, c.tomb)
	return match
}

// hash mixes the selector's random id into the topic's hash.
func (c *Cache) hash(id uint64, topic string) uint64 {
	h := maphash.String(c.seed, topic) ^ id
	// splitmix64 finalizer: spread id's bits over the whole word, so that
	// both the shard (high bits) and the slot (low bits) depend on it.
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// CacheStats is a snapshot of a cache's counters.
type CacheStats struct {
	// Entries is the number of results held.
	Entries int
	// Capacity is the maximum number of results held.
	Capacity int
	// Misses counts lookups that had to compute a match.
	Misses uint64
	// Evictions counts results dropped to make room.
	Evictions uint64
}

// Stats returns the cache's counters. Hits are not counted, to keep them
// free of shared writes; count calls to Match to derive them.
func (c *Cache) Stats() CacheStats {
	var st CacheStats
	if c == nil {
		return st
	}
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		st.Entries += len(sh.ring)
		st.Capacity += sh.capacity
		st.Misses += sh.misses
		st.Evictions += sh.evictions
		sh.mu.Unlock()
	}
	return st
}

// lookup probes the shard's table without locking.
func (sh *cacheShard) lookup(h uint64, sel *compiled, topic string) (match, ok bool) {
	t := sh.tab.Load()
	if t == nil {
		return false, false
	}
	i := h & t.mask
	for range len(t.slots) {
		e := t.slots[i].Load()
		if e == nil {
			return false, false
		}
		if e.hash == h && e.sel == sel && e.topic == topic {
			if !e.ref.Load() {
				e.ref.Store(true)
			}
			return e.match, true
		}
		i = (i + 1) & t.mask
	}
	return false, false
}

// insert adds a computed result, evicting one entry if the shard is full.
func (sh *cacheShard) insert(h uint64, sel *compiled, topic string, match bool, tomb *cacheEntry) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.misses++
	t := sh.tab.Load()
	if t == nil {
		t = sh.rebuild()
	} else if _, ok := sh.lookup(h, sel, topic); ok {
		return // another goroutine inserted it meanwhile
	}
	e := &cacheEntry{hash: h, sel: sel, topic: strings.Clone(topic), match: match}
	if len(sh.ring) < sh.capacity {
		sh.ring = append(sh.ring, e)
	} else {
		sh.evict(t, e, tomb)
	}
	if (sh.used+1)*4 > len(t.slots)*3 {
		// Too many tombstones: rebuild, which places e with the rest.
		sh.rebuild()
		return
	}
	sh.place(t, e, tomb)
}

// evict replaces the first entry of the CLOCK ring whose reference bit is
// clear by e, clearing the bits it passes over; it gives up looking after
// two turns, when hits keep setting the bits again.
func (sh *cacheShard) evict(t *cacheTable, e, tomb *cacheEntry) {
	n := len(sh.ring)
	for range 2 * n {
		if v := sh.ring[sh.hand]; v.ref.Load() {
			v.ref.Store(false)
			sh.hand = (sh.hand + 1) % n
			continue
		}
		break
	}
	victim := sh.ring[sh.hand]
	t.slots[victim.slot].Store(tomb)
	sh.ring[sh.hand] = e
	sh.hand = (sh.hand + 1) % n
	sh.evictions++
}

// place stores e in the first free or deleted slot of its probe sequence.
// The caller has checked that e's key is absent.
func (sh *cacheShard) place(t *cacheTable, e, tomb *cacheEntry) {
	i := e.hash & t.mask
	for {
		old := t.slots[i].Load()
		if old == nil || old == tomb {
			if old == nil {
				sh.used++
			}
			e.slot = i
			t.slots[i].Store(e)
			return
		}
		i = (i + 1) & t.mask
	}
}

// rebuild publishes a fresh table holding the ring's entries and no
// tombstone. Readers still probing the old table see correct, if possibly
// evicted, results.
func (sh *cacheShard) rebuild() *cacheTable {
	size := minTableSize
	for size < 2*sh.capacity {
		size <<= 1
	}
	t := &cacheTable{slots: make([]atomic.Pointer[cacheEntry], size), mask: uint64(size - 1)}
	sh.used = 0
	for _, e := range sh.ring {
		sh.place(t, e, nil)
	}
	sh.tab.Store(t)
	return t
}
