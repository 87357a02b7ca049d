// Package limits keeps a Herald server within bounds and answers, rather
// than fails, when a client asks for more: connections beyond the total or
// per-address maximum get a 503 with Retry-After, publishers beyond their
// rate a 429 with Retry-After, and requests that are not event streams get
// read and write deadlines.
//
// Connections are counted where they are: at the listener while net/http
// serves them, and through the hub (a herald.StreamObserver) once a plain
// HTTP/1.1 stream has been taken off net/http. The hub then closes
// net/http's descriptor of the connection right away, so the listener
// alone would see the connection close while the stream is still open; a
// connection's slot is therefore held until both the connection and every
// hub stream on it have ended.
package limits

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/heraldpush/herald"
)

// Names of the limits, as passed to Config.OnReject.
const (
	LimitConnections      = "connections"
	LimitConnectionsPerIP = "connections_per_ip"
	LimitPublishRate      = "publish_rate"
	LimitOverload         = "overload" // over a limit, and too many already waiting for their answer
)

// Config sets the limits. Zero values mean no limit.
type Config struct {
	// MaxConns bounds the open client connections, including streams the
	// hub serves off net/http.
	MaxConns int

	// MaxConnsPerIP bounds the open connections of one client address.
	// Behind a trusted proxy, the client's address comes from
	// X-Forwarded-For and each event stream counts as one connection.
	MaxConnsPerIP int

	// TrustedProxies are the peers whose X-Forwarded-For header is
	// believed. Their own connections are exempt from MaxConnsPerIP.
	TrustedProxies []netip.Prefix

	// PublishRate is the sustained publishes per second allowed to one
	// key (see RateKey); PublishBurst how many may come at once (default:
	// the rate rounded up, at least 1).
	PublishRate  float64
	PublishBurst int

	// RateKey is what a publish rate applies to: "token" (the default:
	// each distinct token, or the client address for requests without
	// one) or "ip" (the client address).
	RateKey string

	// MaxRateKeys bounds the rate limiters kept; the least recently used
	// is forgotten beyond it. Default 100,000.
	MaxRateKeys int

	// TokenCookies are the cookies that may carry a token, for RateKey
	// "token". Default: Mercure's mercureAuthorization and
	// __Secure-mercure_access_token.
	TokenCookies []string

	// ReadTimeout and WriteTimeout bound reading the body of, and writing
	// the answer to, a request that is not an event stream.
	ReadTimeout, WriteTimeout time.Duration

	// IsStream reports whether a request opens a long-lived stream (no
	// deadlines; counted per address behind a proxy). Default: GET with
	// Accept: text/event-stream.
	IsStream func(*http.Request) bool

	// IsPublish reports whether a request publishes (rate limited).
	// Default: POST.
	IsPublish func(*http.Request) bool

	// MaxPending bounds the connections accepted over a limit that wait
	// for their 503; beyond it they are closed at once. Default 256.
	MaxPending int

	// OnReject is called for each refusal with the limit's name.
	OnReject func(limit string)

	// Logger receives a warning when a limit starts refusing (at most one
	// a minute per limit).
	Logger *slog.Logger
}

// A Limiter enforces a Config. Install all of its parts: Listener around
// the server's listener, ConnContext as the http.Server's ConnContext,
// Handler around the server's handler, and the Limiter itself as (one of)
// the hub's observers.
type Limiter struct {
	cfg  Config
	log  *slog.Logger
	rate *rateLimiter // nil without a publish rate

	mu    sync.Mutex
	total int
	perIP map[netip.Addr]int

	pending atomic.Int64
	warned  sync.Map // limit -> *atomic.Int64 (unix seconds of the last warning)
}

var _ herald.StreamObserver = (*Limiter)(nil)

// New returns a Limiter for cfg.
func New(cfg Config) (*Limiter, error) {
	if cfg.MaxConns < 0 || cfg.MaxConnsPerIP < 0 {
		return nil, errors.New("limits: connection limits must not be negative")
	}
	if cfg.PublishRate < 0 || math.IsNaN(cfg.PublishRate) || cfg.PublishBurst < 0 {
		return nil, errors.New("limits: the publish rate and burst must not be negative")
	}
	switch cfg.RateKey {
	case "":
		cfg.RateKey = "token"
	case "token", "ip":
	default:
		return nil, fmt.Errorf("limits: publish rate key %q: use token or ip", cfg.RateKey)
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 256
	}
	if cfg.MaxRateKeys <= 0 {
		cfg.MaxRateKeys = 100_000
	}
	if cfg.TokenCookies == nil {
		cfg.TokenCookies = []string{"mercureAuthorization", "__Secure-mercure_access_token"}
	}
	if cfg.IsStream == nil {
		cfg.IsStream = func(r *http.Request) bool {
			return r.Method == http.MethodGet && strings.Contains(r.Header.Get("Accept"), "text/event-stream")
		}
	}
	if cfg.IsPublish == nil {
		cfg.IsPublish = func(r *http.Request) bool { return r.Method == http.MethodPost }
	}
	l := &Limiter{cfg: cfg, log: cfg.Logger, perIP: make(map[netip.Addr]int)}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if cfg.PublishRate > 0 {
		burst := cfg.PublishBurst
		if burst <= 0 {
			burst = max(1, int(math.Ceil(cfg.PublishRate)))
		}
		l.rate = newRateLimiter(cfg.PublishRate, burst, cfg.MaxRateKeys)
	}
	return l, nil
}

// Conns returns the client connections open now, streams served off
// net/http included.
func (l *Limiter) Conns() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// A slot is one counted connection: a TCP connection (counted in the
// total, and per address unless it comes from a trusted proxy) or a stream
// through a trusted proxy (counted per client address only). It is freed
// when its last reference goes: the connection's, the request's, and one
// per hub stream opened on it.
type slot struct {
	l      *Limiter
	ip     netip.Addr
	total  bool // counted in the total
	perIP  bool // counted for ip
	refs   atomic.Int32
	freed  atomic.Bool
	reject string // for a connection accepted over a limit: which one
}

func (s *slot) hold() { s.refs.Add(1) }

func (s *slot) release() {
	if s.refs.Add(-1) == 0 && s.freed.CompareAndSwap(false, true) {
		s.l.free(s)
	}
}

func (l *Limiter) free(s *slot) {
	if s.reject != "" {
		l.pending.Add(-1)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.total {
		l.total--
	}
	if s.perIP {
		if n := l.perIP[s.ip] - 1; n > 0 {
			l.perIP[s.ip] = n
		} else {
			delete(l.perIP, s.ip)
		}
	}
}

// acquire counts a new connection or proxied stream, or says which limit
// refuses it.
func (l *Limiter) acquire(ip netip.Addr, total, perIP bool) (*slot, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if total && l.cfg.MaxConns > 0 && l.total >= l.cfg.MaxConns {
		return nil, LimitConnections
	}
	if perIP && l.cfg.MaxConnsPerIP > 0 && l.perIP[ip] >= l.cfg.MaxConnsPerIP {
		return nil, LimitConnectionsPerIP
	}
	if total {
		l.total++
	}
	if perIP {
		l.perIP[ip]++
	}
	s := &slot{l: l, ip: ip, total: total, perIP: perIP}
	s.refs.Store(1)
	return s, ""
}

func (l *Limiter) trusted(ip netip.Addr) bool {
	for _, p := range l.cfg.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func (l *Limiter) rejected(limit string) {
	if l.cfg.OnReject != nil {
		l.cfg.OnReject(limit)
	}
	v, _ := l.warned.LoadOrStore(limit, new(atomic.Int64))
	last := v.(*atomic.Int64)
	now := time.Now().Unix()
	if prev := last.Load(); now-prev >= 60 && last.CompareAndSwap(prev, now) {
		l.log.Warn("refusing requests over a limit (logged at most once a minute per limit)", "limit", limit)
	}
}

// Listener wraps ln so that every accepted connection is counted. A
// connection over a limit is still accepted, and every request on it is
// answered 503 with Retry-After (by Handler) before it is closed; when too
// many such connections are waiting, further ones are closed at once.
func (l *Limiter) Listener(ln net.Listener) net.Listener { return &listener{Listener: ln, l: l} }

type listener struct {
	net.Listener
	l *Limiter
}

func (ln *listener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l := ln.l
		ip := addrIP(c.RemoteAddr())
		s, reason := l.acquire(ip, true, !l.trusted(ip))
		if reason == "" {
			return &conn{Conn: c, slot: s}, nil
		}
		l.rejected(reason)
		if l.pending.Add(1) > int64(l.cfg.MaxPending) {
			l.pending.Add(-1)
			l.rejected(LimitOverload)
			c.Close()
			continue
		}
		s = &slot{l: l, ip: ip, reject: reason}
		s.refs.Store(1)
		return &conn{Conn: c, slot: s}, nil
	}
}

// conn is a counted connection. It is a syscall.Conn, as the hub needs to
// take a plain HTTP/1.1 stream off net/http.
type conn struct {
	net.Conn
	slot      *slot
	closeOnce sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(c.slot.release)
	return err
}

// SyscallConn gives the hub the descriptor of the connection.
func (c *conn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("limits: connection has no descriptor")
	}
	return sc.SyscallConn()
}

// CloseWrite lets net/http close its side of the connection gracefully.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

type connKey struct{}
type proxiedKey struct{}

// ConnContext records the connection's slot in the context of its
// requests; set it as the http.Server's ConnContext.
func (l *Limiter) ConnContext(ctx context.Context, c net.Conn) context.Context {
	if nc, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = nc.NetConn() // a *tls.Conn
	}
	if lc, ok := c.(*conn); ok {
		return context.WithValue(ctx, connKey{}, lc.slot)
	}
	return ctx
}

// StreamOpened implements herald.StreamObserver: the request's connection
// (and its proxied client's slot) stays counted until the stream ends,
// even after the hub has taken the stream off net/http.
func (l *Limiter) StreamOpened(r *http.Request, _ int) func() {
	cs, _ := r.Context().Value(connKey{}).(*slot)
	ps, _ := r.Context().Value(proxiedKey{}).(*slot)
	if cs == nil && ps == nil {
		return nil
	}
	if cs != nil {
		cs.hold()
	}
	if ps != nil {
		ps.hold()
	}
	return func() {
		if cs != nil {
			cs.release()
		}
		if ps != nil {
			ps.release()
		}
	}
}

// Published implements herald.Observer; it does nothing.
func (l *Limiter) Published(*herald.Update, time.Duration, error) {}

// Connected implements herald.Observer; it does nothing.
func (l *Limiter) Connected(int) {}

// Disconnected implements herald.Observer; it does nothing.
func (l *Limiter) Disconnected(herald.DisconnectReason) {}

// ClientIP returns the address of the client that sent r: the peer's, or,
// when the peer is a trusted proxy, the nearest untrusted address in
// X-Forwarded-For.
func (l *Limiter) ClientIP(r *http.Request) netip.Addr {
	peer := remoteIP(r.RemoteAddr)
	if !peer.IsValid() || !l.trusted(peer) {
		return peer
	}
	hops := r.Header.Values("X-Forwarded-For")
	var all []string
	for _, h := range hops {
		all = append(all, strings.Split(h, ",")...)
	}
	client := peer
	for i := len(all) - 1; i >= 0; i-- {
		ip, err := netip.ParseAddr(strings.TrimSpace(all[i]))
		if err != nil {
			break // a forged or broken header: trust what was parsed so far
		}
		client = ip.Unmap()
		if !l.trusted(client) {
			break
		}
	}
	return client
}

// Handler answers requests that a limit refuses and passes the others to
// next, with deadlines for those that are not streams.
func (l *Limiter) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cs, _ := r.Context().Value(connKey{}).(*slot)
		if cs != nil && cs.reject != "" {
			if r.ProtoMajor == 1 {
				w.Header().Set("Connection", "close")
			}
			refuse(w, http.StatusServiceUnavailable, time.Second, "the server has too many connections: retry shortly")
			return
		}
		stream := l.cfg.IsStream(r)
		rc := http.NewResponseController(w)
		if stream {
			// A previous request on this connection may have left a
			// deadline behind.
			_ = rc.SetWriteDeadline(time.Time{})
			if l.cfg.MaxConnsPerIP > 0 {
				if peer := remoteIP(r.RemoteAddr); peer.IsValid() && l.trusted(peer) {
					client := l.ClientIP(r)
					if client != peer {
						ps, reason := l.acquire(client, false, true)
						if reason != "" {
							l.rejected(reason)
							refuse(w, http.StatusServiceUnavailable, time.Second, "too many connections from your address: retry shortly")
							return
						}
						defer ps.release()
						r = r.WithContext(context.WithValue(r.Context(), proxiedKey{}, ps))
					}
				}
			}
		} else {
			now := time.Now()
			if d := l.cfg.ReadTimeout; d > 0 {
				_ = rc.SetReadDeadline(now.Add(d))
			}
			if d := l.cfg.WriteTimeout; d > 0 {
				_ = rc.SetWriteDeadline(now.Add(d))
			} else {
				_ = rc.SetWriteDeadline(time.Time{})
			}
		}
		if l.rate != nil && l.cfg.IsPublish(r) {
			if wait := l.rate.reserve(l.rateKey(r), time.Now()); wait > 0 {
				l.rejected(LimitPublishRate)
				refuse(w, http.StatusTooManyRequests, wait, "too many updates: slow down and retry after the time in Retry-After")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// refuse answers a refused request; Retry-After is wait rounded up to whole
// seconds.
func refuse(w http.ResponseWriter, status int, wait time.Duration, msg string) {
	h := w.Header()
	h.Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}

func addrIP(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	if a == nil {
		return netip.Addr{}
	}
	return remoteIP(a.String())
}

func remoteIP(hostport string) netip.Addr {
	ap, err := netip.ParseAddrPort(hostport)
	if err == nil {
		return ap.Addr().Unmap()
	}
	ip, _ := netip.ParseAddr(hostport)
	return ip.Unmap()
}

// ParsePrefixes parses a list of addresses and CIDR prefixes, such as
// 10.0.0.0/8 or 127.0.0.1.
func ParsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: %v", s, err)
			}
			out = append(out, p.Masked())
			continue
		}
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: not an address or CIDR prefix", s)
		}
		ip = ip.Unmap()
		out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
	}
	return out, nil
}
