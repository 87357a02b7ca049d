package herald

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	whatwgurl "github.com/nlnwa/whatwg-url/url"

	"github.com/heraldpush/herald/topic"
)

// ServeHTTP serves the Mercure endpoint: GET subscribes, POST publishes,
// OPTIONS answers CORS preflight requests.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.setCORS(w, r)
	switch r.Method {
	case http.MethodGet:
		h.serveSubscribe(w, r)
	case http.MethodHead:
		// Nothing to stream without a body: say what a GET would be.
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
	case http.MethodPost:
		h.servePublish(w, r)
	case http.MethodOptions:
		h.servePreflight(w, r)
	default:
		w.Header().Set("Allow", "GET, POST, OPTIONS")
		httpError(w, http.StatusMethodNotAllowed, "use GET to subscribe or POST to publish")
	}
}

func httpError(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	io.WriteString(w, msg+"\n")
}

// writeAuthError answers an authorization failure per RFC 6750: every 401
// and 403 carries a Bearer challenge with the resource_metadata parameter
// of RFC 9728 (draft-08), an error code when a token was presented, and a
// description safe to show (the cause stays in the hub's log).
func (h *Hub) writeAuthError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *AuthError
	if !errors.As(err, &ae) {
		ae = &AuthError{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "the token is not valid", Err: err}
	}
	if ae.Err != nil {
		h.log.Debug("request refused", "status", ae.Status, "code", ae.Code, "reason", ae.Err, "path", r.URL.Path)
	}
	challenge := `Bearer realm="mercure"`
	if mu := h.metadataURL(r); mu != "" {
		challenge += `, resource_metadata="` + mu + `"`
	}
	if ae.Code != "" {
		challenge += `, error="` + ae.Code + `"`
		if ae.Description != "" {
			challenge += `, error_description="` + quoteSafe(ae.Description) + `"`
		}
	}
	status := ae.Status
	if status == 0 {
		status = http.StatusUnauthorized
	}
	if status == http.StatusUnauthorized || status == http.StatusForbidden || ae.Code != "" {
		w.Header().Set("WWW-Authenticate", challenge)
	}
	desc := ae.Description
	if desc == "" {
		desc = http.StatusText(status)
	}
	httpError(w, status, desc)
}

// quoteSafe makes s fit in a quoted-string of a challenge.
func quoteSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '"' || r == '\\':
			return '\''
		case r < 0x20 || r == 0x7f:
			return -1
		}
		return r
	}, s)
}

// authorize returns the request's claims; nil claims mean no token.
func (h *Hub) authorize(r *http.Request, action Action) (*Claims, error) {
	if h.cfg.authorizer == nil {
		return nil, nil
	}
	return h.cfg.authorizer.Authorize(r, action)
}

// A reqSelector is one topic selector of a subscribe request and the
// revision whose parameter carried it.
type reqSelector struct {
	sel topic.Selector
	// draft is 7 for topic=, 8 for match, match_exact and match_urlpattern.
	draft int
	// matchType is the draft-08 matcher type name ("exact" or
	// "urlpattern") of the parameter.
	matchType string
}

// Subscribe query parameters.
const (
	paramTopic           = "topic"            // draft-07
	paramMatch           = "match"            // draft-08, exact
	paramMatchExact      = "match_exact"      // draft-08, exact
	paramMatchURLPattern = "match_urlpattern" // draft-08, URL pattern
)

// parseSelectors reads the topic selectors of a subscribe request, in both
// Mercure revisions' forms: draft-07 topic= (exact or URI template) and
// draft-08 match=, match_exact= and match_urlpattern=. A request may mix
// them; each selector keeps its own revision's meaning. The whole match*
// namespace is reserved (draft-08): any other parameter whose name begins
// with "match", in any case, is an error, as is an empty, over-long,
// over-complex or ill-formed value, invalid UTF-8, a control or format
// character, or more than the configured number of selectors. Relative URL
// patterns are resolved against hubURL.
func (h *Hub) parseSelectors(q url.Values, hubURL string) ([]reqSelector, error) {
	p := topic.Parser{BaseURL: hubURL, MaxCount: h.cfg.maxSelectors}
	var out []reqSelector
	n := 0
	// Parameters in a fixed order, so that errors and subscription events
	// do not depend on map iteration.
	names := make([]string, 0, len(q))
	for name := range q {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		var kind topic.Kind
		rs := reqSelector{draft: 8}
		switch {
		case name == paramTopic:
			rs.draft = 7
		case name == paramMatch || name == paramMatchExact:
			kind, rs.matchType = topic.Exact, "exact"
		case name == paramMatchURLPattern:
			kind, rs.matchType = topic.URLPattern, "urlpattern"
		case len(name) >= 5 && strings.EqualFold(name[:5], "match"):
			return nil, fmt.Errorf("unsupported topic matcher parameter %q: use match, match_exact or match_urlpattern (names are case-sensitive)", name)
		default:
			continue
		}
		for _, v := range q[name] {
			if n++; n > h.cfg.maxSelectors {
				return nil, fmt.Errorf("too many topic selectors: at most %d per request", h.cfg.maxSelectors)
			}
			var err error
			if rs.draft == 7 {
				rs.sel, err = p.ParseDraft07(v)
			} else {
				rs.sel, err = p.Parse(kind, v)
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			out = append(out, rs)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("missing topic selector: add at least one topic= (draft-07) or match= (draft-08) query parameter")
	}
	return out, nil
}

// dedupSelectors returns the distinct selectors the shard indexes.
func dedupSelectors(rs []reqSelector) []topic.Selector {
	sels := make([]topic.Selector, 0, len(rs))
	seen := make(map[topic.Key]bool, len(rs))
	for _, r := range rs {
		if k := r.sel.Key(); !seen[k] {
			seen[k] = true
			sels = append(sels, r.sel)
		}
	}
	return sels
}

// lastEventID reads the resume cursor: the header wins over the query
// parameters of both revisions.
func lastEventID(r *http.Request) string {
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		return v
	}
	q := r.URL.Query()
	if v := q.Get("last_event_id"); v != "" {
		return v
	}
	return q.Get("lastEventID")
}

func (h *Hub) serveSubscribe(w http.ResponseWriter, r *http.Request) {
	if h.closed.Load() {
		w.Header().Set("Retry-After", "1")
		httpError(w, http.StatusServiceUnavailable, "the hub is shutting down")
		return
	}
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		// Go drops a malformed pair; refusing beats silently subscribing
		// to fewer topics than asked.
		httpError(w, http.StatusBadRequest, "malformed query string: "+err.Error())
		return
	}
	hubURL := h.hubURL(r)
	reqSels, err := h.parseSelectors(query, hubURL)
	if err != nil {
		httpError(w, http.StatusBadRequest, strings.TrimPrefix(err.Error(), "topic: "))
		return
	}
	sels := dedupSelectors(reqSels)
	claims, err := h.authorize(r, ActionSubscribe)
	if err != nil {
		h.writeAuthError(w, r, err)
		return
	}
	if claims == nil && !h.cfg.anonymous {
		h.writeAuthError(w, r, &AuthError{Status: http.StatusUnauthorized, Description: "a token is required to subscribe"})
		return
	}
	sub := newSubscriber(h, sels, claims)
	if sub.finishedAll(h.finished) {
		// Every topic has had its final update: tell EventSource to stop.
		w.WriteHeader(http.StatusNoContent)
		return
	}
	cursor := lastEventID(r)
	if cursor != "" && (!utf8.ValidString(cursor) || hasControl(cursor)) {
		httpError(w, http.StatusBadRequest, "invalid Last-Event-ID")
		return
	}
	if claims != nil && !claims.Expires.IsZero() && !claims.Expires.After(time.Now()) {
		h.writeAuthError(w, r, &AuthError{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "the token has expired"})
		return
	}

	var raw *rawConn
	if h.rawConns != nil && r.ProtoMajor == 1 && r.TLS == nil && r.Method == http.MethodGet {
		raw = h.rawConns.prepare(w)
	}
	var ss *streamSink
	if raw != nil {
		sub.sink = raw
	} else {
		ss = newStreamSink(h)
		sub.sink = ss
	}
	// Until the opening comment and the replay are written, and the stream
	// is handed to its shard, live updates are only queued.
	sub.state = stateReplaying
	if so, ok := h.cfg.observer.(StreamObserver); ok {
		sub.onEnd = so.StreamOpened(r, len(sels))
	}
	if h.subs != nil {
		// Subscription events: "active" now, "inactive" whenever and
		// however the stream ends (the hook runs once, from end).
		closeSubs := h.subs.open(reqSels, claims, hubURL)
		if prev := sub.onEnd; prev != nil {
			sub.onEnd = func() { prev(); closeSubs() }
		} else {
			sub.onEnd = closeSubs
		}
	}
	shard := h.pickShard()
	sub.shard = shard
	h.streams.Add(1)
	if !shard.push(shardCmd{kind: cmdAdd, sub: sub}) {
		h.streams.Done()
		sub.end(ReasonShutdown, false)
		w.Header().Set("Retry-After", "1")
		httpError(w, http.StatusServiceUnavailable, "the hub is shutting down")
		return
	}

	var first HistoryPage
	if cursor != "" {
		first, err = h.transport.History(r.Context(), HistoryQuery{AfterID: cursor})
		if err != nil {
			shard.push(shardCmd{kind: cmdRemove, sub: sub, reason: ReasonWriteError})
			<-sub.done
			h.streams.Done()
			h.log.Warn("history unavailable for a resuming subscriber", "err", err)
			w.Header().Set("Retry-After", "1")
			httpError(w, http.StatusServiceUnavailable, "history is unavailable: retry shortly")
			return
		}
	}

	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "private, no-cache, no-store, must-revalidate, max-age=0")
	hdr.Set("X-Accel-Buffering", "no")
	hdr.Set("X-Content-Type-Options", "nosniff")
	if r.ProtoMajor == 1 {
		hdr.Set("Connection", "keep-alive")
	}
	if cursor != "" {
		from := cursor
		if !first.Found {
			from = EarliestID
		}
		hdr.Set("Last-Event-ID", from)
		hdr.Set("Mercure-Last-Event-ID", from)
	}

	var out streamWriter
	if raw != nil {
		out, err = raw.start(hdr)
		if err != nil {
			// The connection is already gone.
			shard.push(shardCmd{kind: cmdRemove, sub: sub, reason: ReasonClientGone})
			<-sub.done
			h.streams.Done()
			return
		}
	} else {
		defer h.streams.Done()
		w.WriteHeader(http.StatusOK)
		out = &responseStream{w: w, rc: http.NewResponseController(w), timeout: h.cfg.writeTimeout}
	}

	replayed, last, err := h.replay(r.Context(), sub, out, cursor, first)
	if err != nil {
		if errors.Is(err, errHistory) {
			h.log.Warn("history failed during replay", "err", err)
		}
		shard.push(shardCmd{kind: cmdRemove, sub: sub, reason: ReasonWriteError})
		<-sub.done
		if raw != nil {
			raw.abort()
			h.streams.Done()
		}
		return
	}
	h.cfg.observer.Connected(replayed)
	if raw != nil {
		// From here on the shard writes to the connection; this goroutine
		// and net/http's per-connection state go away.
		if err := raw.handOff(sub); err != nil {
			shard.push(shardCmd{kind: cmdRemove, sub: sub, reason: ReasonClientGone})
			return
		}
		shard.push(shardCmd{kind: cmdLive, sub: sub, seq: last})
		return
	}
	shard.push(shardCmd{kind: cmdLive, sub: sub, seq: last})
	ss.serve(h, sub, w, r)
}

var errHistory = errors.New("herald: history")

// A streamWriter writes the start of a stream (headers are already set)
// on the handler's goroutine: the opening comment and the replay.
type streamWriter interface {
	io.Writer
	Flush() error
}

type responseStream struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func (s *responseStream) Write(p []byte) (int, error) {
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.timeout))
	return s.w.Write(p)
}

func (s *responseStream) Flush() error { return s.rc.Flush() }

// replay writes the opening comment and, when the client gave a cursor,
// every matching update after it. It returns the position it replayed up
// to: the shard drops queued live updates at or before it.
func (h *Hub) replay(ctx context.Context, sub *subscriber, out streamWriter, cursor string, page HistoryPage) (n int, last uint64, err error) {
	if _, err := io.WriteString(out, ":\n"); err != nil {
		return 0, 0, err
	}
	if cursor != "" {
		var buf []byte
		for {
			for _, u := range page.Updates {
				last = u.Seq
				// A final update in history finishes its topics on this
				// node too, even if it was published before the node
				// started: the stream then ends after the replay.
				h.noteFinal(u)
				if !sub.matches(h.cache, u) {
					continue
				}
				var err error
				buf, err = encodeUpdate(buf[:0], u)
				if err != nil {
					continue
				}
				if _, err := out.Write(buf); err != nil {
					return n, last, err
				}
				n++
			}
			if len(page.Updates) < DefaultHistoryPage {
				break
			}
			if fl := sub.firstLive.Load(); fl != 0 && last+1 >= fl {
				break // the rest is queued live
			}
			page, err = h.transport.History(ctx, HistoryQuery{AfterSeq: last, Limit: DefaultHistoryPage})
			if err != nil {
				return n, last, fmt.Errorf("%w: %w", errHistory, err)
			}
		}
	}
	if err := out.Flush(); err != nil {
		return n, last, err
	}
	sub.wrote()
	return n, last, nil
}

// matches reports whether u goes to sub: a topic matches a selector, and a
// private update is allowed by the subscriber's claims.
func (sub *subscriber) matches(c *topic.Cache, u *Update) bool {
	if !allowsAny(c, sub.sels, u.Topics) {
		return false
	}
	return !u.Private || sub.mayReceivePrivate(c, u)
}

// Bounds on single publish fields; a longer one is answered 413, as
// draft-08 asks of implementation limits.
const (
	maxIDLength    = 1024
	maxTypeLength  = 256
	maxRetryLength = 18 // more digits would overflow a millisecond count
	maxTopics      = 100
)

func (h *Hub) servePublish(w http.ResponseWriter, r *http.Request) {
	if h.closed.Load() {
		w.Header().Set("Retry-After", "1")
		httpError(w, http.StatusServiceUnavailable, "the hub is shutting down")
		return
	}
	claims, err := h.authorize(r, ActionPublish)
	if err != nil {
		h.writeAuthError(w, r, err)
		return
	}
	if claims == nil && !h.cfg.publishNoToken {
		h.writeAuthError(w, r, &AuthError{Status: http.StatusUnauthorized, Description: "a token is required to publish"})
		return
	}
	if claims != nil && claims.FromCookie && !h.originAllowed(r) {
		// CSRF: a browser sends the cookie along with any site's form post.
		httpError(w, http.StatusForbidden, "a publish authorized by a cookie must come from an allowed Origin (see --publish-origins)")
		return
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/x-www-form-urlencoded" {
		httpError(w, http.StatusUnsupportedMediaType, "publish with Content-Type: application/x-www-form-urlencoded")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, h.cfg.maxPublishSize)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the update is larger than %d bytes", h.cfg.maxPublishSize))
			return
		}
		httpError(w, http.StatusBadRequest, "invalid form: "+err.Error())
		return
	}
	f := r.PostForm
	u := &Update{
		Topics: f["topic"],
		Data:   f.Get("data"),
		ID:     f.Get("id"),
		Type:   f.Get("type"),
		Retry:  f.Get("retry"),
		// The field's presence makes the update private, whatever its
		// value (both revisions): "private=false" is private too.
		Private: f.Has("private"),
		Final:   f.Has("final") && f.Get("final") != "false" && f.Get("final") != "0",
	}
	if status, msg := h.checkPublishFields(f, u, claims); status != 0 {
		httpError(w, status, msg)
		return
	}
	hubPath := urlPath(h.hubURL(r))
	for _, t := range u.Topics {
		if inHubNamespace(t, h.hubURL(r), hubPath) {
			// draft-08: 403, not 400 — the hub's own resources, such as
			// subscription events, live there and must not be forged.
			httpError(w, http.StatusForbidden, fmt.Sprintf("topic %q is inside the hub's reserved namespace %s", t, hubPath))
			return
		}
	}
	if claims != nil && !allowsAll(h.cache, claims.Publish, u.Topics) {
		h.writeAuthError(w, r, &AuthError{Status: http.StatusForbidden, Code: "insufficient_scope", Description: "the token does not allow publishing to every topic of this update"})
		return
	}
	if err := h.Publish(r.Context(), u); err != nil {
		switch {
		case errors.Is(err, ErrClosed):
			w.Header().Set("Retry-After", "1")
			httpError(w, http.StatusServiceUnavailable, "the hub is shutting down")
		case errors.Is(err, context.Canceled):
			httpError(w, http.StatusServiceUnavailable, "publish canceled")
		case errors.Is(err, ErrTooLarge):
			httpError(w, http.StatusRequestEntityTooLarge, strings.TrimPrefix(err.Error(), "herald: "))
		default:
			h.log.Error("publish failed", "id", u.ID, "err", err)
			w.Header().Set("Retry-After", "1")
			httpError(w, http.StatusServiceUnavailable, "the update could not be stored: retry shortly")
		}
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, u.ID)
}

// checkPublishFields applies the publish rules of draft-08 — which draft-07
// publishers meet too, except the single topic, required only of draft-08
// (access token) publishers — and returns the status and message of the
// first violation, or 0. Field limits answer 413, bad values 400.
func (h *Hub) checkPublishFields(f url.Values, u *Update, claims *Claims) (int, string) {
	switch {
	case len(u.Topics) == 0:
		return http.StatusBadRequest, "missing topic field"
	case len(u.Topics) > 1 && claims != nil && claims.Draft == 8:
		return http.StatusBadRequest, "a draft-08 update has exactly one topic field"
	case len(u.Topics) > maxTopics:
		return http.StatusBadRequest, fmt.Sprintf("too many topic fields (at most %d)", maxTopics)
	case len(f["id"]) > 1, len(f["type"]) > 1, len(f["retry"]) > 1, len(f["data"]) > 1:
		return http.StatusBadRequest, "the id, type, retry and data fields may appear once each"
	case f.Has("id") && u.ID == "":
		return http.StatusBadRequest, "invalid update id: empty"
	case len(u.ID) > maxIDLength:
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("the id is longer than %d bytes", maxIDLength)
	case len(u.Type) > maxTypeLength:
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("the type is longer than %d bytes", maxTypeLength)
	case len(u.Retry) > maxRetryLength:
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("the retry is longer than %d digits", maxRetryLength)
	}
	for _, t := range u.Topics {
		if len(t) > MaxTopicLength {
			return http.StatusRequestEntityTooLarge, fmt.Sprintf("a topic is longer than %d bytes", MaxTopicLength)
		}
		if err := topic.ValidateText(t); err != nil {
			return http.StatusBadRequest, fmt.Sprintf("invalid topic: %v", err)
		}
	}
	for name, v := range map[string]string{"id": u.ID, "type": u.Type} {
		if err := topic.ValidateText(v); err != nil {
			return http.StatusBadRequest, fmt.Sprintf("invalid %s: %v", name, err)
		}
	}
	if err := u.Validate(); err != nil {
		return http.StatusBadRequest, strings.TrimPrefix(err.Error(), "herald: ")
	}
	return 0, ""
}

// inHubNamespace reports whether topic t, resolved as a URL reference
// against the hub URL with the WHATWG URL parser, names the hub's own path
// or a path below it — on any scheme or host (draft-08). Dot segments are
// removed and percent-encoded unreserved characters decoded first, so that
// "/.well-known/%6Dercure/x" or "/a/../.well-known/mercure/x" cannot slip
// by. A topic that does not parse as a URL reference is not in it.
func inHubNamespace(t, hubURL, hubPath string) bool {
	// Fast path, so that publishing does not parse URLs: a topic can name
	// the namespace only by spelling the hub path's last segment, by
	// percent-encoding it, or by keeping the hub's own path (a reference
	// that is empty or only a query or fragment).
	if last := hubPath[strings.LastIndexByte(hubPath, '/')+1:]; last != "" && !strings.ContainsRune(last, '%') &&
		t != "" && t[0] != '?' && t[0] != '#' && !strings.ContainsRune(t, '%') && !strings.Contains(t, last) {
		return false
	}
	base, err := whatwgurl.Parse(hubURL)
	if err != nil {
		return false
	}
	// The WHATWG parser removes dot segments, "%2e" spellings included.
	u, err := base.Parse(t)
	if err != nil {
		return false
	}
	p := decodeUnreserved(u.Pathname())
	hp := decodeUnreserved(hubPath)
	return p == hp || strings.HasPrefix(p, strings.TrimSuffix(hp, "/")+"/")
}

// decodeUnreserved decodes the percent-encoded octets of RFC 3986
// unreserved characters (ALPHA, DIGIT, "-", ".", "_", "~"), which name the
// same resource encoded or not.
func decodeUnreserved(p string) string {
	if !strings.Contains(p, "%") {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '%' && i+2 < len(p) {
			if v, err := strconv.ParseUint(p[i+1:i+3], 16, 8); err == nil {
				c := byte(v)
				if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
					b.WriteByte(c)
					i += 2
					continue
				}
			}
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

// urlPath returns the path of an absolute URL, "/" when it has none.
func urlPath(u string) string {
	pu, err := url.Parse(u)
	if err != nil || pu.EscapedPath() == "" {
		return "/"
	}
	return pu.EscapedPath()
}

// WithHubURL sets the hub's public URL, e.g.
// "https://example.com/.well-known/mercure". Relative URL patterns and
// relative topics are resolved against it (draft-08), the reserved topic
// namespace and subscription-event topics follow its path, and it names
// the hub in WWW-Authenticate challenges. Without it the hub derives the
// URL from each request (see RequestHubURL), which is wrong behind a proxy
// that terminates TLS or rewrites the host.
func WithHubURL(u string) Option { return func(c *config) { c.hubURL = strings.TrimSuffix(u, "/") } }

// WithResourceMetadataURL sets the URL of the hub's RFC 9728 protected
// resource metadata, given in WWW-Authenticate challenges. Default: the
// well-known location derived from the hub URL (ResourceMetadataURL).
func WithResourceMetadataURL(u string) Option { return func(c *config) { c.metadataURL = u } }

// hubURL returns the hub's URL: the configured one, or the one the request
// reached the hub at.
func (h *Hub) hubURL(r *http.Request) string {
	if h.cfg.hubURL != "" {
		return h.cfg.hubURL
	}
	return RequestHubURL(r)
}

// metadataURL returns the URL of the hub's protected resource metadata.
func (h *Hub) metadataURL(r *http.Request) string {
	if h.cfg.metadataURL != "" {
		return h.cfg.metadataURL
	}
	return ResourceMetadataURL(h.hubURL(r))
}
