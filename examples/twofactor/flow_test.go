package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/auth"
	"github.com/heraldpush/herald/internal/redistest"
	heraldredis "github.com/heraldpush/herald/redis"
)

// The HTTP-level tests drive the flow with plain clients: fast, and every
// status is checked. The browser tests (browser_test.go) prove the same in
// Chromium.

func TestDemoHashes(t *testing.T) {
	for _, u := range DemoUsers {
		if !checkPassword(demoHashes, u.Name, u.Password) {
			t.Errorf("the hash of %s does not match the printed password", u.Name)
		}
		if checkPassword(demoHashes, u.Name, u.Password+"x") {
			t.Errorf("%s: a wrong password matched", u.Name)
		}
	}
}

func TestPasswordStep(t *testing.T) {
	s := startSite(t, Config{})
	c := newClient(t, s.url)
	for _, creds := range [][2]string{{"alice", "wrong"}, {"mallory", "wonderland-2fa"}, {"", ""}} {
		st, body := c.do(http.MethodPost, "/login", url.Values{"username": {creds[0]}, "password": {creds[1]}})
		if st != http.StatusUnauthorized || !strings.Contains(body, "Wrong username or password") {
			t.Fatalf("login %q: %d", creds, st)
		}
	}
	if c.cookie(auth.DefaultCookieName) != "" || c.cookie(flowCookie) != "" {
		t.Fatal("a failed login set cookies")
	}
	// No flow, no waiting page.
	if st, _ := c.do(http.MethodGet, "/login/wait", nil); st != http.StatusSeeOther {
		t.Fatalf("wait page without a login: %d", st)
	}
}

func TestApprovalOverHTTP(t *testing.T) {
	s := startSite(t, Config{})
	d := loginDesktop(t, s.url, "alice", "wonderland-2fa")

	// The cookies: the token is HttpOnly, SameSite=Strict, limited to the
	// hub's path, and allows subscribing to this challenge only.
	st, e := d.subscribe(query(d.topic, d.lastID), nil)
	if st != http.StatusOK {
		t.Fatalf("subscribe with the cookie: %d", st)
	}

	// Finishing before the phone answered is refused.
	if st, body := d.do(http.MethodPost, "/login/finish", url.Values{"csrf": {d.csrf}}); st != http.StatusConflict || !strings.Contains(body, "has not approved") {
		t.Fatalf("finish before approval: %d %s", st, body)
	}

	phone := loginPhone(t, s.url, "alice", "wonderland-2fa")
	if st, body := phone.decide(d.approvePath, "approve"); st != http.StatusOK || !strings.Contains(body, "Approved") {
		t.Fatalf("approve: %d %s", st, body)
	}
	ev := e.next(t)
	if ev.Type != "2fa-complete" || ev.Data != `{"state":"approved"}` {
		t.Fatalf("event %+v", ev)
	}
	e.ended(t) // the final update ended the stream
	// EventSource reconnects with the last id: 204, and it stops.
	if st, _ := d.subscribe(query(d.topic, d.lastID), http.Header{"Last-Event-Id": {ev.ID}}); st != http.StatusNoContent {
		t.Fatalf("reconnect after the final update: %d, want 204", st)
	}

	// A second approval is refused, and so is a denial now.
	for _, decision := range []string{"approve", "deny"} {
		if st, body := phone.decide(d.approvePath, decision); st != http.StatusConflict || !strings.Contains(body, "Already approved") {
			t.Fatalf("second %s: %d %s", decision, st, body)
		}
	}

	// The wrong CSRF token does not finish; the right one does, once.
	flow := d.cookie(flowCookie)
	if st, _ := d.do(http.MethodPost, "/login/finish", url.Values{"csrf": {"nope"}}); st != http.StatusForbidden {
		t.Fatalf("finish with a wrong CSRF token: %d", st)
	}
	st, body := d.do(http.MethodPost, "/login/finish", url.Values{"csrf": {d.csrf}})
	var ok struct{ User, Next string }
	if st != http.StatusOK || json.Unmarshal([]byte(body), &ok) != nil || ok.User != "alice" {
		t.Fatalf("finish: %d %s", st, body)
	}
	if d.cookie(flowCookie) != "" {
		t.Fatal("finishing left the flow cookie")
	}
	if st, body := d.do(http.MethodGet, "/account", nil); st != http.StatusOK || !strings.Contains(body, "signed in as <strong>alice</strong>") {
		t.Fatalf("account: %d %s", st, body)
	}

	// Replaying the used challenge (say, a stolen flow cookie) is refused.
	thief := newClient(t, s.url)
	req, _ := http.NewRequest(http.MethodPost, s.url+"/login/finish", strings.NewReader(url.Values{"csrf": {d.csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: flowCookie, Value: flow})
	resp, err := thief.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("reusing a used challenge: %d, want 409", resp.StatusCode)
	}
}

func TestDenialOverHTTP(t *testing.T) {
	s := startSite(t, Config{})
	d := loginDesktop(t, s.url, "alice", "wonderland-2fa")
	_, e := d.subscribe(query(d.topic, d.lastID), nil)
	phone := loginPhone(t, s.url, "alice", "wonderland-2fa")
	if st, body := phone.decide(d.approvePath, "deny"); st != http.StatusOK || !strings.Contains(body, "Denied") {
		t.Fatalf("deny: %d %s", st, body)
	}
	if ev := e.next(t); ev.Type != "2fa-denied" {
		t.Fatalf("event %+v", ev)
	}
	e.ended(t)
	if st, body := d.do(http.MethodPost, "/login/finish", url.Values{"csrf": {d.csrf}}); st != http.StatusConflict || !strings.Contains(body, "denied") {
		t.Fatalf("finish after denial: %d %s", st, body)
	}
	if st, _ := phone.decide(d.approvePath, "approve"); st != http.StatusConflict {
		t.Fatalf("approve after denial: %d", st)
	}
}

func TestExpiryOverHTTP(t *testing.T) {
	s := startSite(t, Config{ChallengeTTL: 1500 * time.Millisecond})
	d := loginDesktop(t, s.url, "alice", "wonderland-2fa")
	phone := loginPhone(t, s.url, "alice", "wonderland-2fa")
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := d.do(http.MethodGet, "/login/status", nil)
		if strings.Contains(body, `"expired"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never expired: %s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st, body := phone.decide(d.approvePath, "approve"); st != http.StatusGone || !strings.Contains(body, "expired") {
		t.Fatalf("approve after expiry: %d %s", st, body)
	}
	if st, _ := d.do(http.MethodPost, "/login/finish", url.Values{"csrf": {d.csrf}}); st != http.StatusGone {
		t.Fatalf("finish after expiry: %d", st)
	}
	// The token expired with the challenge: the hub refuses it.
	if st, _ := d.subscribe(query(d.topic, d.lastID), nil); st != http.StatusUnauthorized {
		t.Fatalf("subscribe after expiry: %d, want 401", st)
	}
}

func TestTokenScope(t *testing.T) {
	s := startSite(t, Config{})
	alice := loginDesktop(t, s.url, "alice", "wonderland-2fa")
	bob := loginDesktop(t, s.url, "bob", "builder-2fa")

	// Bob's token cannot subscribe to Alice's challenge (nor to a pattern
	// that would include it), and no token at all is a 401.
	for _, q := range []string{
		query(alice.topic, ""),
		query(bob.topic, "") + "&topic=" + url.QueryEscape(alice.topic),
		"topic=" + url.QueryEscape(TopicPrefix+"{id}"),
		"match_urlpattern=" + url.QueryEscape("urn\\:herald\\:*"),
		"topic=*",
	} {
		if st, _ := bob.subscribe(q, nil); st != http.StatusForbidden {
			t.Fatalf("bob subscribing with %s: %d, want 403", q, st)
		}
	}
	if st, _ := newClient(t, s.url).subscribe(query(alice.topic, ""), nil); st != http.StatusUnauthorized {
		t.Fatalf("no token: %d, want 401", st)
	}
	// Another user's phone cannot see or answer Alice's challenge.
	bobPhone := loginPhone(t, s.url, "bob", "builder-2fa")
	if st, _ := bobPhone.decide(alice.approvePath, "approve"); st != http.StatusNotFound {
		t.Fatalf("bob's phone on alice's challenge: %d, want 404", st)
	}

	// The subscriber token cannot publish: not with the cookie, not as a
	// bearer token.
	_, e := alice.subscribe(query(alice.topic, alice.lastID), nil)
	forged := url.Values{"topic": {alice.topic}, "data": {"forged"}, "type": {"2fa-complete"}, "private": {"on"}}
	if st, _ := alice.do(http.MethodPost, hubPath, forged); st != http.StatusUnauthorized && st != http.StatusForbidden {
		t.Fatalf("publishing with the subscriber cookie: %d", st)
	}
	req, _ := http.NewRequest(http.MethodPost, s.url+hubPath, strings.NewReader(forged.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+alice.cookie(auth.DefaultCookieName))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
		t.Fatalf("publishing with the subscriber token: %d", resp.StatusCode)
	}
	select {
	case ev := <-e.ch:
		t.Fatalf("a forged update arrived: %+v", ev)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestCrossSiteRequestsRefused(t *testing.T) {
	s := startSite(t, Config{})
	d := loginDesktop(t, s.url, "alice", "wonderland-2fa")
	phone := loginPhone(t, s.url, "alice", "wonderland-2fa")
	_, page := phone.do(http.MethodGet, d.approvePath, nil)
	csrf := find(t, csrfRE, page)

	// A page on another site posting the approval form: refused on its
	// Origin, whatever the form holds.
	for _, h := range []map[string]string{
		{"Origin": "https://evil.example"},
		{"Sec-Fetch-Site": "cross-site"},
	} {
		req, _ := http.NewRequest(http.MethodPost, s.url+d.approvePath, strings.NewReader(url.Values{"csrf": {csrf}, "decision": {"approve"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := phone.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("cross-site approval with %v: %d, want 403", h, resp.StatusCode)
		}
	}
	// Without the session's CSRF token: refused too.
	if st, _ := phone.do(http.MethodPost, d.approvePath, url.Values{"decision": {"approve"}}); st != http.StatusForbidden {
		t.Fatalf("approval without the CSRF token: %d", st)
	}
	if _, body := d.do(http.MethodGet, "/login/status", nil); !strings.Contains(body, `"pending"`) {
		t.Fatalf("the refused requests changed the challenge: %s", body)
	}
	// The phone login redirects only to approval pages.
	for next, want := range map[string]string{
		"https://evil.example/": "", "//evil.example": "", "/approve/../account": "",
		"/approve/x/../../y": "", "/account": "", "/approve/%2e%2e": "", "/approve/abc": "/approve/abc",
	} {
		if got := safeNext(next); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", next, got, want)
		}
	}
}

// TestClusterOverHTTP runs two instances of the app on one Redis: the
// browser on one, the phone on the other.
func TestClusterOverHTTP(t *testing.T) {
	srv := redistest.Start(t)
	cfg := Config{RedisURL: srv.URL(), RedisPrefix: "tf-http:"}
	a, b := startSite(t, cfg), startSite(t, cfg)
	d := loginDesktop(t, a.url, "alice", "wonderland-2fa")
	_, e := d.subscribe(query(d.topic, d.lastID), nil)
	phone := loginPhone(t, b.url, "alice", "wonderland-2fa")
	if st, body := phone.decide(d.approvePath, "approve"); st != http.StatusOK {
		t.Fatalf("approve on the other node: %d %s", st, body)
	}
	ev := e.next(t)
	if ev.Type != "2fa-complete" {
		t.Fatalf("event %+v", ev)
	}
	e.ended(t)
	if st, _ := d.subscribe(query(d.topic, d.lastID), http.Header{"Last-Event-Id": {ev.ID}}); st != http.StatusNoContent {
		t.Fatalf("reconnect: %d, want 204", st)
	}
	// A second approval on the first node is refused: the state is shared.
	phoneA := loginPhone(t, a.url, "alice", "wonderland-2fa")
	if st, _ := phoneA.decide(d.approvePath, "approve"); st != http.StatusConflict {
		t.Fatalf("second approval on the other node: %d, want 409", st)
	}
	if st, _ := d.do(http.MethodPost, "/login/finish", url.Values{"csrf": {d.csrf}}); st != http.StatusOK {
		t.Fatalf("finish: %d", st)
	}
}

// TestStandaloneHub runs the app with --hub against two Herald hubs on
// Redis (what "herald serve --transport redis://…" runs), with two app
// instances sharing the store: subscriptions are proxied to hub A,
// the phone's decision is published on hub B.
func TestStandaloneHub(t *testing.T) {
	srv := redistest.Start(t)
	hubA, hubB := startHub(t, srv.URL()), startHub(t, srv.URL())
	a := startSite(t, Config{HubURL: hubA, RedisURL: srv.URL(), RedisPrefix: "tf-remote:"})
	b := startSite(t, Config{HubURL: hubB + hubPath, RedisURL: srv.URL(), RedisPrefix: "tf-remote:"})

	d := loginDesktop(t, a.url, "alice", "wonderland-2fa")
	st, e := d.subscribe(query(d.topic, d.lastID), nil)
	if st != http.StatusOK {
		t.Fatalf("subscribe through the proxy: %d", st)
	}
	bob := loginDesktop(t, a.url, "bob", "builder-2fa")
	if st, _ := bob.subscribe(query(d.topic, ""), nil); st != http.StatusForbidden {
		t.Fatalf("bob through the proxy: %d, want 403", st)
	}
	phone := loginPhone(t, b.url, "alice", "wonderland-2fa")
	if st, body := phone.decide(d.approvePath, "approve"); st != http.StatusOK {
		t.Fatalf("approve: %d %s", st, body)
	}
	ev := e.next(t)
	if ev.Type != "2fa-complete" {
		t.Fatalf("event %+v", ev)
	}
	e.ended(t)
	if st, _ := d.subscribe(query(d.topic, d.lastID), http.Header{"Last-Event-Id": {ev.ID}}); st != http.StatusNoContent {
		t.Fatalf("reconnect through the proxy: %d, want 204", st)
	}
	if st, _ := d.do(http.MethodPost, "/login/finish", url.Values{"csrf": {d.csrf}}); st != http.StatusOK {
		t.Fatalf("finish: %d", st)
	}
}

// startHub serves a standalone Herald hub on Redis, verifying tokens with
// testKey, and returns its base URL.
func startHub(t *testing.T, redisURL string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr, err := heraldredis.Open(ctx, redisURL, heraldredis.Config{Prefix: "tf-remote-hub:"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.New(auth.Config{PublisherKeys: []auth.Key{auth.HMACKey(testKey)}, SubscriberKeys: []auth.Key{auth.HMACKey(testKey)}})
	if err != nil {
		t.Fatal(err)
	}
	hub := herald.New(herald.WithTransport(tr), herald.WithAuthorizer(v))
	mux := http.NewServeMux()
	mux.Handle(hubPath, hub)
	srv := httpServer(t, mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		hub.Close(ctx)
		tr.Close()
	})
	return srv
}
