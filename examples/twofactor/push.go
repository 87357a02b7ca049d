package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/auth"
)

// A pusher publishes the challenges' updates and serves the subscription
// endpoint, /.well-known/mercure, on the app's own origin (so that the
// browser sends the HttpOnly token cookie along). It is either a Herald
// hub embedded in the app or a standalone herald cluster behind a proxy.
type pusher interface {
	Publish(ctx context.Context, u *herald.Update) error
	http.Handler
	Close(ctx context.Context) error
}

// embedded is a Herald hub running inside the app.
type embedded struct {
	*herald.Hub
	transport herald.Transport // closed after the hub; nil when the hub owns it
	once      sync.Once
	closeErr  error
}

func (e *embedded) Publish(ctx context.Context, u *herald.Update) error {
	return e.Hub.Publish(ctx, u)
}

// Close closes the hub, then the transport it was given; idempotent.
func (e *embedded) Close(ctx context.Context) error {
	e.once.Do(func() {
		e.closeErr = e.Hub.Close(ctx)
		if e.transport != nil {
			if err := e.transport.Close(); e.closeErr == nil {
				e.closeErr = err
			}
		}
	})
	return e.closeErr
}

// newEmbedded starts a hub on transport (nil: in memory) whose subscribers
// must present a token signed with key, scoped to what they ask for.
func newEmbedded(key []byte, transport herald.Transport, opts ...herald.Option) (*embedded, error) {
	v, err := auth.New(auth.Config{
		// Subscribers only: the app publishes in Go, so no token may publish
		// over HTTP at all.
		SubscriberKeys: []auth.Key{auth.HMACKey(key)},
	})
	if err != nil {
		return nil, err
	}
	base := []herald.Option{herald.WithAuthorizer(scopedAuthorizer{v})}
	if transport != nil {
		base = append(base, herald.WithTransport(transport))
	}
	return &embedded{Hub: herald.New(append(base, opts...)...), transport: transport}, nil
}

// scopedAuthorizer refuses, with 403, a subscription to any topic its token
// does not allow. Herald on its own lets such a subscriber in and simply
// never sends it a private update; for a login challenge an outright
// refusal is clearer, and it is what the example's tests check.
type scopedAuthorizer struct{ v *auth.Verifier }

func (a scopedAuthorizer) Authorize(r *http.Request, action herald.Action) (*herald.Claims, error) {
	claims, err := a.v.Authorize(r, action)
	if err != nil || claims == nil || action != herald.ActionSubscribe {
		return claims, err
	}
	if err := checkScope(r, claims); err != nil {
		return nil, err
	}
	return claims, nil
}

// checkScope allows a subscription only to exact topics that the token's
// subscribe claim allows.
func checkScope(r *http.Request, claims *herald.Claims) error {
	q := r.URL.Query()
	for name, values := range q {
		if name != "topic" && !strings.HasPrefix(name, "match") {
			continue
		}
		for _, t := range values {
			if (name != "topic" && name != "match" && name != "match_exact") || !allowed(claims, t) {
				return &herald.AuthError{Status: http.StatusForbidden, Code: "insufficient_scope",
					Description: "the token does not allow subscribing to " + t}
			}
		}
	}
	return nil
}

func allowed(claims *herald.Claims, topic string) bool {
	for _, s := range claims.Subscribe {
		if s.Match(topic) {
			return true
		}
	}
	return false
}

// remote publishes to a standalone Herald hub (or cluster) over HTTP and
// proxies the browser's subscriptions to it.
type remote struct {
	hub    *url.URL
	key    []byte
	client *http.Client
	proxy  *httputil.ReverseProxy
	check  *auth.Verifier
}

func newRemote(hubURL string, key []byte) (*remote, error) {
	u, err := url.Parse(hubURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--hub %q: want an http(s) URL such as http://localhost:3000/.well-known/mercure", hubURL)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/.well-known/mercure"
	}
	v, err := auth.New(auth.Config{SubscriberKeys: []auth.Key{auth.HMACKey(key)}})
	if err != nil {
		return nil, err
	}
	r := &remote{hub: u, key: key, check: v, client: &http.Client{Timeout: 10 * time.Second}}
	r.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host, pr.Out.URL.Path = u.Scheme, u.Host, u.Path
			pr.Out.Host = u.Host
			pr.SetXForwarded()
		},
		FlushInterval: -1, // a stream: pass every event on at once
	}
	return r, nil
}

// ServeHTTP proxies subscriptions to the hub after the same scope check
// the embedded hub makes; the hub checks the token again.
func (r *remote) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method == http.MethodGet {
		claims, err := r.check.Authorize(req, herald.ActionSubscribe)
		if err == nil && claims != nil {
			err = checkScope(req, claims)
		}
		var ae *herald.AuthError
		if errors.As(err, &ae) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(ae.Status)
			io.WriteString(w, ae.Description+"\n")
			return
		}
	}
	r.proxy.ServeHTTP(w, req)
}

// Publish posts u to the hub with a token minted for this one update: it
// may publish to u's topics only, for one minute.
func (r *remote) Publish(ctx context.Context, u *herald.Update) error {
	tok, err := auth.SignHMAC(r.key, auth.TokenSpec{Publish: u.Topics, TTL: time.Minute})
	if err != nil {
		return err
	}
	form := url.Values{"topic": u.Topics, "data": {u.Data}}
	for k, v := range map[string]string{"id": u.ID, "type": u.Type, "retry": u.Retry} {
		if v != "" {
			form.Set(k, v)
		}
	}
	if u.Private {
		form.Set("private", "on")
	}
	if u.Final {
		form.Set("final", "on")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.hub.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("publish to %s: %w", r.hub, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("publish to %s: %s: %s", r.hub, resp.Status, strings.TrimSpace(string(body)))
	}
	u.ID = strings.TrimSpace(string(body))
	return nil
}

func (r *remote) Close(context.Context) error {
	r.client.CloseIdleConnections()
	return nil
}
