package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/sse"
)

// State is the state of a Client's connection, numbered like
// EventSource.readyState.
type State int32

const (
	// Connecting: connecting for the first time, or waiting to reconnect.
	Connecting State = 0
	// Open: a stream is open and events are being delivered.
	Open State = 1
	// Closed: the client was closed, failed for good, or has finished.
	Closed State = 2
)

// String returns "connecting", "open" or "closed".
func (s State) String() string {
	switch s {
	case Connecting:
		return "connecting"
	case Open:
		return "open"
	case Closed:
		return "closed"
	}
	return fmt.Sprintf("State(%d)", int32(s))
}

// Options configure a Client. The zero value is a GET with the defaults
// below, like new EventSource(url).
type Options struct {
	// Method is the request method. The default is GET, or POST when Body
	// or NewBody is set.
	Method string

	// Header is sent with every request and reconnection, for instance
	// Authorization: Bearer <token>. The client adds Accept:
	// text/event-stream and Cache-Control: no-cache unless Header sets
	// them, and manages Last-Event-ID itself (see LastEventID).
	Header http.Header

	// Body is the request body, sent again on every reconnection (and on
	// a 307 or 308 redirect). NewBody, when set, is called for a fresh body
	// on every request instead; an error from it stops the client.
	Body    []byte
	NewBody func() (io.Reader, error)

	// HTTPClient sends the requests; it decides cookies (its Jar), proxies,
	// TLS and redirect policy. Its Timeout must be 0, or it cuts every
	// stream. The default is a client of the Client's own, with a clone of
	// http.DefaultTransport whose idle connections are closed when Run
	// returns, so that no goroutine outlives it.
	HTTPClient *http.Client

	// LastEventID is the last event ID to resume from: sent as
	// Last-Event-ID on the first request, and the ID of the events before
	// the stream's first "id" field, as after a browser's reconnection.
	LastEventID string

	// InitialDelay is the reconnection time until the server sends a
	// "retry" field. Default DefaultInitialDelay (3 s).
	InitialDelay time.Duration

	// MaxDelay caps the exponential backoff, and the server's "retry".
	// Default DefaultMaxDelay (30 s). Jitter adds up to half of it.
	MaxDelay time.Duration

	// HealthyAfter is how long a connection must stay open for the backoff
	// to start again from the reconnection time. Default
	// DefaultHealthyAfter (60 s).
	HealthyAfter time.Duration

	// MaxRetries bounds the reconnections in a row that do not lead to a
	// healthy connection: after that many, Run gives up with the last
	// error. 0 (the default) never gives up, as EventSource; a negative
	// value never reconnects, so Run returns when the first stream ends
	// (nil if the server ended it).
	MaxRetries int

	// ReadTimeout, if positive, drops a connection and reconnects when no
	// byte, not even a heartbeat comment, has arrived for that long,
	// including while waiting for the response headers. Set it to a few
	// times the server's heartbeat interval (Herald's is 15 s); it is off
	// by default because not every server sends heartbeats.
	ReadTimeout time.Duration

	// MaxEventSize bounds one event, as sse.WithMaxEventSize: 0 is the
	// parser's default (sse.DefaultMaxEventSize), negative is no limit.
	// A larger event stops the client with an error wrapping
	// sse.ErrEventTooLarge.
	MaxEventSize int

	// RetryResponse, if set, is asked about every response that did not
	// open a stream; when it returns true, the client reconnects as after
	// a network error instead of stopping. A browser stops on every such
	// response; a service behind a load balancer may want to retry 502,
	// 503 and 504. The response's body has been read for
	// ResponseError.Message and is closed afterwards.
	RetryResponse func(*http.Response) bool

	// hooks replace the clock and the random source in tests.
	hooks *hooks
}

type hooks struct {
	clock clock
	rand  func() float64
}

// readSize is how much the client asks the response body for at a time.
const readSize = 32 << 10

// Client reads one event stream, reconnecting as needed. Create it with
// New, register callbacks, then call Run or range over Events, once.
// Its methods are safe for concurrent use.
type Client struct {
	url    string
	method string
	opts   Options
	hc     *http.Client
	own    *http.Transport // the default transport, closed when Run returns
	clock  clock
	rand   func() float64

	mu       sync.Mutex
	handlers map[string][]func(sse.Event) // copied on write
	onOpen   []func(*http.Response)
	onError  []func(error)
	cancel   context.CancelCauseFunc // ends the running Run
	started  bool
	closed   bool

	closing atomic.Bool  // Close was called: deliver nothing more
	state   atomic.Int32 // a State
	lastID  atomic.Pointer[string]
	retry   atomic.Int64 // the reconnection time, a time.Duration
}

// errClosing is the cause with which Close cancels a running Run.
var errClosing = errors.New("client: closed by Close")

// errStop makes the parser's emit callback stop the read loop.
var errStop = errors.New("client: stop")

// New returns a Client for the event stream at rawURL, an http or https
// URL. opts may be nil for the defaults. Nothing is sent until Run.
func New(rawURL string, opts *Options) (*Client, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("client: invalid URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("client: URL %q: scheme must be http or https", rawURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("client: URL %q has no host", rawURL)
	}
	method := o.Method
	if method == "" {
		method = http.MethodGet
		if o.Body != nil || o.NewBody != nil {
			method = http.MethodPost
		}
	}
	if _, err := http.NewRequest(method, rawURL, nil); err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	o.Header = o.Header.Clone()
	if o.Header == nil {
		o.Header = make(http.Header)
	}
	if o.Header.Get("Accept") == "" {
		o.Header.Set("Accept", "text/event-stream")
	}
	if o.Header.Get("Cache-Control") == "" {
		o.Header.Set("Cache-Control", "no-cache")
	}
	o.Header.Del("Last-Event-ID")
	if o.Body != nil {
		o.Body = bytes.Clone(o.Body)
	}
	if o.InitialDelay <= 0 {
		o.InitialDelay = DefaultInitialDelay
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = DefaultMaxDelay
	}
	if o.HealthyAfter <= 0 {
		o.HealthyAfter = DefaultHealthyAfter
	}
	c := &Client{
		url:      rawURL,
		method:   method,
		opts:     o,
		hc:       o.HTTPClient,
		clock:    realClock{},
		rand:     rand.Float64,
		handlers: make(map[string][]func(sse.Event)),
	}
	if o.hooks != nil {
		if o.hooks.clock != nil {
			c.clock = o.hooks.clock
		}
		if o.hooks.rand != nil {
			c.rand = o.hooks.rand
		}
	}
	if c.hc == nil {
		if dt, ok := http.DefaultTransport.(*http.Transport); ok {
			c.own = dt.Clone()
		} else {
			c.own = &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true}
		}
		c.hc = &http.Client{Transport: c.own}
	}
	id := o.LastEventID
	c.lastID.Store(&id)
	c.retry.Store(int64(o.InitialDelay))
	return c, nil
}

// OnEvent registers fn for the events of type typ ("message" for events
// without an "event" field). Callbacks run on the goroutine of Run or of
// the range loop, one at a time and in stream order, before the event is
// yielded; a slow callback slows the stream down, it never drops events.
// Several callbacks for one type run in the order they were registered.
func (c *Client) OnEvent(typ string, fn func(sse.Event)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	hs := c.handlers[typ]
	c.handlers[typ] = append(hs[:len(hs):len(hs)], fn)
}

// OnMessage registers fn for events of type "message", like
// EventSource.onmessage.
func (c *Client) OnMessage(fn func(sse.Event)) { c.OnEvent("message", fn) }

// OnOpen registers fn to be called each time a stream opens, with the
// response (its Body must not be used; it is http.NoBody). Mercure hubs
// say there, in the Last-Event-ID header, from where they replayed.
func (c *Client) OnOpen(fn func(*http.Response)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onOpen = append(c.onOpen[:len(c.onOpen):len(c.onOpen)], fn)
}

// OnError registers fn to be called when a connection fails or ends: with
// a *RetryError when the client will reconnect (State is then
// Connecting), or with the error that stops it for good (State is then
// Closed), which is also what Run returns. It is not called when the
// client stops because of Close, its context, or the end of a stream with
// MaxRetries < 0.
func (c *Client) OnError(fn func(error)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onError = append(c.onError[:len(c.onError):len(c.onError)], fn)
}

// LastEventID returns the last event ID string: what the client sends as
// Last-Event-ID when it reconnects (unless it is empty).
func (c *Client) LastEventID() string { return *c.lastID.Load() }

// ReconnectionTime returns the stream's reconnection time: the last
// "retry" field's value (saturating at about 292 years), or
// Options.InitialDelay before any. The client waits at least this long,
// clamped to [MinServerRetry, MaxDelay] for a server's value, before a
// reconnection; see the package documentation.
func (c *Client) ReconnectionTime() time.Duration { return time.Duration(c.retry.Load()) }

// State returns the connection's state.
func (c *Client) State() State { return State(c.state.Load()) }

// setState changes the state, unless the client is already closed.
func (c *Client) setState(s State) {
	for {
		old := c.state.Load()
		if State(old) == Closed || c.state.CompareAndSwap(old, int32(s)) {
			return
		}
	}
}

// Close stops the client: a running Run returns nil soon after, the
// event being delivered (if any) is the last, and no callback is started
// once the one running returns. Close may be called from any goroutine,
// including from a callback, any number of times; it does not wait for
// Run to return.
func (c *Client) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	c.closing.Store(true)
	c.state.Store(int32(Closed))
	if c.cancel != nil {
		c.cancel(errClosing)
	}
}

// Run connects, delivers events to the callbacks and reconnects until the
// client is closed, ctx is done, or a response stops it. It returns nil
// after Close (or the end of the stream with MaxRetries < 0), the
// context's error when ctx ends it, and otherwise the error that stopped
// it: a *ResponseError (errors.Is(err, ErrNoContent) for a 204), the
// last connection error once MaxRetries is exhausted, or an error
// wrapping sse.ErrEventTooLarge. It returns nil at once if Close was
// called before, and ErrClosed if the client has run before.
func (c *Client) Run(ctx context.Context) error { return c.run(ctx, nil) }

// Events runs the client like Run and yields its events, each after its
// callbacks. When the client stops with an error (not on Close or when
// the loop body breaks) the last pair yielded carries that error. Leaving
// the loop closes the client. Like Run, it can be used once.
//
//	for ev, err := range c.Events(ctx) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(ev.Type, ev.Data)
//	}
func (c *Client) Events(ctx context.Context) iter.Seq2[sse.Event, error] {
	return func(yield func(sse.Event, error) bool) {
		broke := false
		err := c.run(ctx, func(ev sse.Event) bool {
			if !yield(ev, nil) {
				broke = true
				return false
			}
			return true
		})
		if err != nil && !broke {
			yield(sse.Event{}, err)
		}
	}
}

// outcome says what a connection's end means.
type outcome int

const (
	reconnect outcome = iota // wait and reconnect (or give up)
	fatal                    // stop with the error
	stop                     // stop without error: closed, context, consumer
)

func (c *Client) run(ctx context.Context, yield func(sse.Event) bool) error {
	c.mu.Lock()
	if c.started {
		c.mu.Unlock()
		return ErrClosed
	}
	c.started = true
	if c.closed {
		// Close won the race with Run: the same as closing it at once.
		c.mu.Unlock()
		return nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	c.cancel = cancel
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.closed = true
		c.closing.Store(true)
		c.state.Store(int32(Closed))
		c.mu.Unlock()
		cancel(nil)
		if c.own != nil {
			c.own.CloseIdleConnections()
		}
	}()

	var popts []sse.Option
	if c.opts.MaxEventSize != 0 {
		popts = append(popts, sse.WithMaxEventSize(c.opts.MaxEventSize))
	}
	if c.opts.LastEventID != "" {
		popts = append(popts, sse.WithLastEventID(c.opts.LastEventID))
	}
	p := sse.NewParser(popts...)
	buf := make([]byte, readSize)
	attempt := 0 // reconnections since the last healthy connection
	for {
		out, healthy, err := c.connect(ctx, p, buf, yield)
		switch out {
		case stop:
			return c.stopErr(ctx)
		case fatal:
			if ctx.Err() != nil {
				return c.stopErr(ctx)
			}
			c.fail(err)
			return err
		}
		if ctx.Err() != nil {
			return c.stopErr(ctx)
		}
		if c.opts.MaxRetries < 0 {
			if errors.Is(err, io.EOF) {
				return nil
			}
			c.fail(err)
			return err
		}
		if healthy {
			attempt = 0
		}
		if c.opts.MaxRetries > 0 && attempt >= c.opts.MaxRetries {
			err = fmt.Errorf("giving up after %d reconnection attempts: %w", attempt, err)
			c.fail(err)
			return err
		}
		delay := backoff(c.base(p), c.opts.MaxDelay, attempt, c.rand())
		attempt++
		c.setState(Connecting)
		c.report(&RetryError{Err: err, Attempt: attempt, Delay: delay})
		if c.closing.Load() || !c.sleep(ctx, delay) {
			return c.stopErr(ctx)
		}
	}
}

// stopErr is Run's result when it stops without a failure of its own.
func (c *Client) stopErr(ctx context.Context) error {
	if err := context.Cause(ctx); err != nil && err != errClosing {
		return err
	}
	return nil
}

// fail marks the client closed and reports the error that stopped it.
func (c *Client) fail(err error) {
	c.state.Store(int32(Closed))
	c.report(err)
}

func (c *Client) report(err error) {
	c.mu.Lock()
	fns := c.onError
	c.mu.Unlock()
	for _, fn := range fns {
		fn(err)
	}
}

// base is the reconnection time the backoff starts from.
func (c *Client) base(p *sse.Parser) time.Duration {
	ms, ok := p.Retry()
	if !ok {
		return c.opts.InitialDelay
	}
	return min(max(msToDuration(ms), MinServerRetry), c.opts.MaxDelay)
}

// sleep waits for d, or until ctx is done; it reports whether it waited.
func (c *Client) sleep(ctx context.Context, d time.Duration) bool {
	done := make(chan struct{})
	t := c.clock.AfterFunc(d, func() { close(done) })
	select {
	case <-done:
		return ctx.Err() == nil
	case <-ctx.Done():
		t.Stop()
		return false
	}
}

// connect makes one request and reads its stream to the end. It reports
// what the end means, whether the connection had been healthy, and why it
// ended.
func (c *Client) connect(ctx context.Context, p *sse.Parser, buf []byte, yield func(sse.Event) bool) (outcome, bool, error) {
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var rt timer
	if c.opts.ReadTimeout > 0 {
		rt = c.clock.AfterFunc(c.opts.ReadTimeout, func() { cancel(ErrReadTimeout) })
		defer rt.Stop()
	}
	req, err := c.newRequest(cctx, p.LastEventID())
	if err != nil {
		return fatal, false, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return c.connErr(ctx), false, c.why(cctx, err)
	}
	defer resp.Body.Close()
	if !opens(resp) {
		rerr := newResponseError(resp)
		if ctx.Err() != nil {
			return stop, false, nil
		}
		if c.opts.RetryResponse != nil && c.opts.RetryResponse(resp) {
			return reconnect, false, rerr
		}
		return fatal, false, rerr
	}

	opened := c.clock.Now()
	c.setState(Open)
	c.mu.Lock()
	fns := c.onOpen
	c.mu.Unlock()
	if len(fns) > 0 {
		r := *resp
		r.Body = http.NoBody
		for _, fn := range fns {
			fn(&r)
		}
	}

	emit := func(ev sse.Event) error {
		c.sync(p)
		if c.closing.Load() {
			return errStop
		}
		c.dispatch(ev)
		if yield != nil && !yield(ev) {
			c.Close()
			return errStop
		}
		if c.closing.Load() {
			return errStop
		}
		return nil
	}
	for {
		if c.closing.Load() {
			return stop, false, nil
		}
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if rt != nil {
				rt.Reset(c.opts.ReadTimeout)
			}
			perr := p.Feed(buf[:n], emit)
			c.sync(p)
			switch {
			case perr == errStop:
				return stop, false, nil
			case perr != nil:
				p.End()
				return fatal, false, fmt.Errorf("reading the event stream: %w", perr)
			}
		}
		if rerr != nil {
			p.End() // drops an unfinished event, keeps the last event ID
			c.sync(p)
			healthy := c.clock.Now().Sub(opened) >= c.opts.HealthyAfter
			if errors.Is(rerr, io.EOF) {
				return reconnect, healthy, io.EOF
			}
			return c.connErr(ctx), healthy, c.why(cctx, rerr)
		}
	}
}

// connErr classifies a request or read error: the end of Run when its
// context is done (Close cancels it too), else a reason to reconnect.
func (c *Client) connErr(ctx context.Context) outcome {
	if ctx.Err() != nil {
		return stop
	}
	return reconnect
}

// why is the error to report for a failed request or read: the read
// timeout when that is what cut it.
func (c *Client) why(cctx context.Context, err error) error {
	if errors.Is(context.Cause(cctx), ErrReadTimeout) {
		return fmt.Errorf("%w: nothing received for %v", ErrReadTimeout, c.opts.ReadTimeout)
	}
	return err
}

// sync publishes the parser's last event ID and reconnection time to the
// concurrent readers.
func (c *Client) sync(p *sse.Parser) {
	if id := p.LastEventID(); id != *c.lastID.Load() {
		c.lastID.Store(&id)
	}
	if ms, ok := p.Retry(); ok {
		c.retry.Store(int64(msToDuration(ms)))
	}
}

func (c *Client) dispatch(ev sse.Event) {
	c.mu.Lock()
	fns := c.handlers[ev.Type]
	c.mu.Unlock()
	for _, fn := range fns {
		if c.closing.Load() {
			return
		}
		fn(ev)
	}
}

// newRequest builds the request of one connection attempt.
func (c *Client) newRequest(ctx context.Context, lastID string) (*http.Request, error) {
	var body io.Reader
	if c.opts.NewBody != nil {
		b, err := c.opts.NewBody()
		if err != nil {
			return nil, fmt.Errorf("client: request body: %w", err)
		}
		body = b
	} else if c.opts.Body != nil {
		body = bytes.NewReader(c.opts.Body) // NewRequest sets GetBody for it
	}
	req, err := http.NewRequestWithContext(ctx, c.method, c.url, body)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if c.opts.NewBody != nil {
		// For 307 and 308 redirects, which re-send the body.
		req.GetBody = func() (io.ReadCloser, error) {
			b, err := c.opts.NewBody()
			if err != nil {
				return nil, err
			}
			return io.NopCloser(b), nil
		}
	}
	req.Header = c.opts.Header.Clone()
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	return req, nil
}

// opens reports whether resp opens an event stream: status 200 and media
// type text/event-stream, with any parameters.
func opens(resp *http.Response) bool {
	if resp.StatusCode != http.StatusOK {
		return false
	}
	ct := resp.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		// Browsers compare the essence even when a parameter is malformed.
		mt, _, _ = strings.Cut(ct, ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
	}
	return mt == "text/event-stream"
}
