package topic

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
)

func mustParse(t testing.TB, p Parser, kind Kind, expr string) Selector {
	t.Helper()
	s, err := p.Parse(kind, expr)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCacheBasic(t *testing.T) {
	tpl := mustParse(t, Parser{}, Template, "https://example.com/books/{id}")
	up := mustParse(t, Parser{}, URLPattern, "https://example.com/books/:id")
	exact := mustParse(t, Parser{}, Exact, "https://example.com/books/1")
	c := NewCache(1000)
	for i := range 3 {
		for _, s := range []Selector{tpl, up, exact} {
			for _, topic := range []string{"https://example.com/books/1", "https://example.com/books/1/2", "https://example.com/books/{id}"} {
				if got, want := c.Match(s, topic), s.Match(topic); got != want {
					t.Errorf("round %d: Cache.Match(%s %q, %q) = %v, want %v", i, s.Kind(), s, topic, got, want)
				}
			}
		}
	}
	st := c.Stats()
	// Exact selectors and a template's own text bypass the cache: 2
	// template topics and 3 URL-pattern topics, each missed once.
	if st.Misses != 5 || st.Entries != 5 || st.Evictions != 0 || st.Capacity != 1000 {
		t.Errorf("Stats() = %+v, want 5 misses and entries, capacity 1000", st)
	}

	// A nil cache and a disabled cache compute every time.
	var nilCache *Cache
	if !nilCache.Match(up, "https://example.com/books/1") || (nilCache.Stats() != CacheStats{}) {
		t.Error("nil cache")
	}
	off := NewCache(0)
	if !off.Match(tpl, "https://example.com/books/1") || off.Stats().Entries != 0 {
		t.Error("disabled cache")
	}
}

func TestCacheEviction(t *testing.T) {
	s := mustParse(t, Parser{}, Template, "https://example.com/books/{id}")
	for _, capacity := range []int{1, 7, 64, 1000} {
		c := NewCache(capacity)
		for i := range 20 * capacity {
			topic := fmt.Sprintf("https://example.com/books/%d", i)
			if i%3 == 0 {
				topic += "/x"
			}
			if got, want := c.Match(s, topic), s.Match(topic); got != want {
				t.Fatalf("capacity %d: Match(%q) = %v, want %v", capacity, topic, got, want)
			}
		}
		st := c.Stats()
		if st.Capacity != capacity || st.Entries != capacity || st.Misses != uint64(20*capacity) || st.Evictions != uint64(19*capacity) {
			t.Errorf("capacity %d: Stats() = %+v", capacity, st)
		}
		for i := range c.shards {
			sh := &c.shards[i]
			if len(sh.ring) > sh.capacity {
				t.Errorf("capacity %d: shard %d holds %d > %d", capacity, i, len(sh.ring), sh.capacity)
			}
			tab := sh.tab.Load()
			if tab == nil {
				continue
			}
			live, used := 0, 0
			for j := range tab.slots {
				switch e := tab.slots[j].Load(); {
				case e == nil:
				case e == c.tomb:
					used++
				default:
					live++
					used++
					if e.slot != uint64(j) {
						t.Errorf("entry at slot %d records slot %d", j, e.slot)
					}
				}
			}
			if live != len(sh.ring) || used != sh.used || used*4 > len(tab.slots)*3 {
				t.Errorf("capacity %d shard %d: live %d ring %d used %d/%d slots %d", capacity, i, live, len(sh.ring), used, sh.used, len(tab.slots))
			}
		}
	}
}

// TestCacheClock checks that an entry hit between insertions survives the
// eviction of entries that are never hit.
func TestCacheClock(t *testing.T) {
	s := mustParse(t, Parser{}, Template, "https://example.com/books/{id}")
	c := NewCache(16)
	const hot = "https://example.com/books/hot"
	c.Match(s, hot)
	for i := range 1000 {
		c.Match(s, fmt.Sprintf("https://example.com/books/%d", i))
		c.Match(s, hot)
	}
	if st := c.Stats(); st.Misses != 1001 {
		t.Errorf("the hot entry was evicted: %+v", st)
	}
}

func TestCacheConcurrent(t *testing.T) {
	p := Parser{BaseURL: hubURL}
	sels := []Selector{
		mustParse(t, p, Template, "https://example.com/books/{id}"),
		mustParse(t, p, Template, "https://example.com/{+path}"),
		mustParse(t, p, URLPattern, "https://example.com/books/:id"),
		mustParse(t, p, URLPattern, "/books/*"),
		mustParse(t, p, Exact, "https://example.com/books/1"),
		mustParse(t, p, Any, "*"),
	}
	topics := make([]string, 200)
	for i := range topics {
		switch i % 4 {
		case 0:
			topics[i] = fmt.Sprintf("https://example.com/books/%d", i)
		case 1:
			topics[i] = fmt.Sprintf("https://example.com/books/%d/chapters", i)
		case 2:
			topics[i] = fmt.Sprintf("/books/%d", i)
		default:
			topics[i] = fmt.Sprintf("urn:book:%d", i)
		}
	}
	want := make(map[[2]int]bool)
	for i, s := range sels {
		for j, topic := range topics {
			want[[2]int{i, j}] = s.Match(topic)
		}
	}
	c := NewCache(128) // far fewer entries than keys: constant eviction
	var wg sync.WaitGroup
	workers := max(4, 2*runtime.GOMAXPROCS(0))
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for range 3000 {
				i, j := r.IntN(len(sels)), r.IntN(len(topics))
				if j%10 == 0 {
					j = 0 // a hot key
				}
				if got := c.Match(sels[i], topics[j]); got != want[[2]int{i, j}] {
					t.Errorf("Match(%q, %q) = %v", sels[i], topics[j], got)
					return
				}
				if r.IntN(50) == 0 {
					ts := []string{topics[j], topics[r.IntN(len(topics))]}
					set := Set{sels[i], sels[r.IntN(len(sels))]}
					if got, w := set.MatchAnyCached(c, ts), set.MatchAny(ts); got != w {
						t.Errorf("MatchAnyCached = %v, MatchAny = %v", got, w)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if st := c.Stats(); st.Entries > 128 {
		t.Errorf("cache grew past its bound: %+v", st)
	}
}

func TestCacheHitAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts")
	}
	c := NewCache(1024)
	for _, s := range []Selector{
		mustParse(t, Parser{}, Template, "https://example.com/books/{id}"),
		mustParse(t, Parser{}, URLPattern, "https://example.com/books/:id"),
	} {
		topic := "https://example.com/books/123"
		c.Match(s, topic)
		if n := testing.AllocsPerRun(1000, func() { c.Match(s, topic) }); n != 0 {
			t.Errorf("%s: cache hit allocates %v times", s.Kind(), n)
		}
		set := Set{s}
		topics := []string{"https://example.com/other", topic}
		set.MatchAnyCached(c, topics)
		if n := testing.AllocsPerRun(1000, func() { set.MatchAnyCached(c, topics) }); n != 0 {
			t.Errorf("%s: Set.MatchAnyCached hit allocates %v times", s.Kind(), n)
		}
		if n := testing.AllocsPerRun(1000, func() { set.MatchCached(c, topic) }); n != 0 {
			t.Errorf("%s: Set.MatchCached hit allocates %v times", s.Kind(), n)
		}
	}
}

func TestCacheShards(t *testing.T) {
	for _, n := range []int{1, 15, 16, 100, 1000, 1 << 20} {
		c := NewCache(n)
		total := 0
		for i := range c.shards {
			total += c.shards[i].capacity
		}
		shards := len(c.shards)
		if total != n || shards&(shards-1) != 0 || c.shift != uint(64-trailingZeros(shards)) {
			t.Errorf("NewCache(%d): %d shards, total capacity %d, shift %d", n, shards, total, c.shift)
		}
	}
}

func trailingZeros(n int) int {
	z := 0
	for n > 1 {
		n >>= 1
		z++
	}
	return z
}
