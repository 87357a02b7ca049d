package limits

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// rateLimiter keeps one token bucket per key, at most max of them: the
// least recently used is forgotten first, which at worst gives a key it
// forgot a full bucket again.
type rateLimiter struct {
	limit rate.Limit
	burst int
	max   int

	mu   sync.Mutex
	keys map[string]*list.Element // of *bucket
	lru  list.List                // front: most recently used
}

type bucket struct {
	key string
	lim *rate.Limiter
}

func newRateLimiter(perSecond float64, burst, maxKeys int) *rateLimiter {
	return &rateLimiter{limit: rate.Limit(perSecond), burst: burst, max: maxKeys, keys: make(map[string]*list.Element)}
}

// reserve takes one token for key and returns 0, or, when the bucket is
// empty, takes nothing and returns how long until a token is available.
func (rl *rateLimiter) reserve(key string, now time.Time) time.Duration {
	rl.mu.Lock()
	var lim *rate.Limiter
	if e, ok := rl.keys[key]; ok {
		rl.lru.MoveToFront(e)
		lim = e.Value.(*bucket).lim
	} else {
		for len(rl.keys) >= rl.max {
			old := rl.lru.Back()
			rl.lru.Remove(old)
			delete(rl.keys, old.Value.(*bucket).key)
		}
		lim = rate.NewLimiter(rl.limit, rl.burst)
		rl.keys[key] = rl.lru.PushFront(&bucket{key: key, lim: lim})
	}
	rl.mu.Unlock()
	r := lim.ReserveN(now, 1)
	if !r.OK() {
		return time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}

// size returns the number of keys tracked.
func (rl *rateLimiter) size() int {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return len(rl.keys)
}

// rateKey is the bucket a publish request draws from: its token's (a hash:
// the token itself is never kept), or its client address's.
func (l *Limiter) rateKey(r *http.Request) string {
	if l.cfg.RateKey == "token" {
		if tok := requestToken(r, l.cfg.TokenCookies); tok != "" {
			sum := sha256.Sum256([]byte(tok))
			return "token:" + hex.EncodeToString(sum[:16])
		}
	}
	return "ip:" + l.ClientIP(r).String()
}

// requestToken finds the token a request carries where Mercure allows it:
// the Authorization header, the authorization query parameter, or a
// cookie.
func requestToken(r *http.Request, cookies []string) string {
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	if v := r.URL.Query().Get("authorization"); v != "" {
		return v
	}
	for _, name := range cookies {
		if c, err := r.Cookie(name); err == nil && c.Value != "" {
			return c.Value
		}
	}
	return ""
}
