package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/sse"
)

// groupSpec configures a group of subscribers run by one process. It is
// sent as JSON to a worker process.
type groupSpec struct {
	Hub        string   `json:"hub"`
	Topic      string   `json:"topic"`
	Token      string   `json:"token,omitempty"`
	First      int      `json:"first"` // number of the group's first subscriber
	Count      int      `json:"count"`
	Sources    []string `json:"sources,omitempty"`
	Publishers int      `json:"publishers"`
	Run        uint32   `json:"run"`

	ConnectConcurrency int           `json:"connect_concurrency"`
	ConnectTimeout     time.Duration `json:"connect_timeout"`
	Reconnect          bool          `json:"reconnect"`
	ReadBuffer         int           `json:"read_buffer"`
	// ArrivalTime measures latency to the kernel's receive time of the
	// bytes (SO_TIMESTAMPNS) rather than to when they were read.
	ArrivalTime bool `json:"arrival_time"`
	// Engine reads the streams: "goroutine" or "epoll" (empty: goroutine).
	Engine Engine `json:"engine,omitempty"`
	// Readers is the epoll engine's number of reader threads (0: default).
	Readers int `json:"readers,omitempty"`
}

// GroupStats are the running counts of a group of subscribers; the
// counts of several groups add up.
type GroupStats struct {
	Subscribers int64 `json:"subscribers"` // in the group
	Connected   int64 `json:"connected"`   // subscribers that got a stream at least once
	Failed      int64 `json:"failed"`      // subscribers that never got one and gave up
	Live        int64 `json:"live"`        // streams open now
	Ready       int64 `json:"ready"`       // subscribers that received a warm-up update

	Events     int64 `json:"events"`     // unique benchmark updates received
	Duplicates int64 `json:"duplicates"` // benchmark updates received again
	Reordered  int64 `json:"reordered"`  // received after a later one of the same publisher
	Invalid    int64 `json:"invalid"`    // benchmark-looking data that does not parse
	Stale      int64 `json:"stale"`      // updates of another run (replayed history)
	Warmups    int64 `json:"warmups"`    // warm-up updates received
	Other      int64 `json:"other"`      // events that are not benchmark updates (pings, …)
	Comments   int64 `json:"comments"`   // comment lines (heartbeats)
	Reads      int64 `json:"reads"`      // reads that returned stream bytes
	Bytes      int64 `json:"bytes"`      // stream bytes read (after HTTP chunk decoding)
	Stamped    int64 `json:"stamped"`    // reads timed by the kernel's receive timestamp

	Reconnects  int64 `json:"reconnects"`  // streams reopened after a loss
	Disconnects int64 `json:"disconnects"` // streams that ended while the run went on
}

func (s *GroupStats) add(o GroupStats) {
	s.Subscribers += o.Subscribers
	s.Connected += o.Connected
	s.Failed += o.Failed
	s.Live += o.Live
	s.Ready += o.Ready
	s.Events += o.Events
	s.Duplicates += o.Duplicates
	s.Reordered += o.Reordered
	s.Invalid += o.Invalid
	s.Stale += o.Stale
	s.Warmups += o.Warmups
	s.Other += o.Other
	s.Comments += o.Comments
	s.Reads += o.Reads
	s.Bytes += o.Bytes
	s.Stamped += o.Stamped
	s.Reconnects += o.Reconnects
	s.Disconnects += o.Disconnects
}

// groupResult is what a group reports when it is finished.
type groupResult struct {
	Stats GroupStats `json:"stats"`
	// Lost counts updates that subscribers never received, of those the
	// publishers had acknowledged; Extra counts received updates above
	// the acknowledged count (a publish whose answer was lost).
	Lost  int64 `json:"lost"`
	Extra int64 `json:"extra"`
	// Lossy is the number of subscribers that lost at least one update.
	Lossy     int64    `json:"lossy"`
	Histogram []byte   `json:"histogram"` // encoded HDR histogram, µs
	Errors    []string `json:"errors,omitempty"`
}

// target is a parsed hub URL, ready for raw HTTP/1.1 subscribe requests.
type target struct {
	addr    string // host:port to dial
	request []byte // the GET request, without Last-Event-ID and the final CRLF
}

func newTarget(hub, topic, token string) (*target, error) {
	u, err := url.Parse(hub)
	if err != nil {
		return nil, fmt.Errorf("hub URL %q: %w", hub, err)
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("hub URL %q: only http:// hubs can be measured (TLS would dominate the client's CPU)", hub)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("hub URL %q has no host", hub)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	q := u.Query()
	q.Add("topic", topic)
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "GET %s?%s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n", path, q.Encode(), u.Host)
	if token != "" {
		fmt.Fprintf(&b, "Authorization: Bearer %s\r\n", token)
	}
	return &target{addr: addr, request: b.Bytes()}, nil
}

// maxErrors bounds how many distinct error messages a group keeps.
const maxErrors = 8

// group runs a set of subscribers in this process.
type group struct {
	spec    groupSpec
	target  *target
	sources []netip.Addr
	lat     *latencyRecorder
	sem     chan struct{} // bounds connections being set up at once
	subs    []*subscriber
	readers []*reader // the epoll engine's readers; nil: one goroutine per stream
	// readerPause is how long an epoll reader sleeps after handling
	// what one wake-up found, unless that filled its event list. Every
	// wake-up and every read costs system calls; after the pause the
	// reader finds many streams ready at once, with more bytes in each.
	// Only the time at which the client reads is delayed, which does not
	// count where latency is measured to the kernel's receive time; when
	// it is measured to the read, there is no pause.
	readerPause time.Duration

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup // the subscribers' goroutines
	readersWG sync.WaitGroup // the readers' goroutines

	errMu  sync.Mutex
	errs   []string
	errSet map[string]int
}

func newGroup(ctx context.Context, spec groupSpec) (*group, error) {
	t, err := newTarget(spec.Hub, spec.Topic, spec.Token)
	if err != nil {
		return nil, err
	}
	if spec.Count < 0 || spec.Publishers < 1 {
		return nil, fmt.Errorf("invalid group: %d subscribers, %d publishers", spec.Count, spec.Publishers)
	}
	srcs, err := parseSourceList(spec.Sources)
	if err != nil {
		return nil, err
	}
	if spec.ConnectConcurrency < 1 {
		spec.ConnectConcurrency = 1
	}
	if spec.ReadBuffer < 512 {
		spec.ReadBuffer = 512
	}
	if spec.ConnectTimeout <= 0 {
		spec.ConnectTimeout = 10 * time.Second
	}
	g := &group{
		spec:    spec,
		target:  t,
		sources: srcs,
		lat:     newLatencyRecorder(16),
		sem:     make(chan struct{}, spec.ConnectConcurrency),
		errSet:  map[string]int{},
	}
	switch spec.Engine {
	case EngineGoroutine, "":
	case EngineEpoll:
		n := spec.Readers
		if n <= 0 {
			n = defaultReaders()
		}
		if spec.ArrivalTime {
			g.readerPause = defaultReaderPause
		}
		if g.readers, err = newReaders(g, n); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown subscriber engine %q", spec.Engine)
	}
	g.ctx, g.cancel = context.WithCancel(ctx)
	return g, nil
}

// start launches every subscriber; they connect in the background, at
// most ConnectConcurrency at a time so that the server's accept queue is
// not flooded.
func (g *group) start() {
	g.subs = make([]*subscriber, g.spec.Count)
	for i := range g.subs {
		s := &subscriber{g: g, id: g.spec.First + i, index: i, trackers: make([]seqTracker, g.spec.Publishers)}
		s.emitFn = s.emit
		if g.readers != nil {
			s.ended = make(chan error, 1)
		}
		g.subs[i] = s
	}
	g.readersWG.Add(len(g.readers))
	for _, r := range g.readers {
		go r.run()
	}
	g.wg.Add(len(g.subs))
	for _, s := range g.subs {
		go s.run()
	}
}

func (g *group) noteError(err error) {
	msg := err.Error()
	g.errMu.Lock()
	defer g.errMu.Unlock()
	if _, ok := g.errSet[msg]; ok {
		g.errSet[msg]++
		return
	}
	if len(g.errs) < maxErrors {
		g.errSet[msg] = 1
		g.errs = append(g.errs, msg)
	}
}

func (g *group) errors() []string {
	g.errMu.Lock()
	defer g.errMu.Unlock()
	out := make([]string, len(g.errs))
	for i, e := range g.errs {
		if n := g.errSet[e]; n > 1 {
			e = fmt.Sprintf("%s (×%d)", e, n)
		}
		out[i] = e
	}
	return out
}

// stats sums the subscribers' counters.
func (g *group) stats() GroupStats {
	st := GroupStats{Subscribers: int64(len(g.subs))}
	for _, s := range g.subs {
		c := &s.c
		st.Events += c.events.Load()
		st.Duplicates += c.duplicates.Load()
		st.Reordered += c.reordered.Load()
		st.Invalid += c.invalid.Load()
		st.Stale += c.stale.Load()
		st.Warmups += c.warmups.Load()
		st.Other += c.other.Load()
		st.Comments += c.comments.Load()
		st.Reads += c.reads.Load()
		st.Bytes += c.bytes.Load()
		st.Stamped += c.stamped.Load()
		st.Reconnects += c.reconnects.Load()
		st.Disconnects += c.disconnects.Load()
		switch c.state.Load() {
		case stateLive:
			st.Live++
		case stateFailed:
			st.Failed++
		}
		if c.connected.Load() {
			st.Connected++
		}
		if c.ready.Load() {
			st.Ready++
		}
	}
	return st
}

// finish stops every subscriber and does the final accounting against
// the number of updates each publisher had acknowledged.
func (g *group) finish(expected []uint64) (*groupResult, error) {
	g.cancel()
	g.wg.Wait()
	g.readersWG.Wait()
	res := &groupResult{Stats: g.stats()}
	for _, s := range g.subs {
		if !s.c.connected.Load() {
			continue // never subscribed: it could not lose anything
		}
		var lost uint64
		for p := range s.trackers {
			var exp uint64
			if p < len(expected) {
				exp = expected[p]
			}
			l, x := s.trackers[p].missing(exp)
			lost += l
			res.Extra += int64(x)
		}
		if lost > 0 {
			res.Lossy++
			res.Lost += int64(lost)
		}
	}
	h, err := encodeHistogram(g.lat.merged())
	if err != nil {
		return nil, err
	}
	res.Histogram = h
	res.Errors = g.errors()
	return res, nil
}

// close stops every subscriber without accounting.
func (g *group) close() {
	g.cancel()
	g.wg.Wait()
	g.readersWG.Wait()
}

// Subscriber states.
const (
	stateConnecting int32 = iota
	stateLive
	stateRetrying
	stateFailed
	stateDone
)

// subCounters are a subscriber's counters, read by the stats loop while
// the subscriber runs.
type subCounters struct {
	events, duplicates, reordered, invalid, stale atomic.Int64
	warmups, other, comments, reads, bytes        atomic.Int64
	stamped                                       atomic.Int64
	reconnects, disconnects                       atomic.Int64
	state                                         atomic.Int32
	connected, ready                              atomic.Bool
}

// subscriber is one SSE stream. Everything but its counters belongs to its
// own goroutine, or, while the epoll engine reads its stream, to the
// reader that holds it.
type subscriber struct {
	g        *group
	id       int
	index    int // in g.subs
	c        subCounters
	parser   sse.Parser
	trackers []seqTracker // one per publisher
	emitFn   func(sse.Event) error

	arrival *arrivalReader // kernel receive times, when measured

	// The epoll engine: the stream a reader holds, and how it ended.
	pc    atomic.Pointer[pollConn]
	ended chan error

	// Per-read state used by emit.
	now      int64     // Unix nanoseconds at the read
	lat      [64]int64 // latencies of the read's events, µs
	nlat     int
	lineHead bool // the last read ended at a line boundary
}

const maxConnectAttempts = 3

func (s *subscriber) run() {
	defer s.g.wg.Done()
	defer func() {
		if s.c.state.Load() != stateFailed {
			s.c.state.Store(stateDone)
		}
	}()
	ctx := s.g.ctx
	attempts := 0
	for {
		err := s.stream(ctx)
		if err == errHandedOff {
			// An epoll reader holds the stream; the response head and
			// its buffers, which stream's frame kept, are garbage now.
			err = <-s.ended
		}
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		switch {
		case s.c.state.Load() == stateLive:
			// An open stream ended while the run goes on.
			s.c.disconnects.Add(1)
			s.g.noteError(fmt.Errorf("stream ended: %w", err))
			if !s.g.spec.Reconnect {
				s.c.state.Store(stateDone)
				return
			}
			s.c.reconnects.Add(1)
		case !s.c.connected.Load():
			// Never subscribed yet: give up after a few tries.
			attempts++
			s.g.noteError(err)
			if attempts >= maxConnectAttempts {
				s.c.state.Store(stateFailed)
				return
			}
		default:
			// A reconnection failed: keep trying while the run lasts, as
			// an EventSource would.
			s.g.noteError(fmt.Errorf("reconnect: %w", err))
		}
		s.c.state.Store(stateRetrying)
		// Back off with jitter so that a hub that dropped everyone is not
		// hit by every subscriber in the same millisecond.
		d := time.Duration(100+rand.IntN(400)) * time.Millisecond
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// stream opens one stream and reads it until it ends.
func (s *subscriber) stream(ctx context.Context) error {
	g := s.g
	select {
	case g.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	held := true
	release := func() {
		if held {
			<-g.sem
			held = false
		}
	}
	defer release()
	s.c.state.Store(stateConnecting)

	d := net.Dialer{Timeout: g.spec.ConnectTimeout, KeepAlive: -1}
	if len(g.sources) > 0 {
		d.LocalAddr = &net.TCPAddr{IP: g.sources[s.id%len(g.sources)].AsSlice()}
		d.Control = controlNoPort
	}
	conn, err := d.DialContext(ctx, "tcp", g.target.addr)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	conn.SetDeadline(time.Now().Add(g.spec.ConnectTimeout))
	req := g.target.request
	if id := s.parser.LastEventID(); id != "" {
		req = append(append(append(req[:len(req):len(req)], "Last-Event-ID: "...), id...), "\r\n"...)
	}
	req = append(req[:len(req):len(req)], "\r\n"...)
	if _, err := conn.Write(req); err != nil {
		return fmt.Errorf("send subscribe request: %w", err)
	}
	var src io.Reader = conn
	s.arrival = nil
	if g.spec.ArrivalTime {
		if ar := newArrivalReader(conn); ar != nil {
			s.arrival = ar
			src = ar
		}
	}
	br := bufio.NewReaderSize(src, g.spec.ReadBuffer)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return fmt.Errorf("read subscribe response: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return fmt.Errorf("subscribe: HTTP %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return fmt.Errorf("subscribe: Content-Type %q, want text/event-stream", ct)
	}
	conn.SetDeadline(time.Time{})
	release()
	s.c.connected.Store(true)
	s.c.state.Store(stateLive)
	if g.readers != nil {
		return s.handoff(conn, br, resp)
	}
	return s.read(resp.Body)
}

// read feeds the stream to the parser until it ends.
func (s *subscriber) read(body io.Reader) error {
	buf := make([]byte, s.g.spec.ReadBuffer)
	s.lineHead = true
	defer func() {
		// A stream that ends drops its partial event, as a browser does;
		// the last event ID is kept for the resume.
		s.parser.End()
	}()
	for {
		n, err := body.Read(buf)
		if n > 0 {
			var at int64
			if s.arrival != nil {
				at = s.arrival.arrival()
			}
			if perr := s.account(buf[:n], at); perr != nil {
				return perr
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
}

// account counts and parses b, stream bytes just read (after transfer
// decoding). at is the kernel's receive time of the newest of them, or 0.
func (s *subscriber) account(b []byte, at int64) error {
	s.c.reads.Add(1)
	s.c.bytes.Add(int64(len(b)))
	s.countComments(b)
	s.now = time.Now().UnixNano()
	// The bytes may have arrived earlier than this read (the client was
	// busy): measure to their arrival.
	if at > 0 && at < s.now {
		s.now = at
		s.c.stamped.Add(1)
	}
	s.nlat = 0
	perr := s.parser.Feed(b, s.emitFn)
	s.flushLatencies()
	if perr != nil {
		return fmt.Errorf("parse stream: %w", perr)
	}
	return nil
}

// countComments counts comment lines, which is how hubs send heartbeats;
// the parser skips them without a trace.
func (s *subscriber) countComments(b []byte) {
	var n int64
	if s.lineHead && b[0] == ':' {
		n++
	}
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			s.lineHead = false
			break
		}
		i += j + 1
		if i == len(b) {
			s.lineHead = true
			break
		}
		if b[i] == ':' {
			n++
		}
	}
	if n > 0 {
		s.c.comments.Add(n)
	}
}

func (s *subscriber) flushLatencies() {
	if s.nlat > 0 {
		s.g.lat.record(s.id, s.lat[:s.nlat])
		s.nlat = 0
	}
}

// emit accounts for one event.
func (s *subscriber) emit(ev sse.Event) error {
	d, kind := decodePayload(ev.Data)
	switch kind {
	case kindUpdate:
		if d.run != s.g.spec.Run {
			s.c.stale.Add(1)
			return nil
		}
		if d.pub >= len(s.trackers) {
			s.c.invalid.Add(1)
			return nil
		}
		switch s.trackers[d.pub].observe(d.seq) {
		case arrivedInOrder, arrivedAhead:
		case arrivedReordered:
			s.c.reordered.Add(1)
		case arrivedDuplicate:
			s.c.duplicates.Add(1)
			return nil
		default:
			s.c.invalid.Add(1)
			return nil
		}
		s.c.events.Add(1)
		if s.nlat == len(s.lat) {
			s.flushLatencies()
		}
		s.lat[s.nlat] = (s.now - d.sent) / int64(time.Microsecond)
		s.nlat++
	case kindWarmup:
		s.c.warmups.Add(1)
		if d.run == s.g.spec.Run {
			s.c.ready.Store(true)
		}
	case kindBad:
		s.c.invalid.Add(1)
	default:
		s.c.other.Add(1)
	}
	return nil
}
