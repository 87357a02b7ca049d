package herald

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// WithSubscriptions turns on Mercure's active subscriptions feature: the
// hub publishes a private update each time a subscription starts or ends,
// and SubscriptionsHandler lists the active ones. Each subscription is
// described in the shape of the revision whose query parameter created it
// (draft-07 topic=, draft-08 match*). Off by default.
//
// The list is per node: a hub sees the subscriptions of its own streams.
// The events, being updates, reach subscribers on every node.
func WithSubscriptions(on bool) Option { return func(c *config) { c.subscriptions = on } }

// Subscription documents.
const (
	jsonLDContext = "https://mercure.rocks/"
	// subscriptionQueue bounds the subscription events waiting to be
	// published. When it is full new events are dropped and counted
	// (SubscriptionEventsDropped) rather than ever blocking the goroutine
	// that opens or ends a stream, which may be a shard's.
	subscriptionQueue = 8192
	// subscriptionPublishTimeout bounds the publication of one event.
	subscriptionPublishTimeout = 10 * time.Second
)

// A subscriptionRegistry tracks this node's active subscriptions and
// publishes their events from a goroutine of its own: publishing from a
// shard (where a stream ends) would deadlock, since Publish delivers
// through the shards' inboxes.
type subscriptionRegistry struct {
	hub     *Hub
	queue   chan *Update
	dropped atomic.Uint64
	last    atomic.Pointer[Update] // last update delivered to this node

	version atomic.Uint64 // bumped on every change of the list, for ETags

	mu    sync.Mutex
	conns map[*subConn]struct{}
}

// A subConn is one stream's subscriptions.
type subConn struct {
	subs []subscription
}

// A subscription is one topic selector of one stream.
type subscription struct {
	draft      int    // 7 or 8: the revision of the query parameter
	matchType  string // draft-08 matcher type name
	expr       string // the selector text
	subscriber string
	topic      string // the subscription's topic (relative URL)
	payload    json.RawMessage
}

func newSubscriptionRegistry(h *Hub) *subscriptionRegistry {
	r := &subscriptionRegistry{hub: h, queue: make(chan *Update, subscriptionQueue), conns: make(map[*subConn]struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	h.loops.Add(2)
	go func() {
		defer h.loops.Done()
		<-h.closing
		cancel()
	}()
	go r.run(ctx)
	return r
}

// run publishes queued subscription events until the hub closes.
func (r *subscriptionRegistry) run(ctx context.Context) {
	defer r.hub.loops.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case u := <-r.queue:
			pctx, cancel := context.WithTimeout(ctx, subscriptionPublishTimeout)
			err := r.hub.Publish(pctx, u)
			cancel()
			if err != nil && !errors.Is(err, ErrClosed) && ctx.Err() == nil {
				r.hub.log.Warn("subscription event not published", "topic", u.Topics[0], "err", err)
			}
		}
	}
}

// enqueue queues an event without ever blocking.
func (r *subscriptionRegistry) enqueue(u *Update) {
	select {
	case r.queue <- u:
	default:
		if n := r.dropped.Add(1); n&(n-1) == 0 {
			// Log at powers of two, not once per event of a storm.
			r.hub.log.Warn("subscription event queue full: events dropped", "dropped", n)
		}
	}
}

// open registers a stream's subscriptions and queues their "active"
// events. The returned function ends them (queues the "inactive" events);
// it is called once, when the stream ends, from whatever goroutine ends it.
func (r *subscriptionRegistry) open(sels []reqSelector, claims *Claims, hubURL string) func() {
	hubPath := strings.TrimSuffix(urlPath(hubURL), "/")
	id := NewID()
	c := &subConn{}
	seen := make(map[string]bool, len(sels))
	for _, rs := range sels {
		key := fmt.Sprint(rs.draft, rs.matchType, rs.sel.String())
		if seen[key] {
			continue
		}
		seen[key] = true
		s := subscription{draft: rs.draft, matchType: rs.matchType, expr: rs.sel.String(), subscriber: id,
			payload: claims.payloadFor(r.hub.cache, rs.sel.String())}
		if s.draft == 7 {
			s.topic = hubPath + "/subscriptions/" + expandVar(s.expr) + "/" + expandVar(id)
		} else {
			s.topic = hubPath + "/subscriptions/" + s.matchType + "/" + expandVar(s.expr) + "/" + expandVar(id)
		}
		c.subs = append(c.subs, s)
	}
	r.mu.Lock()
	r.conns[c] = struct{}{}
	r.mu.Unlock()
	r.version.Add(1)
	for _, s := range c.subs {
		r.enqueue(s.event(true))
	}
	return func() {
		r.mu.Lock()
		delete(r.conns, c)
		r.mu.Unlock()
		r.version.Add(1)
		for _, s := range c.subs {
			r.enqueue(s.event(false))
		}
	}
}

// snapshot returns the active subscriptions that keep reports true for.
func (r *subscriptionRegistry) snapshot(keep func(*subscription) bool) []subscription {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []subscription
	for c := range r.conns {
		for i := range c.subs {
			if keep(&c.subs[i]) {
				out = append(out, c.subs[i])
			}
		}
	}
	// Stable output: by topic, which embeds the selector and subscriber.
	slices.SortFunc(out, func(a, b subscription) int { return strings.Compare(a.topic, b.topic) })
	return out
}

// lastEventID is the id of the last update this node delivered, or
// "earliest".
func (r *subscriptionRegistry) lastEventID() string {
	if u := r.last.Load(); u != nil {
		return u.ID
	}
	return EarliestID
}

// subscriptionDoc is the JSON-LD description of a subscription, in either
// revision's shape.
type subscriptionDoc struct {
	Context     string          `json:"@context,omitempty"`
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Topic       string          `json:"topic,omitempty"`      // draft-07
	MatchType   string          `json:"match_type,omitempty"` // draft-08
	Match       string          `json:"match,omitempty"`      // draft-08
	Subscriber  string          `json:"subscriber"`
	Active      bool            `json:"active"`
	Payload     json.RawMessage `json:"payload,omitempty"`
	LastEventID string          `json:"lastEventID,omitempty"`   // draft-07
	LastEventI8 string          `json:"last_event_id,omitempty"` // draft-08
}

func (s *subscription) doc(active bool, withContext bool) subscriptionDoc {
	d := subscriptionDoc{ID: s.topic, Type: "Subscription", Subscriber: s.subscriber, Active: active, Payload: s.payload}
	if withContext {
		d.Context = jsonLDContext
	}
	if s.draft == 7 {
		d.Topic = s.expr
	} else {
		d.MatchType, d.Match = s.matchType, s.expr
	}
	return d
}

// event is the private update that announces s starting or ending.
func (s *subscription) event(active bool) *Update {
	b, err := json.Marshal(s.doc(active, true))
	if err != nil {
		// Only the payload could fail, and it was parsed from JSON.
		b = []byte(`{}`)
	}
	return &Update{Topics: []string{s.topic}, Data: string(b), Private: true}
}

// expandVar percent-encodes s as an RFC 6570 simple-string expansion:
// every byte but the unreserved characters is encoded, exactly once.
func expandVar(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
	return b.String()
}

// SubscriptionEventsDropped returns how many subscription events were
// dropped because the queue to publish them was full.
func (h *Hub) SubscriptionEventsDropped() uint64 {
	if h.subs == nil {
		return 0
	}
	return h.subs.dropped.Load()
}

// SubscriptionsHandler serves the subscriptions API of both revisions
// below the hub URL's path:
//
//	{hub}/subscriptions                                   every subscription
//	{hub}/subscriptions/{topic}                           draft-07, by selector
//	{hub}/subscriptions/{topic}/{subscriber}              draft-07, one
//	{hub}/subscriptions/{match_type}/{match}              draft-08, by matcher
//	{hub}/subscriptions/{match_type}/{match}/{subscriber} draft-08, one
//
// A two-segment path whose first segment is "exact" or "urlpattern" is the
// draft-08 collection. The caller's token must allow subscribing to the
// requested path (relative, as in subscription-event topics, or absolute).
// Mount it at "{hub path}/subscriptions" and "{hub path}/subscriptions/".
// It answers 404 when the hub was created without WithSubscriptions.
func (h *Hub) SubscriptionsHandler() http.Handler {
	return http.HandlerFunc(h.serveSubscriptions)
}

type subscriptionsDoc struct {
	Context       string            `json:"@context"`
	ID            string            `json:"id"`
	Type          string            `json:"type"`
	LastEventID   string            `json:"lastEventID,omitempty"`
	LastEventI8   string            `json:"last_event_id,omitempty"`
	Subscriptions []subscriptionDoc `json:"subscriptions"`
}

func (h *Hub) serveSubscriptions(w http.ResponseWriter, r *http.Request) {
	h.setCORS(w, r)
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		h.servePreflight(w, r)
		return
	default:
		w.Header().Set("Allow", "GET, HEAD, OPTIONS")
		httpError(w, http.StatusMethodNotAllowed, "the subscriptions API is read-only")
		return
	}
	if h.subs == nil {
		httpError(w, http.StatusNotFound, "the subscriptions API is not enabled on this hub")
		return
	}
	hubURL := h.hubURL(r)
	// Route on the path as this server sees it; name and authorize on the
	// public one (they differ behind a proxy that strips a prefix).
	local := r.URL.EscapedPath()
	rest, ok := strings.CutPrefix(local, hubPathOf(local)+"/subscriptions")
	if !ok || (rest != "" && rest[0] != '/') {
		httpError(w, http.StatusNotFound, "not a subscriptions API path")
		return
	}
	path := strings.TrimSuffix(urlPath(hubURL), "/") + "/subscriptions" + rest
	var segs []string
	if rest = strings.TrimPrefix(rest, "/"); rest != "" {
		for _, raw := range strings.Split(rest, "/") {
			seg, err := url.PathUnescape(raw)
			if err != nil || seg == "" {
				httpError(w, http.StatusBadRequest, "malformed subscriptions API path")
				return
			}
			segs = append(segs, seg)
		}
	}
	if len(segs) > 3 {
		httpError(w, http.StatusNotFound, "not a subscriptions API path")
		return
	}
	if h.cfg.authorizer != nil {
		claims, err := h.authorize(r, ActionSubscribe)
		if err != nil {
			h.writeAuthError(w, r, err)
			return
		}
		if claims == nil {
			h.writeAuthError(w, r, &AuthError{Status: http.StatusUnauthorized, Description: "a token is required for the subscriptions API"})
			return
		}
		origin := strings.TrimSuffix(hubURL, urlPath(hubURL))
		if !allowsAny(h.cache, claims.Subscribe, []string{path, origin + path}) {
			h.writeAuthError(w, r, &AuthError{Status: http.StatusForbidden, Code: "insufficient_scope", Description: "the token does not allow subscribing to " + path})
			return
		}
	}

	isMatchType := func(s string) bool { return s == "exact" || s == "urlpattern" }
	var keep func(*subscription) bool
	single, draft := false, 0
	switch len(segs) {
	case 0:
		keep = func(*subscription) bool { return true }
	case 1:
		draft = 7
		keep = func(s *subscription) bool { return s.draft == 7 && s.expr == segs[0] }
	case 2:
		if isMatchType(segs[0]) {
			draft = 8
			keep = func(s *subscription) bool { return s.draft == 8 && s.matchType == segs[0] && s.expr == segs[1] }
		} else {
			draft, single = 7, true
			keep = func(s *subscription) bool {
				return s.draft == 7 && s.expr == segs[0] && s.subscriber == segs[1]
			}
		}
	case 3:
		if !isMatchType(segs[0]) {
			httpError(w, http.StatusBadRequest, fmt.Sprintf("unsupported match type %q (exact or urlpattern)", segs[0]))
			return
		}
		draft, single = 8, true
		keep = func(s *subscription) bool {
			return s.draft == 8 && s.matchType == segs[0] && s.expr == segs[1] && s.subscriber == segs[2]
		}
	}
	last := h.subs.lastEventID()
	subs := h.subs.snapshot(keep)

	var body any
	if single {
		if len(subs) == 0 {
			httpError(w, http.StatusNotFound, "no such active subscription")
			return
		}
		d := subs[0].doc(true, true)
		if draft == 7 {
			d.LastEventID = last
		} else {
			d.LastEventI8 = last
		}
		body = d
	} else {
		doc := subscriptionsDoc{Context: jsonLDContext, ID: path, Type: "Subscriptions", Subscriptions: make([]subscriptionDoc, 0, len(subs))}
		switch draft {
		case 7:
			doc.LastEventID = last
		case 8:
			doc.LastEventI8 = last
		default:
			// The root collection serves clients of both revisions.
			doc.LastEventID, doc.LastEventI8 = last, last
		}
		for i := range subs {
			doc.Subscriptions = append(doc.Subscriptions, subs[i].doc(true, false))
		}
		body = doc
	}
	b, err := json.MarshalIndent(body, "", "  ")
	if err != nil {
		httpError(w, http.StatusInternalServerError, "cannot encode the subscriptions")
		return
	}
	hdr := w.Header()
	// The list changes before its events are published: the version
	// keeps a cached copy from looking fresh in between.
	etag := `"` + strings.NewReplacer(`%`, `%25`, `"`, `%22`).Replace(last) + "." + strconv.FormatUint(h.subs.version.Load(), 10) + `"`
	hdr.Set("ETag", etag)
	hdr.Set("Cache-Control", "must-revalidate")
	hdr.Set("Link", "<"+hubURL+`>; rel="mercure"`)
	hdr.Set("Vary", "Authorization, Cookie")
	if match := r.Header.Get("If-None-Match"); match != "" && match == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hdr.Set("Content-Type", "application/ld+json")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(append(b, '\n'))
	}
}
