package herald_test

// Mercure protocol tests, one or more per rule of spec/mercure.md, in both
// revisions: draft-07 (topic=, the "mercure" claim) and draft-08
// (match*, RFC 9068 access tokens with authorization_details). Each runs a
// real hub behind a real HTTP server.

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/auth"
	"github.com/heraldpush/herald/sse"
)

// mIssuer is the issuer whose keys the Mercure test hubs trust.
const mIssuer = "https://issuer.test"

// newMercureHub is a hub whose keys are bound to mIssuer (so that draft-08
// access tokens from it are accepted, and draft-07 tokens without "iss"
// too), with the subscriptions API and the metadata mounted as herald
// serve mounts them. Anonymous subscribers are allowed unless opts say
// otherwise.
func newMercureHub(t testing.TB, acfg auth.Config, opts ...herald.Option) *testHub {
	t.Helper()
	k := auth.HMACKey([]byte(testKey))
	k.Issuer = mIssuer
	if acfg.PublisherKeys == nil && acfg.PublisherJWKS == nil {
		acfg.PublisherKeys = []auth.Key{k}
	}
	if acfg.SubscriberKeys == nil && acfg.SubscriberJWKS == nil {
		acfg.SubscriberKeys = []auth.Key{k}
	}
	v, err := auth.New(acfg)
	if err != nil {
		t.Fatal(err)
	}
	hub := herald.New(append([]herald.Option{herald.WithAuthorizer(v), herald.WithAnonymous(true)}, opts...)...)
	mux := http.NewServeMux()
	mux.Handle("/.well-known/mercure", hub)
	mux.Handle("/.well-known/mercure/subscriptions", hub.SubscriptionsHandler())
	mux.Handle("/.well-known/mercure/subscriptions/", hub.SubscriptionsHandler())
	mux.Handle(auth.MetadataPath("/.well-known/mercure"), auth.Metadata{Cookie: true})
	return serveTestHub(t, hub, mux)
}

// tok8 mints a draft-08 access token for the hub.
func (th *testHub) tok8(t testing.TB, spec auth.TokenSpec) string {
	t.Helper()
	spec.Draft = 8
	if spec.Issuer == "" {
		spec.Issuer = mIssuer
	}
	if spec.Audience == "" {
		spec.Audience = th.url
	}
	if spec.TTL == 0 {
		spec.TTL = time.Hour
	}
	return mint(t, spec)
}

// get performs a GET with optional header pairs.
func get(t testing.TB, u string, hdr ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// post publishes form with header pairs and returns the response (body
// read into the returned string).
func post(t testing.TB, u string, form url.Values, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// firstOf waits for s's next event and returns its data.
func firstOf(t testing.TB, s *stream) string {
	t.Helper()
	return s.next(t).Data
}

// TestMercureSelectors: topic=, match=, match_exact=, match_urlpattern=,
// the wildcard, templates, relative URL patterns against the hub URL,
// alternate topics, and mixed revisions in one request.
func TestMercureSelectors(t *testing.T) {
	th := newMercureHub(t, auth.Config{})
	origin := th.srv.URL
	type tc struct {
		name, query string
		got         []string // data of the updates below it must get, in order
	}
	// Each update's data names it; every stream ends with "end".
	updates := []struct{ data, topic string }{
		{"exact", "https://example.com/a"},
		{"book", "https://example.com/books/42"},
		{"braces", "https://example.com/books/{id}"},
		{"relative", "/books/7"},
		{"absolute-on-hub", origin + "/books/8"},
		{"raw", "just-a-string"},
	}
	cases := []tc{
		{"topic exact", "topic=" + url.QueryEscape("https://example.com/a"), []string{"exact"}},
		{"topic template", "topic=" + url.QueryEscape("https://example.com/books/{id}"), []string{"book", "braces"}},
		{"topic raw string", "topic=just-a-string", []string{"raw"}},
		{"topic wildcard", "topic=*", []string{"exact", "book", "braces", "relative", "absolute-on-hub", "raw"}},
		{"match exact", "match=" + url.QueryEscape("https://example.com/a"), []string{"exact"}},
		{"match_exact", "match_exact=" + url.QueryEscape("https://example.com/a"), []string{"exact"}},
		{"match braces are literal", "match=" + url.QueryEscape("https://example.com/books/{id}"), []string{"braces"}},
		{"match wildcard", "match=*", []string{"exact", "book", "braces", "relative", "absolute-on-hub", "raw"}},
		{"match_urlpattern absolute", "match_urlpattern=" + url.QueryEscape("https://example.com/books/:id"), []string{"book", "braces"}},
		{"match_urlpattern relative, against the hub URL", "match_urlpattern=" + url.QueryEscape("/books/:id"), []string{"relative", "absolute-on-hub"}},
		{"several selectors", "match=just-a-string&match=" + url.QueryEscape("https://example.com/a"), []string{"exact", "raw"}},
		{"revisions mixed", "topic=just-a-string&match_urlpattern=" + url.QueryEscape("https://example.com/books/:id"), []string{"book", "braces", "raw"}},
		{"unrelated parameters ignored", "topic=just-a-string&foo=bar", []string{"raw"}},
	}
	streams := make([]*stream, len(cases))
	for i, c := range cases {
		streams[i] = th.subscribe(t, c.query+"&topic=end", nil)
	}
	for _, u := range updates {
		th.mustPublish(t, u.topic, u.data)
	}
	th.mustPublish(t, "end", "end")
	for i, c := range cases {
		var got []string
		for {
			d := firstOf(t, streams[i])
			if d == "end" {
				break
			}
			got = append(got, d)
		}
		if strings.Join(got, ",") != strings.Join(c.got, ",") {
			t.Errorf("%s: got %v, want %v", c.name, got, c.got)
		}
	}
	// Alternate topics (draft-07): an update reaches subscribers of any of
	// its topics, once.
	alt := th.subscribe(t, "topic=alt-2&topic=alt-1", nil)
	status, _ := th.publish(t, url.Values{"topic": {"alt-1", "alt-2"}, "data": {"alternates"}})
	if status != 200 {
		t.Fatalf("draft-07 alternate topics: %d", status)
	}
	th.mustPublish(t, "alt-1", "after")
	if a, b := firstOf(t, alt), firstOf(t, alt); a != "alternates" || b != "after" {
		t.Errorf("alternates: got %q then %q", a, b)
	}
}

// TestMercureSelectorErrors: the reserved match namespace, limits on
// count and length, and the text rules — each a 400.
func TestMercureSelectorErrors(t *testing.T) {
	th := newMercureHub(t, auth.Config{}, herald.WithMaxSelectors(5))
	for name, q := range map[string]string{
		"matchURLPattern (interim spelling)": "matchURLPattern=x",
		"MATCH (case)":                       "MATCH=x",
		"Match_exact":                        "Match_exact=x",
		"match_regexp":                       "match_regexp=x",
		"matches":                            "topic=x&matches=1",
		"empty match":                        "match=",
		"empty topic":                        "topic=",
		"bare match name":                    "match",
		"too many selectors":                 "topic=1&topic=2&topic=3&match=4&match=5&match=6",
		"too long":                           "match=" + strings.Repeat("a", 4097),
		"invalid UTF-8":                      "match=%FF",
		"C0 control":                         "match=a%01b",
		"DEL":                                "match=a%7Fb",
		"C1 control":                         "match=a%C2%80b",
		"format character (Cf)":              "match=a%E2%80%8Bb",
		"ill-formed URL pattern":             "match_urlpattern=" + url.QueryEscape("https://x/(foo"),
		"malformed query string":             "match=%zz",
		"no selector":                        "foo=bar",
		"no query":                           "",
	} {
		t.Run(name, func(t *testing.T) {
			resp := get(t, th.url+"?"+q, "Accept", "text/event-stream")
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("%q: %d, want 400", q, resp.StatusCode)
			}
		})
	}
}

// TestMercurePublishRules: the draft-08 publish rules (400, 403, 413, the
// exact 200) and what draft-07 publishers keep.
func TestMercurePublishRules(t *testing.T) {
	th := newMercureHub(t, auth.Config{}, herald.WithMaxPublishSize(8<<10))
	tok7 := th.pubToken
	tok8 := th.tok8(t, auth.TokenSpec{Publish: []string{"*"}})
	type form = url.Values
	for _, tc := range []struct {
		name   string
		tok    string
		form   form
		status int
	}{
		{"draft-07 ok", tok7, form{"topic": {"t"}, "data": {"x"}}, 200},
		{"draft-08 ok", tok8, form{"topic": {"t"}, "data": {"x"}}, 200},
		{"draft-07 alternate topics", tok7, form{"topic": {"t", "u"}}, 200},
		{"unknown fields ignored", tok8, form{"topic": {"t"}, "future": {"x"}}, 200},
		{"publisher-chosen id kept", tok8, form{"topic": {"t"}, "id": {"urn:example:1"}}, 200},
		{"retry digits", tok8, form{"topic": {"t"}, "retry": {"2500"}}, 200},
		{"next to the namespace", tok8, form{"topic": {"/.well-known/mercurex"}}, 200},
		{"another well-known path", tok8, form{"topic": {"https://example.com/.well-known/other"}}, 200},

		{"draft-08 two topics", tok8, form{"topic": {"t", "u"}}, 400},
		{"missing topic", tok8, form{"data": {"x"}}, 400},
		{"topic *", tok8, form{"topic": {"*"}}, 400},
		{"topic * (draft-07)", tok7, form{"topic": {"*"}}, 400},
		{"empty topic", tok8, form{"topic": {""}}, 400},
		{"topic control character", tok8, form{"topic": {"a\nb"}}, 400},
		{"topic C1 character", tok8, form{"topic": {"a\u0085b"}}, 400},
		{"topic format character", tok8, form{"topic": {"a\u200bb"}}, 400},
		{"topic invalid UTF-8", tok8, form{"topic": {"a\xffb"}}, 400},
		{"id starts with #", tok8, form{"topic": {"t"}, "id": {"#1"}}, 400},
		{"id earliest", tok8, form{"topic": {"t"}, "id": {"earliest"}}, 400},
		{"id LF", tok8, form{"topic": {"t"}, "id": {"1\nevent: x"}}, 400},
		{"id CR", tok8, form{"topic": {"t"}, "id": {"1\r"}}, 400},
		{"id NUL", tok8, form{"topic": {"t"}, "id": {"1\x00"}}, 400},
		{"id empty", tok8, form{"topic": {"t"}, "id": {""}}, 400},
		{"two ids", tok8, form{"topic": {"t"}, "id": {"a", "b"}}, 400},
		{"type CR", tok8, form{"topic": {"t"}, "type": {"a\rb"}}, 400},
		{"type reserved mercure", tok8, form{"topic": {"t"}, "type": {"mercure"}}, 400},
		{"retry not digits", tok8, form{"topic": {"t"}, "retry": {"1a"}}, 400},
		{"retry negative", tok8, form{"topic": {"t"}, "retry": {"-1"}}, 400},
		{"data invalid UTF-8", tok8, form{"topic": {"t"}, "data": {"\xff"}}, 400},

		{"hub path, relative", tok8, form{"topic": {"/.well-known/mercure"}}, 403},
		{"subscriptions, relative", tok8, form{"topic": {"/.well-known/mercure/subscriptions/x/y"}}, 403},
		{"subscriptions, any host", tok8, form{"topic": {"https://other.example/.well-known/mercure/subscriptions/x"}}, 403},
		{"percent-encoded", tok8, form{"topic": {"/.well-known/%6Dercure/subscriptions/x"}}, 403},
		{"dot segments", tok8, form{"topic": {"/a/../.well-known/mercure/x"}}, 403},
		{"encoded dot segments", tok8, form{"topic": {"/a/%2e%2E/.well-known/mercure/x"}}, 403},
		{"relative path resolving into it", tok8, form{"topic": {"mercure/subscriptions"}}, 403},
		{"draft-07 publishers too", tok7, form{"topic": {"/.well-known/mercure/subscriptions/x"}}, 403},

		{"body too large", tok8, form{"topic": {"t"}, "data": {strings.Repeat("x", 9<<10)}}, 413},
		{"topic too long", tok8, form{"topic": {strings.Repeat("t", 4097)}}, 413},
		{"id too long", tok8, form{"topic": {"t"}, "id": {strings.Repeat("i", 1025)}}, 413},
		{"type too long", tok8, form{"topic": {"t"}, "type": {strings.Repeat("y", 257)}}, 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := post(t, th.url, tc.form, "Authorization", "Bearer "+tc.tok)
			if resp.StatusCode != tc.status {
				t.Fatalf("%d %q, want %d", resp.StatusCode, body, tc.status)
			}
			if tc.status != 200 {
				return
			}
			// Exactly 200 text/plain; charset=utf-8, and the id as body.
			if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			if want := tc.form.Get("id"); want != "" && body != want {
				t.Errorf("body %q, want the publisher's id %q", body, want)
			}
			if tc.form.Get("id") == "" && !strings.HasPrefix(body, "urn:uuid:") {
				t.Errorf("generated id %q is not a URN UUID", body)
			}
		})
	}
	// Not form-encoded: 415.
	req, _ := http.NewRequest(http.MethodPost, th.url, strings.NewReader(`{"topic":"t"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok8)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("JSON body: %d, want 415", resp.StatusCode)
	}
}

// TestMercurePrivatePresence: the field's presence makes an update
// private, whatever its value.
func TestMercurePrivatePresence(t *testing.T) {
	th := newMercureHub(t, auth.Config{})
	anon := th.subscribe(t, "topic=p", nil)
	for _, v := range []string{"on", "", "false", "0"} {
		th.mustPublish(t, "p", "private="+v, "private", v)
	}
	th.mustPublish(t, "p", "public")
	if d := firstOf(t, anon); d != "public" {
		t.Fatalf("an anonymous subscriber got %q", d)
	}
}

// TestMercureAuthErrors: RFC 6750 answers with WWW-Authenticate and the
// RFC 9728 resource_metadata parameter.
func TestMercureAuthErrors(t *testing.T) {
	th := newMercureHub(t, auth.Config{}, herald.WithAnonymous(false))
	metadata := th.srv.URL + "/.well-known/oauth-protected-resource/.well-known/mercure"
	narrow8 := th.tok8(t, auth.TokenSpec{Publish: []string{"https://example.com/mine"}})
	narrow7 := mint(t, auth.TokenSpec{Publish: []string{"https://example.com/mine"}})
	expired := th.tok8(t, auth.TokenSpec{Subscribe: []string{"*"}, Now: time.Now().Add(-2 * time.Hour)})
	check := func(t *testing.T, resp *http.Response, status int, code string) {
		t.Helper()
		if resp.StatusCode != status {
			t.Fatalf("status %d, want %d", resp.StatusCode, status)
		}
		ch := resp.Header.Get("WWW-Authenticate")
		if !strings.HasPrefix(ch, "Bearer ") || !strings.Contains(ch, `resource_metadata="`+metadata+`"`) {
			t.Errorf("challenge %q lacks Bearer or resource_metadata", ch)
		}
		if code == "" && strings.Contains(ch, "error=") {
			t.Errorf("challenge %q has an error code without a token", ch)
		}
		if code != "" && !strings.Contains(ch, `error="`+code+`"`) {
			t.Errorf("challenge %q, want error=%q", ch, code)
		}
	}
	sub := func(q string, hdr ...string) *http.Response {
		resp := get(t, th.url+"?"+q, append([]string{"Accept", "text/event-stream"}, hdr...)...)
		resp.Body.Close()
		return resp
	}
	t.Run("subscribe without a token", func(t *testing.T) { check(t, sub("match=x"), 401, "") })
	t.Run("publish without a token", func(t *testing.T) {
		resp, _ := post(t, th.url, url.Values{"topic": {"t"}})
		check(t, resp, 401, "")
	})
	t.Run("invalid token", func(t *testing.T) { check(t, sub("match=x", "Authorization", "Bearer nope"), 401, "invalid_token") })
	t.Run("expired token", func(t *testing.T) {
		resp := sub("match=x", "Authorization", "Bearer "+expired)
		check(t, resp, 401, "invalid_token")
		if !strings.Contains(resp.Header.Get("WWW-Authenticate"), "expired") {
			t.Errorf("challenge %q does not say the token expired", resp.Header.Get("WWW-Authenticate"))
		}
	})
	for name, tok := range map[string]string{"draft-08": narrow8, "draft-07": narrow7} {
		t.Run("publish outside the token's scope, "+name, func(t *testing.T) {
			resp, _ := post(t, th.url, url.Values{"topic": {"https://example.com/other"}}, "Authorization", "Bearer "+tok)
			check(t, resp, 403, "insufficient_scope")
			resp, _ = post(t, th.url, url.Values{"topic": {"https://example.com/mine"}}, "Authorization", "Bearer "+tok)
			if resp.StatusCode != 200 {
				t.Errorf("in scope: %d", resp.StatusCode)
			}
		})
	}
	t.Run("draft-07: every topic must be allowed", func(t *testing.T) {
		resp, _ := post(t, th.url, url.Values{"topic": {"https://example.com/mine", "https://example.com/other"}}, "Authorization", "Bearer "+narrow7)
		check(t, resp, 403, "insufficient_scope")
	})
	t.Run("access token in the query string", func(t *testing.T) {
		check(t, sub("match=x&access_token="+narrow8), 400, "invalid_request")
		check(t, sub("match=x&authorization="+narrow8), 400, "invalid_request")
	})
	t.Run("draft-07 token in the query string is accepted", func(t *testing.T) {
		s := th.subscribe(t, "topic=x&authorization="+th.subToken, nil)
		s.close()
	})
	t.Run("configured metadata URL", func(t *testing.T) {
		th2 := newMercureHub(t, auth.Config{}, herald.WithAnonymous(false), herald.WithResourceMetadataURL("https://meta.example/m"))
		resp := get(t, th2.url+"?match=x")
		resp.Body.Close()
		if ch := resp.Header.Get("WWW-Authenticate"); !strings.Contains(ch, `resource_metadata="https://meta.example/m"`) {
			t.Errorf("challenge %q", ch)
		}
	})
	t.Run("metadata document", func(t *testing.T) {
		resp := get(t, metadata)
		defer resp.Body.Close()
		var doc map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		if doc["resource"] != th.url {
			t.Errorf("resource %v, want %s", doc["resource"], th.url)
		}
	})
}

// TestMercurePrivateUpdates: a private update reaches only subscribers
// whose token allows one of its topics — live and in replay, for tokens of
// both revisions — and a public one reaches everyone.
func TestMercurePrivateUpdates(t *testing.T) {
	eachStreamWriter(t, func(t *testing.T, opts ...herald.Option) {
		th := newMercureHub(t, auth.Config{}, opts...)
		const topic = "https://example.com/books/1"
		const alias = "https://example.com/users/alice/books/1"
		who := []struct {
			name string
			tok  string
			sel  string
			gets bool
		}{
			{"anonymous", "", "topic=" + url.QueryEscape(topic), false},
			{"draft-07 allowed", mint(t, auth.TokenSpec{Subscribe: []string{topic}}), "topic=" + url.QueryEscape(topic), true},
			{"draft-07 template", mint(t, auth.TokenSpec{Subscribe: []string{"https://example.com/books/{id}"}}), "topic=" + url.QueryEscape(topic), true},
			{"draft-07 alternate topic allowed", mint(t, auth.TokenSpec{Subscribe: []string{"https://example.com/users/alice/{+rest}"}}), "topic=" + url.QueryEscape(topic), true},
			{"draft-07 other", mint(t, auth.TokenSpec{Subscribe: []string{"https://example.com/books/2"}}), "topic=" + url.QueryEscape(topic), false},
			{"draft-07 no claim", mint(t, auth.TokenSpec{}), "topic=" + url.QueryEscape(topic), false},
			{"draft-08 exact", th.tok8(t, auth.TokenSpec{Subscribe: []string{topic}}), "match=" + url.QueryEscape(topic), true},
			{"draft-08 URL pattern", th.tok8(t, auth.TokenSpec{Subscribe: []string{"https://example.com/books/:id"}}), "match_urlpattern=" + url.QueryEscape("https://example.com/books/:id"), true},
			{"draft-08 wildcard", th.tok8(t, auth.TokenSpec{Subscribe: []string{"*"}}), "match=" + url.QueryEscape(topic), true},
			{"draft-08 other", th.tok8(t, auth.TokenSpec{Subscribe: []string{"https://example.com/books/2"}}), "match=" + url.QueryEscape(topic), false},
			{"draft-08 publish only", th.tok8(t, auth.TokenSpec{Publish: []string{"*"}}), "match=" + url.QueryEscape(topic), false},
			// Routing never widens what a token may read.
			{"draft-08 routing wider than grant", th.tok8(t, auth.TokenSpec{Subscribe: []string{"https://example.com/books/2"}}), "match_urlpattern=" + url.QueryEscape("https://example.com/books/:id"), false},
		}
		open := func(extra string, hdr http.Header) []*stream {
			out := make([]*stream, len(who))
			for i, w := range who {
				h := http.Header{}
				for k, v := range hdr {
					h[k] = v
				}
				if w.tok != "" {
					h.Set("Authorization", "Bearer "+w.tok)
				}
				out[i] = th.subscribe(t, w.sel+extra+"&topic=marker&match=marker", h)
			}
			return out
		}
		live := open("", nil)
		// draft-07 publisher: canonical topic plus an alternate that some
		// tokens are scoped to.
		status, secretID := th.publish(t, url.Values{"topic": {topic, alias}, "data": {"secret"}, "private": {"on"}})
		if status != 200 {
			t.Fatalf("publish: %d", status)
		}
		th.mustPublish(t, "marker", "marker")
		check := func(phase string, streams []*stream) {
			for i, w := range who {
				got := firstOf(t, streams[i])
				if want := map[bool]string{true: "secret", false: "marker"}[w.gets]; got != want {
					t.Errorf("%s, %s: first event %q, want %q", phase, w.name, got, want)
				}
				streams[i].close()
			}
		}
		check("live", live)
		// Replay: the same rule applies to history.
		check("replay", open("&lastEventID=earliest", nil))
		check("replay by header", open("", http.Header{"Last-Event-ID": {"earliest"}}))
		_ = secretID
	})
}

// TestMercureTokenExpiry: a subscriber's stream ends when its draft-08
// access token expires (draft-07's is in hub_test.go).
func TestMercureTokenExpiry(t *testing.T) {
	eachStreamWriter(t, func(t *testing.T, opts ...herald.Option) {
		th := newMercureHub(t, auth.Config{}, opts...)
		tok := th.tok8(t, auth.TokenSpec{Subscribe: []string{"*"}, TTL: 2 * time.Second})
		s := th.subscribe(t, "match=x", bearer(tok))
		s.waitEnd(t, 15*time.Second)
	})
}

// TestMercureResume: both revisions' query parameters, the header's
// precedence, and both response headers.
func TestMercureResume(t *testing.T) {
	th := newMercureHub(t, auth.Config{})
	a := th.mustPublish(t, "r", "a")
	b := th.mustPublish(t, "r", "b")
	c := th.mustPublish(t, "r", "c")
	for _, tc := range []struct {
		name, query string
		header      http.Header
		from, first string
	}{
		{"draft-07 lastEventID", "topic=r&lastEventID=" + url.QueryEscape(a), nil, a, "b"},
		{"draft-08 last_event_id", "match=r&last_event_id=" + url.QueryEscape(b), nil, b, "c"},
		{"header wins", "match=r&last_event_id=" + url.QueryEscape(a), http.Header{"Last-Event-ID": {b}}, b, "c"},
		{"earliest", "match=r&last_event_id=earliest", nil, "earliest", "a"},
		{"unknown id", "topic=r&lastEventID=nope", nil, "earliest", "a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := th.subscribe(t, tc.query, tc.header)
			defer s.close()
			for _, h := range []string{"Last-Event-ID", "Mercure-Last-Event-ID"} {
				if got := s.resp.Header.Get(h); got != tc.from {
					t.Errorf("%s: %q, want %q", h, got, tc.from)
				}
			}
			if d := firstOf(t, s); d != tc.first {
				t.Errorf("first replayed %q, want %q", d, tc.first)
			}
		})
	}
	s := th.subscribe(t, "match=r", nil)
	defer s.close()
	if s.resp.Header.Get("Mercure-Last-Event-ID") != "" {
		t.Error("a response header without a cursor")
	}
	_ = c
}

// TestMercureCORS: credentialed CORS answers only listed origins, never *.
func TestMercureCORS(t *testing.T) {
	listed := newMercureHub(t, auth.Config{}, herald.WithCORSOrigins("https://app.example"))
	star := newMercureHub(t, auth.Config{}, herald.WithCORSOrigins("*"))
	cors := func(hubURL, method, origin string) http.Header {
		req, _ := http.NewRequest(method, hubURL+"?topic=x", nil)
		req.Header.Set("Origin", origin)
		if method == http.MethodOptions {
			req.Header.Set("Access-Control-Request-Method", "GET")
			req.Header.Set("Access-Control-Request-Headers", "authorization, last-event-id")
		}
		ctx, cancel := contextWithTimeout(2 * time.Second)
		defer cancel()
		resp, err := http.DefaultClient.Do(req.WithContext(ctx))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header
	}
	h := cors(listed.url, http.MethodGet, "https://app.example")
	if h.Get("Access-Control-Allow-Origin") != "https://app.example" || h.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("listed origin: %v", h)
	}
	if h := cors(listed.url, http.MethodGet, "https://evil.example"); h.Get("Access-Control-Allow-Origin") != "" || h.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("an unlisted origin was answered: %v", h)
	}
	h = cors(listed.url, http.MethodOptions, "https://app.example")
	if !strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") || !strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") {
		t.Errorf("preflight: %v", h)
	}
	if h := cors(listed.url, http.MethodOptions, "https://evil.example"); h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight of an unlisted origin: %v", h)
	}
	h = cors(star.url, http.MethodGet, "https://any.example")
	if h.Get("Access-Control-Allow-Origin") != "*" || h.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("* must come without credentials: %v", h)
	}
}

// TestMercureCookieAuth: browsers' cookies in both revisions, and the CSRF
// check on cookie-authorized publishing.
func TestMercureCookieAuth(t *testing.T) {
	th := newMercureHub(t, auth.Config{CookieName: "hubAuth"},
		herald.WithCORSOrigins("*", "https://cors.example"), herald.WithPublishOrigins("https://app.example"))
	const topic = "https://example.com/c"
	sub7 := mint(t, auth.TokenSpec{Subscribe: []string{topic}})
	sub8 := th.tok8(t, auth.TokenSpec{Subscribe: []string{topic}})
	s7 := th.subscribe(t, "topic="+url.QueryEscape(topic), http.Header{"Cookie": {"hubAuth=" + sub7}})
	s8 := th.subscribe(t, "match="+url.QueryEscape(topic), http.Header{"Cookie": {auth.AccessTokenCookie + "=" + sub8}})
	sDefault := th.subscribe(t, "topic="+url.QueryEscape(topic), http.Header{"Cookie": {"mercureAuthorization=" + sub7}})
	th.mustPublish(t, topic, "private", "private", "on")
	th.mustPublish(t, topic, "public")
	if firstOf(t, s7) != "private" || firstOf(t, s8) != "private" {
		t.Error("a cookie-authorized subscriber missed a private update")
	}
	if d := firstOf(t, sDefault); d != "public" {
		t.Errorf("the renamed cookie's default name was honoured: got %q", d)
	}

	pub7 := mint(t, auth.TokenSpec{Publish: []string{"*"}})
	pub8 := th.tok8(t, auth.TokenSpec{Publish: []string{"*"}})
	self := th.srv.URL
	for _, tc := range []struct {
		name   string
		hdr    []string
		status int
	}{
		{"listed Origin", []string{"Origin", "https://app.example"}, 200},
		{"the hub's own origin", []string{"Origin", self}, 200},
		{"listed Referer", []string{"Referer", "https://app.example/page?x=1"}, 200},
		{"unlisted Origin", []string{"Origin", "https://evil.example"}, 403},
		{"CORS origin is not a publish origin", []string{"Origin", "https://cors.example"}, 403},
		{"neither Origin nor Referer", nil, 403},
		{"null Origin", []string{"Origin", "null"}, 403},
	} {
		for _, c := range []string{"hubAuth=" + pub7, auth.AccessTokenCookie + "=" + pub8} {
			resp, body := post(t, th.url, url.Values{"topic": {topic}}, append([]string{"Cookie", c}, tc.hdr...)...)
			if resp.StatusCode != tc.status {
				t.Errorf("%s (%s): %d %s, want %d", tc.name, c[:8], resp.StatusCode, body, tc.status)
			}
		}
	}
	// A header token needs no Origin: it cannot be forged cross-site.
	if resp, _ := post(t, th.url, url.Values{"topic": {topic}}, "Authorization", "Bearer "+pub8); resp.StatusCode != 200 {
		t.Errorf("header token: %d", resp.StatusCode)
	}
	// "*" never allows a cookie publish, even as the only CORS origin.
	star := newMercureHub(t, auth.Config{}, herald.WithCORSOrigins("*"))
	if resp, _ := post(t, star.url, url.Values{"topic": {topic}}, "Cookie", "mercureAuthorization="+pub7, "Origin", "https://evil.example"); resp.StatusCode != 403 {
		t.Errorf("* let a cookie publish from anywhere: %d", resp.StatusCode)
	}
}

// subEvent is a subscription document of either revision.
type subEvent struct {
	Context     string          `json:"@context"`
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Topic       string          `json:"topic"`
	MatchType   string          `json:"match_type"`
	Match       string          `json:"match"`
	Subscriber  string          `json:"subscriber"`
	Active      bool            `json:"active"`
	Payload     json.RawMessage `json:"payload"`
	LastEventID string          `json:"lastEventID"`
	LastEvent8  string          `json:"last_event_id"`
}

func decodeSub(t testing.TB, ev sse.Event) subEvent {
	t.Helper()
	var d subEvent
	if err := json.Unmarshal([]byte(ev.Data), &d); err != nil {
		t.Fatalf("subscription event %q: %v", ev.Data, err)
	}
	return d
}

// TestMercureSubscriptions: subscription events in each revision's shape,
// private, with payloads; the subscriptions API's endpoints and their
// authorization.
func TestMercureSubscriptions(t *testing.T) {
	eachStreamWriter(t, func(t *testing.T, opts ...herald.Option) {
		th := newMercureHub(t, auth.Config{}, append(opts, herald.WithSubscriptions(true))...)
		const pfx = "/.well-known/mercure/subscriptions/"
		// Watchers: draft-08 by URL pattern, draft-07 by template.
		w8 := th.subscribe(t, "match_urlpattern="+url.QueryEscape(pfx+"*"),
			bearer(th.tok8(t, auth.TokenSpec{Subscribe: []string{pfx + "*"}})))
		w7 := th.subscribe(t, "topic="+url.QueryEscape(pfx+"{a}/{b}")+"&topic="+url.QueryEscape(pfx+"{a}/{b}/{c}"),
			bearer(mint(t, auth.TokenSpec{Subscribe: []string{pfx + "{a}/{b}", pfx + "{a}/{b}/{c}"}})))
		anon := th.subscribe(t, "match_urlpattern="+url.QueryEscape(pfx+"*")+"&topic=marker", nil)

		// The subscriber: draft-07 and draft-08 selectors, a draft-08 token
		// whose details carry payloads.
		subTok := th.tok8(t, auth.TokenSpec{Subscribe: []string{"https://example.com/a"}, Payload: map[string]any{"x": 1}})
		q := "topic=" + url.QueryEscape("https://example.com/{id}") + "&match_urlpattern=" + url.QueryEscape("https://example.com/b/:id") + "&match=" + url.QueryEscape("https://example.com/a")
		s := th.subscribe(t, q, bearer(subTok))

		// The watchers see each other's events too; wait for the three of
		// the subscriber.
		got := map[string]subEvent{}
		want := map[string]bool{"https://example.com/{id}": true, "urlpatternhttps://example.com/b/:id": true, "exacthttps://example.com/a": true}
		for len(got) < 3 {
			ev := w8.next(t)
			if ev.Type != "message" {
				t.Errorf("subscription event type %q, want none (message)", ev.Type)
			}
			d := decodeSub(t, ev)
			if k := d.Topic + d.MatchType + d.Match; want[k] {
				got[k] = d
			}
		}
		d7 := got["https://example.com/{id}"]
		d8 := got["urlpatternhttps://example.com/b/:id"]
		dx := got["exacthttps://example.com/a"]
		sub := d7.Subscriber
		if sub == "" || !strings.HasPrefix(sub, "urn:uuid:") || d8.Subscriber != sub || dx.Subscriber != sub {
			t.Fatalf("subscriber ids %q %q %q", d7.Subscriber, d8.Subscriber, dx.Subscriber)
		}
		wantID7 := pfx + "https%3A%2F%2Fexample.com%2F%7Bid%7D/" + strings.ReplaceAll(sub, ":", "%3A")
		wantID8 := pfx + "urlpattern/https%3A%2F%2Fexample.com%2Fb%2F%3Aid/" + strings.ReplaceAll(sub, ":", "%3A")
		if d7.ID != wantID7 || d7.Type != "Subscription" || d7.Context != "https://mercure.rocks/" || !d7.Active {
			t.Errorf("draft-07 event %+v, want id %s", d7, wantID7)
		}
		if d8.ID != wantID8 || d8.Type != "Subscription" || !d8.Active {
			t.Errorf("draft-08 event %+v, want id %s", d8, wantID8)
		}
		// The payload of the first subscribe detail matching the matcher.
		if string(dx.Payload) != `{"x":1}` || d8.Payload != nil {
			t.Errorf("payloads: exact %s, urlpattern %s", dx.Payload, d8.Payload)
		}
		// The draft-07 watcher sees the same three events.
		for seen := 0; seen < 3; {
			if d := decodeSub(t, w7.next(t)); d.Subscriber == sub {
				seen++
			}
		}
		// Subscription events are private: the anonymous watcher gets none.
		th.mustPublish(t, "marker", "marker")
		if d := firstOf(t, anon); d != "marker" {
			t.Errorf("an anonymous subscriber got a subscription event: %s", d)
		}

		// The API.
		api := th.srv.URL + strings.TrimSuffix(pfx, "/")
		apiTok := th.tok8(t, auth.TokenSpec{Subscribe: []string{pfx + "*", strings.TrimSuffix(pfx, "/")}})
		fetch := func(path, tok string, hdr ...string) (*http.Response, []byte) {
			if tok != "" {
				hdr = append(hdr, "Authorization", "Bearer "+tok)
			}
			resp := get(t, api+path, hdr...)
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp, b
		}
		resp, body := fetch("", apiTok)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/ld+json" {
			t.Fatalf("collection: %d %s", resp.StatusCode, body)
		}
		var coll struct {
			subEvent
			Subscriptions []subEvent `json:"subscriptions"`
		}
		if err := json.Unmarshal(body, &coll); err != nil {
			t.Fatal(err)
		}
		if coll.Type != "Subscriptions" || coll.ID != strings.TrimSuffix(pfx, "/") || coll.LastEventID == "" || coll.LastEvent8 == "" {
			t.Errorf("collection %+v", coll.subEvent)
		}
		var mine int
		for _, d := range coll.Subscriptions {
			if d.Subscriber == sub {
				mine++
			}
		}
		if mine != 3 {
			t.Errorf("collection lists %d of the subscriber's 3 subscriptions: %s", mine, body)
		}
		// ETag / If-None-Match.
		if resp, _ := fetch("", apiTok, "If-None-Match", resp.Header.Get("ETag")); resp.StatusCode != http.StatusNotModified {
			t.Errorf("If-None-Match: %d", resp.StatusCode)
		}
		// Per selector and single, in both shapes.
		for _, tc := range []struct {
			path   string
			status int
			check  func(b []byte)
		}{
			{"/" + url.PathEscape("https://example.com/{id}"), 200, func(b []byte) {
				if !strings.Contains(string(b), `"lastEventID"`) || !strings.Contains(string(b), sub) {
					t.Errorf("draft-07 collection %s", b)
				}
			}},
			{"/urlpattern/" + url.PathEscape("https://example.com/b/:id"), 200, func(b []byte) {
				if !strings.Contains(string(b), `"last_event_id"`) || !strings.Contains(string(b), sub) {
					t.Errorf("draft-08 collection %s", b)
				}
			}},
			{strings.TrimPrefix(wantID7, strings.TrimSuffix(pfx, "/")), 200, func(b []byte) {
				var d subEvent
				json.Unmarshal(b, &d)
				if d.ID != wantID7 || d.LastEventID == "" || d.Context == "" {
					t.Errorf("draft-07 single %s", b)
				}
			}},
			{strings.TrimPrefix(wantID8, strings.TrimSuffix(pfx, "/")), 200, func(b []byte) {
				var d subEvent
				json.Unmarshal(b, &d)
				if d.ID != wantID8 || d.LastEvent8 == "" {
					t.Errorf("draft-08 single %s", b)
				}
			}},
			{"/exact/" + url.PathEscape("https://example.com/a") + "/" + url.PathEscape("urn:uuid:nobody"), 404, nil},
			{"/regexp/x/y", 400, nil},
			{"/a/b/c/d", 404, nil},
		} {
			resp, b := fetch(tc.path, apiTok)
			if resp.StatusCode != tc.status {
				t.Errorf("%s: %d %s, want %d", tc.path, resp.StatusCode, b, tc.status)
				continue
			}
			if tc.check != nil {
				tc.check(b)
			}
		}
		// Authorization: the requested path must be granted.
		if resp, _ := fetch("", ""); resp.StatusCode != 401 {
			t.Errorf("no token: %d", resp.StatusCode)
		}
		narrow := th.tok8(t, auth.TokenSpec{Subscribe: []string{pfx + "exact/:m/:s"}})
		if resp, _ := fetch("", narrow); resp.StatusCode != 403 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "insufficient_scope") {
			t.Errorf("collection with a narrow token: %d %v", resp.StatusCode, resp.Header)
		}
		if resp, b := fetch("/exact/"+url.PathEscape(url.PathEscape("https://example.com/a"))+"/x", narrow); resp.StatusCode != 404 {
			// Granted, but no such subscriber.
			t.Errorf("single with a narrow token: %d %s", resp.StatusCode, b)
		}
		if resp, _ := fetch("", mint(t, auth.TokenSpec{Subscribe: []string{"*"}})); resp.StatusCode != 200 {
			t.Errorf("draft-07 token with *: %d", resp.StatusCode)
		}

		// The subscriber leaves: three inactive events.
		s.close()
		inactive := 0
		for inactive < 3 {
			if d := decodeSub(t, w8.next(t)); d.Subscriber == sub && !d.Active {
				inactive++
			}
		}
		eventually(t, 5*time.Second, "the subscription list to forget the subscriber", func() bool {
			_, b := fetch("", apiTok)
			return !strings.Contains(string(b), sub)
		})
		if th.Hub.SubscriptionEventsDropped() != 0 {
			t.Errorf("%d events dropped", th.Hub.SubscriptionEventsDropped())
		}
	})
}

// TestMercureSubscriptionsDisabled: without WithSubscriptions, no events and
// no API.
func TestMercureSubscriptionsDisabled(t *testing.T) {
	th := newMercureHub(t, auth.Config{})
	resp := get(t, th.srv.URL+"/.well-known/mercure/subscriptions", "Authorization", "Bearer "+th.subToken)
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("API without --subscriptions: %d", resp.StatusCode)
	}
}

func TestDiscovery(t *testing.T) {
	d := herald.Discovery{HubURL: "https://hub.example/.well-known/mercure"}
	if got := d.Link(); got != `<https://hub.example/.well-known/mercure>; rel="mercure"` {
		t.Errorf("Link %s", got)
	}
	if got := d.Link(herald.WithLastEventID(`urn:uuid:1"x`), herald.WithContentType("application/merge-patch+json")); got !=
		`<https://hub.example/.well-known/mercure>; rel="mercure"; last-event-id="urn:uuid:1\"x"; content-type="application/merge-patch+json"` {
		t.Errorf("Link with attributes %s", got)
	}
	w := httptest.NewRecorder()
	d.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })).ServeHTTP(w, httptest.NewRequest("GET", "/books/1", nil))
	if w.Header().Get("Link") != d.Link() {
		t.Errorf("Handler: %v", w.Header())
	}
	w = httptest.NewRecorder()
	if err := d.SetCookie(w, "tok", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	c := w.Result().Cookies()[0]
	if c.Name != "mercureAuthorization" || c.Value != "tok" || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode ||
		c.Path != "/.well-known/mercure" || c.MaxAge <= 0 {
		t.Errorf("cookie %+v", c)
	}
	d8 := herald.Discovery{HubURL: "http://localhost:8080/.well-known/mercure", CookieName: herald.CookieName08, Insecure: true, SameSite: http.SameSiteLaxMode, CookieDomain: "localhost"}
	w = httptest.NewRecorder()
	if err := d8.SetCookie(w, "tok", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if c := w.Result().Cookies()[0]; !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Name != "__Secure-mercure_access_token" {
		t.Errorf("a __Secure- cookie must stay Secure: %+v", c)
	}
	w = httptest.NewRecorder()
	d.ClearCookie(w)
	if c := w.Result().Cookies()[0]; c.MaxAge >= 0 {
		t.Errorf("clear: %+v", c)
	}
	if err := (herald.Discovery{HubURL: "/relative"}).SetCookie(httptest.NewRecorder(), "t", time.Time{}); err == nil {
		t.Error("a relative hub URL was accepted")
	}
	if err := d.SetCookie(httptest.NewRecorder(), "t", time.Now().Add(-time.Second)); err == nil {
		t.Error("an expired token was set")
	}
}

func TestRequestHubURL(t *testing.T) {
	for path, want := range map[string]string{
		"/.well-known/mercure":                                      "http://h.example/.well-known/mercure",
		"/.well-known/mercure/subscriptions/a/b":                    "http://h.example/.well-known/mercure",
		"/prefix/.well-known/mercure?x":                             "http://h.example/prefix/.well-known/mercure",
		"/custom/hub":                                               "http://h.example/custom/hub",
		"/custom/hub/subscriptions":                                 "http://h.example/custom/hub",
		"/.well-known/mercurex":                                     "http://h.example/.well-known/mercurex",
		"/.well-known/oauth-protected-resource/.well-known/mercure": "http://h.example/.well-known/oauth-protected-resource/.well-known/mercure",
	} {
		r := httptest.NewRequest("GET", "http://h.example"+path, nil)
		if got := herald.RequestHubURL(r); got != want {
			t.Errorf("%s: %s, want %s", path, got, want)
		}
	}
	if got := herald.ResourceMetadataURL("https://h.example/.well-known/mercure"); got != "https://h.example/.well-known/oauth-protected-resource/.well-known/mercure" {
		t.Error(got)
	}
}

// TestMercureHubURLOption: the configured hub URL is the base of relative
// URL patterns and the default audience, whatever Host the request has.
func TestMercureHubURLOption(t *testing.T) {
	const public = "https://public.example/.well-known/mercure"
	th := newMercureHub(t, auth.Config{HubURL: public}, herald.WithHubURL(public))
	s := th.subscribe(t, "match_urlpattern="+url.QueryEscape("/books/:id"), nil)
	th.mustPublish(t, "https://public.example/books/1", "abs")
	th.mustPublish(t, th.srv.URL+"/books/2", "other-host")
	th.mustPublish(t, "/books/3", "rel")
	if a, b := firstOf(t, s), firstOf(t, s); a != "abs" || b != "rel" {
		t.Errorf("got %q, %q", a, b)
	}
	tok := th.tok8(t, auth.TokenSpec{Publish: []string{"*"}, Audience: public})
	if resp, body := post(t, th.url, url.Values{"topic": {"x"}}, "Authorization", "Bearer "+tok); resp.StatusCode != 200 {
		t.Errorf("audience = hub URL: %d %s", resp.StatusCode, body)
	}
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
