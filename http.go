package herald

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

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

// writeAuthError answers an authorization failure per RFC 6750.
func (h *Hub) writeAuthError(w http.ResponseWriter, err error) {
	var ae *AuthError
	if !errors.As(err, &ae) {
		ae = &AuthError{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "the token is not valid", Err: err}
	}
	challenge := `Bearer realm="mercure"`
	if h.cfg.metadataURL != "" {
		challenge += `, resource_metadata="` + h.cfg.metadataURL + `"`
	}
	if ae.Code != "" {
		challenge += `, error="` + ae.Code + `"`
		if ae.Description != "" {
			challenge += `, error_description="` + strings.ReplaceAll(ae.Description, `"`, `'`) + `"`
		}
	}
	if ae.Status == http.StatusUnauthorized || ae.Code != "" {
		w.Header().Set("WWW-Authenticate", challenge)
	}
	status := ae.Status
	if status == 0 {
		status = http.StatusUnauthorized
	}
	httpError(w, status, ae.Description)
}

// authorize returns the request's claims; nil claims mean no token.
func (h *Hub) authorize(r *http.Request, action Action) (*Claims, error) {
	if h.cfg.authorizer == nil {
		return nil, nil
	}
	return h.cfg.authorizer.Authorize(r, action)
}

// parseSelectors reads the topic selectors of a subscribe request, in both
// Mercure revisions' forms.
func (h *Hub) parseSelectors(q url.Values) ([]topic.Selector, error) {
	var sels []topic.Selector
	seen := make(map[topic.Key]bool)
	addSel := func(s topic.Selector) {
		if k := s.Key(); !seen[k] {
			seen[k] = true
			sels = append(sels, s)
		}
	}
	n := 0
	for name, values := range q {
		var kind topic.Kind
		switch {
		case name == "topic":
			kind = 0 // draft-07: decided by ParseDraft07
		case name == "match" || name == "match_exact":
			kind = topic.Exact
		case name == "match_urlpattern":
			kind = topic.URLPattern
		case strings.HasPrefix(name, "match"):
			return nil, fmt.Errorf("unsupported selector parameter %q (use match, match_exact or match_urlpattern)", name)
		default:
			continue
		}
		for _, v := range values {
			n++
			if n > h.cfg.maxSelectors {
				return nil, fmt.Errorf("too many topic selectors (at most %d)", h.cfg.maxSelectors)
			}
			var s topic.Selector
			var err error
			if name == "topic" {
				s, err = topic.ParseDraft07(v)
			} else {
				s, err = topic.Parse(kind, v)
			}
			if err != nil {
				return nil, fmt.Errorf("%s=%q: %w", name, v, err)
			}
			addSel(s)
		}
	}
	if len(sels) == 0 {
		return nil, errors.New("missing topic selector: add at least one topic= or match= query parameter")
	}
	return sels, nil
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
	sels, err := h.parseSelectors(r.URL.Query())
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	claims, err := h.authorize(r, ActionSubscribe)
	if err != nil {
		h.writeAuthError(w, err)
		return
	}
	if claims == nil && !h.cfg.anonymous {
		h.writeAuthError(w, &AuthError{Status: http.StatusUnauthorized, Description: "a token is required to subscribe"})
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
	if !sub.deadline.IsZero() && !sub.deadline.After(time.Now()) {
		h.writeAuthError(w, &AuthError{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "the token has expired"})
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

func (h *Hub) servePublish(w http.ResponseWriter, r *http.Request) {
	if h.closed.Load() {
		w.Header().Set("Retry-After", "1")
		httpError(w, http.StatusServiceUnavailable, "the hub is shutting down")
		return
	}
	claims, err := h.authorize(r, ActionPublish)
	if err != nil {
		h.writeAuthError(w, err)
		return
	}
	if claims == nil && !h.cfg.publishNoToken {
		h.writeAuthError(w, &AuthError{Status: http.StatusUnauthorized, Description: "a token is required to publish"})
		return
	}
	if claims != nil && claims.FromCookie && !h.originAllowed(r) {
		httpError(w, http.StatusForbidden, "a publish authorized by a cookie must come from an allowed Origin")
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
		Topics:  f["topic"],
		Data:    f.Get("data"),
		ID:      f.Get("id"),
		Type:    f.Get("type"),
		Retry:   f.Get("retry"),
		Private: f.Has("private") && f.Get("private") != "false" && f.Get("private") != "0",
		Final:   f.Has("final") && f.Get("final") != "false" && f.Get("final") != "0",
	}
	if f.Has("id") && u.ID == "" {
		httpError(w, http.StatusBadRequest, "invalid update id: empty")
		return
	}
	if err := u.Validate(); err != nil {
		httpError(w, http.StatusBadRequest, strings.TrimPrefix(err.Error(), "herald: "))
		return
	}
	for _, t := range u.Topics {
		if isHubURL(t, r) {
			httpError(w, http.StatusBadRequest, fmt.Sprintf("invalid topic %q: it is inside the hub's own URL space", t))
			return
		}
	}
	if claims != nil && !allowsAll(h.cache, claims.Publish, u.Topics) {
		h.writeAuthError(w, &AuthError{Status: http.StatusForbidden, Code: "insufficient_scope", Description: "the token does not allow publishing to every topic of this update"})
		return
	}
	if err := h.Publish(r.Context(), u); err != nil {
		switch {
		case errors.Is(err, ErrClosed):
			w.Header().Set("Retry-After", "1")
			httpError(w, http.StatusServiceUnavailable, "the hub is shutting down")
		case errors.Is(err, context.Canceled):
			httpError(w, http.StatusServiceUnavailable, "publish canceled")
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

// isHubURL reports whether topic t names a URL inside the hub's own path on
// this host (draft-08 forbids publishing there: subscription events live
// there).
func isHubURL(t string, r *http.Request) bool {
	if strings.HasPrefix(t, "/") {
		return strings.HasPrefix(t, r.URL.Path)
	}
	u, err := url.Parse(t)
	if err != nil || u.Host == "" {
		return false
	}
	return strings.EqualFold(u.Host, r.Host) && strings.HasPrefix(u.Path, r.URL.Path)
}
