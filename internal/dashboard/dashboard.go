// Package dashboard serves Herald's live dashboard: a page at / that shows
// the hub's connections, topics, rates and recent disconnects, updated
// once a second over an event stream that Herald serves itself, and, in
// full mode, a console to subscribe to a topic and publish a test update
// with a token the operator pastes in.
//
// Everything the page needs is embedded in the binary; it loads nothing
// from elsewhere and its Content-Security-Policy allows nothing else.
package dashboard

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/metrics"
)

//go:embed static
var static embed.FS

// A Mode says how much the dashboard shows.
type Mode uint8

// Modes.
const (
	Off      Mode = iota // no dashboard
	ReadOnly             // counters, rates and disconnect reasons; no topic names, no console
	Full                 // also the busiest public topics and the console
)

// String returns the mode's name as ParseMode accepts it: "off",
// "read-only" or "full".
func (m Mode) String() string {
	switch m {
	case ReadOnly:
		return "read-only"
	case Full:
		return "full"
	}
	return "off"
}

// ParseMode parses off, read-only or full.
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "off", "false", "none":
		return Off, nil
	case "read-only", "readonly", "ro", "":
		return ReadOnly, nil
	case "full", "on":
		return Full, nil
	}
	return Off, fmt.Errorf("dashboard mode %q: use off, read-only or full", s)
}

// Config configures a Dashboard.
type Config struct {
	// Mode is how much the dashboard shows; in mode Off, Register
	// mounts nothing.
	Mode    Mode
	Metrics *metrics.Metrics // the hub's counters
	// HubPath is where the hub is mounted, for the console.
	HubPath string
	// Version is shown in the header.
	Version string
	// Conns, when set, returns the open client connections.
	Conns func() int
	// Interval between two stats events; default 1 s.
	Interval time.Duration
	// Logger receives the dashboard's errors; default: discarded.
	Logger *slog.Logger
}

// A Dashboard is an http handler set and a herald.Observer (for topic
// activity and recent disconnects). Register it on a mux, pass it to the
// hub as an observer, and Close it when the server shuts down so that its
// streams end.
type Dashboard struct {
	cfg     Config
	started time.Time
	closing chan struct{}
	once    sync.Once

	mu     sync.Mutex
	recent []disconnect // ring
	next   int
	topics map[string]*topicStat
	swept  time.Time
}

type disconnect struct {
	at     time.Time
	reason herald.DisconnectReason
}

type topicStat struct {
	count   uint64
	last    time.Time
	private bool
}

const (
	recentSize   = 30
	maxTopics    = 4096
	activeWindow = time.Minute
)

var _ herald.Observer = (*Dashboard)(nil)

// New returns a dashboard for cfg.
func New(cfg Config) *Dashboard {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.HubPath == "" {
		cfg.HubPath = "/.well-known/mercure"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Dashboard{
		cfg:     cfg,
		started: time.Now(),
		closing: make(chan struct{}),
		recent:  make([]disconnect, 0, recentSize),
		topics:  make(map[string]*topicStat),
	}
}

// Close ends the dashboard's event streams.
func (d *Dashboard) Close() { d.once.Do(func() { close(d.closing) }) }

// Published implements herald.Observer: it tracks topic activity.
func (d *Dashboard) Published(u *herald.Update, _ time.Duration, err error) {
	if err != nil || d.cfg.Mode == Off {
		return
	}
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, t := range u.Topics {
		ts := d.topics[t]
		if ts == nil {
			if len(d.topics) >= maxTopics {
				d.sweepLocked(now)
				if len(d.topics) >= maxTopics {
					continue // bounded: a topic storm is not tracked by name
				}
			}
			ts = &topicStat{}
			d.topics[t] = ts
		}
		ts.count++
		ts.last = now
		ts.private = ts.private || u.Private
	}
}

// sweepLocked forgets topics quiet for longer than the active window; at
// most once a second.
func (d *Dashboard) sweepLocked(now time.Time) {
	if now.Sub(d.swept) < time.Second {
		return
	}
	d.swept = now
	for t, ts := range d.topics {
		if now.Sub(ts.last) > activeWindow {
			delete(d.topics, t)
		}
	}
}

// Connected implements herald.Observer.
func (d *Dashboard) Connected(int) {}

// Disconnected implements herald.Observer: it remembers recent reasons.
func (d *Dashboard) Disconnected(reason herald.DisconnectReason) {
	if d.cfg.Mode == Off {
		return
	}
	e := disconnect{at: time.Now(), reason: reason}
	d.mu.Lock()
	if len(d.recent) < recentSize {
		d.recent = append(d.recent, e)
	} else {
		d.recent[d.next] = e
	}
	d.next = (d.next + 1) % recentSize
	d.mu.Unlock()
}

// Register mounts the dashboard on mux: the page at /, its assets under
// /dashboard/, and the stats stream at /dashboard/events. It mounts
// nothing in mode Off.
func (d *Dashboard) Register(mux *http.ServeMux) {
	if d.cfg.Mode == Off {
		return
	}
	sub, _ := fs.Sub(static, "static")
	assets := http.FileServerFS(sub)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		d.secure(w)
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, sub, "index.html")
	})
	mux.Handle("GET /dashboard/", http.StripPrefix("/dashboard/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.secure(w)
		w.Header().Set("Cache-Control", "no-cache")
		assets.ServeHTTP(w, r)
	})))
	mux.HandleFunc("GET /dashboard/events", d.serveEvents)
}

// secure sets headers that keep the page to its own origin.
func (d *Dashboard) secure(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
}

// Event is what the stats stream sends once a second, as JSON in the data
// of a "stats" event.
type Event struct {
	Time        int64            `json:"time"`        // unix milliseconds
	Mode        string           `json:"mode"`        // the Mode's String
	Version     string           `json:"version"`     // Config.Version
	HubPath     string           `json:"hubPath"`     // Config.HubPath
	Uptime      float64          `json:"uptime"`      // seconds
	Connections int              `json:"connections"` // -1 when unknown
	Stats       metrics.Snapshot `json:"stats"`       // the hub's counters
	Topics      TopicStats       `json:"topics"`      // topic activity
	Recent      []Disconnect     `json:"recent"`      // newest first
	Goroutines  int              `json:"goroutines"`  // runtime.NumGoroutine
	HeapBytes   uint64           `json:"heapBytes"`   // runtime.MemStats.HeapAlloc
}

// TopicStats describes topic activity over the last minute.
type TopicStats struct {
	Active int          `json:"active"` // topics published to in the last minute
	Top    []TopicCount `json:"top"`    // full mode only: the busiest public topics
}

// A TopicCount is a topic and the updates published to it since it became
// active.
type TopicCount struct {
	Topic string `json:"topic"` // the topic's name
	Count uint64 `json:"count"` // updates published to it
}

// A Disconnect is a recent end of a stream.
type Disconnect struct {
	Time   int64  `json:"time"`   // unix milliseconds
	Reason string `json:"reason"` // a herald.DisconnectReason
}

// Snapshot returns the event the stream would send now.
func (d *Dashboard) Snapshot() Event {
	now := time.Now()
	ev := Event{
		Time:        now.UnixMilli(),
		Mode:        d.cfg.Mode.String(),
		Version:     d.cfg.Version,
		HubPath:     d.cfg.HubPath,
		Uptime:      now.Sub(d.started).Seconds(),
		Connections: -1,
		Goroutines:  runtime.NumGoroutine(),
		Recent:      []Disconnect{},
	}
	if d.cfg.Metrics != nil {
		ev.Stats = d.cfg.Metrics.Snapshot()
	}
	if d.cfg.Conns != nil {
		ev.Connections = d.cfg.Conns()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	ev.HeapBytes = ms.HeapAlloc

	d.mu.Lock()
	d.sweepLocked(now)
	var top []TopicCount
	for t, ts := range d.topics {
		if now.Sub(ts.last) > activeWindow {
			continue
		}
		ev.Topics.Active++
		if d.cfg.Mode == Full && !ts.private {
			top = append(top, TopicCount{t, ts.count})
		}
	}
	n := len(d.recent)
	for i := 1; i <= n; i++ {
		e := d.recent[((d.next-i)%n+n)%n]
		ev.Recent = append(ev.Recent, Disconnect{e.at.UnixMilli(), string(e.reason)})
	}
	d.mu.Unlock()
	sort.Slice(top, func(i, j int) bool {
		if top[i].Count != top[j].Count {
			return top[i].Count > top[j].Count
		}
		return top[i].Topic < top[j].Topic
	})
	if len(top) > 10 {
		top = top[:10]
	}
	ev.Topics.Top = top
	if ev.Topics.Top == nil {
		ev.Topics.Top = []TopicCount{}
	}
	return ev
}

// serveEvents streams a stats event every interval until the client goes
// or the dashboard closes.
func (d *Dashboard) serveEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache, no-store")
	h.Set("X-Accel-Buffering", "no")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	t := time.NewTicker(d.cfg.Interval)
	defer t.Stop()
	// retry: ask EventSource to come back quickly after a restart.
	if _, err := fmt.Fprint(w, "retry: 2000\n\n"); err != nil {
		return
	}
	for {
		body, err := json.Marshal(d.Snapshot())
		if err != nil {
			d.cfg.Logger.Error("dashboard: encoding stats", "err", err)
			return
		}
		_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := fmt.Fprintf(w, "event: stats\ndata: %s\n\n", body); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-d.closing:
			return
		case <-t.C:
		}
	}
}
