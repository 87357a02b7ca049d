package herald_test

// Browser-level Mercure tests: headless Chromium (internal/browsertest)
// loads a page from the hub's own origin, subscribes with EventSource —
// anonymously and with the authorization cookie of each revision — and
// publishes with fetch. Chromium missing: skipped loudly, or failed when
// CI=true.

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/auth"
	"github.com/heraldpush/herald/internal/browsertest"
)

// mercurePage is the test page: helpers that open EventSources, publish
// with fetch, and wait for a final "marker" update on every stream.
const mercurePage = `<!doctype html><html lang="en"><meta charset="utf-8"><title>Mercure browser test</title>
<body><script>
window.openES = (query) => new Promise((resolve, reject) => {
  const es = new EventSource('/.well-known/mercure?' + query, {withCredentials: true});
  const rec = {es, events: []};
  es.onmessage = (e) => rec.events.push({id: e.lastEventId, data: e.data, type: e.type});
  es.onopen = () => resolve(rec);
  es.onerror = () => { if (es.readyState === EventSource.CLOSED) reject(new Error('EventSource failed: ' + query)); };
});
window.publish = async (fields, token) => {
  const body = new URLSearchParams();
  for (const [k, v] of fields) body.append(k, v);
  const headers = {};
  if (token) headers.Authorization = 'Bearer ' + token;
  const r = await fetch('/.well-known/mercure', {method: 'POST', headers, body, credentials: 'same-origin'});
  return {status: r.status, type: r.headers.get('Content-Type'), body: await r.text()};
};
window.waitMarker = (rec, ms) => new Promise((resolve, reject) => {
  const start = Date.now();
  const tick = () => {
    if (rec.events.some((e) => e.data === 'marker')) return resolve();
    if (Date.now() - start > ms) return reject(new Error('no marker within ' + ms + 'ms'));
    setTimeout(tick, 20);
  };
  tick();
});
window.scenario = async (spec) => {
  if (spec.cookie) {
    const r = await fetch(spec.cookie, {credentials: 'same-origin'});
    if (r.status !== 204) throw new Error('cookie endpoint: ' + r.status);
  }
  const recs = [];
  for (const q of spec.streams) recs.push(await openES(q));
  const results = [];
  for (const p of spec.publishes) results.push(await publish(p.fields, p.token));
  for (const rec of recs) await waitMarker(rec, 15000);
  for (const rec of recs) rec.es.close();
  return JSON.stringify({results, events: recs.map((r) => r.events)});
};
</script></body></html>`

// browserHub serves a hub and the test page on one origin, named
// "localhost" so that Chromium treats it as a secure context (the draft-08
// cookie has the __Secure- prefix).
type browserHub struct {
	base   string // http://localhost:port
	hubURL string
	srv    *httptest.Server
	hub    *herald.Hub
}

func newBrowserHub(t *testing.T) *browserHub {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	b := &browserHub{base: fmt.Sprintf("http://localhost:%d", port)}
	b.hubURL = b.base + "/.well-known/mercure"
	k := auth.HMACKey([]byte(testKey))
	k.Issuer = mIssuer
	v, err := auth.New(auth.Config{PublisherKeys: []auth.Key{k}, SubscriberKeys: []auth.Key{k}, HubURL: b.hubURL})
	if err != nil {
		t.Fatal(err)
	}
	b.hub = herald.New(herald.WithAuthorizer(v), herald.WithAnonymous(true), herald.WithHubURL(b.hubURL))
	mux := http.NewServeMux()
	mux.Handle("/.well-known/mercure", b.hub)
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		herald.Discovery{HubURL: b.hubURL}.SetLink(w)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, mercurePage)
	})
	// /cookie sets the authorization cookie of a revision, as an
	// application would at login, with the grants in the query.
	mux.HandleFunc("/cookie", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		spec := auth.TokenSpec{Publish: q["pub"], Subscribe: q["sub"], TTL: time.Hour}
		d := herald.Discovery{HubURL: b.hubURL, Insecure: true}
		if q.Get("draft") == "8" {
			spec.Draft, spec.Issuer, spec.Audience = 8, mIssuer, b.hubURL
			d.CookieName = herald.CookieName08
		}
		tok, err := auth.SignHMAC([]byte(testKey), spec)
		if err == nil {
			err = d.SetCookie(w, tok, time.Now().Add(time.Hour))
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	b.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: mux}}
	b.srv.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b.hub.Close(ctx)
		b.srv.CloseClientConnections()
		b.srv.Close()
	})
	return b
}

type pagePublish struct {
	Fields [][2]string `json:"fields"`
	Token  string      `json:"token,omitempty"`
}

type pageSpec struct {
	Cookie    string        `json:"cookie,omitempty"`
	Streams   []string      `json:"streams"`
	Publishes []pagePublish `json:"publishes"`
}

type pageResult struct {
	Results []struct {
		Status int    `json:"status"`
		Type   string `json:"type"`
		Body   string `json:"body"`
	} `json:"results"`
	Events [][]struct {
		ID, Data, Type string
	} `json:"events"`
}

// runScenario runs spec in the page of ctx and returns what each stream
// received (data, up to and including the marker) and each publish's
// answer.
func runScenario(t *testing.T, ctx context.Context, spec pageSpec) pageResult {
	t.Helper()
	js, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	tctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	out, err := chromedp.Run(tctx, chromedp.Evaluate[string]("scenario("+string(js)+")", chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("scenario: %v\nconsole: %q", err, browsertest.Console(ctx))
	}
	var res pageResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	return res
}

func fields(kv ...string) [][2]string {
	var f [][2]string
	for i := 0; i+1 < len(kv); i += 2 {
		f = append(f, [2]string{kv[i], kv[i+1]})
	}
	return f
}

func datas(evs []struct{ ID, Data, Type string }) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Data
	}
	return out
}

func TestBrowserMercure(t *testing.T) {
	b := newBrowserHub(t)
	ctx := browsertest.New(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(b.base+"/")); err != nil {
		t.Fatal(err)
	}
	const (
		a      = "https://example.com/a"
		book   = "https://example.com/books/42"
		multi  = "line 1\nline 2\n\nline 4 after a blank line"
		marker = "marker"
	)
	pub7 := mint(t, auth.TokenSpec{Publish: []string{"*"}})
	pub8, err := auth.SignHMAC([]byte(testKey), auth.TokenSpec{Draft: 8, Issuer: mIssuer, Audience: b.hubURL, TTL: time.Hour, Publish: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	q := url.QueryEscape
	check := func(t *testing.T, res pageResult, want [][]string) {
		t.Helper()
		for i, r := range res.Results {
			if r.Status != 200 || r.Type != "text/plain; charset=utf-8" || r.Body == "" {
				t.Errorf("publish %d: %d %q %q", i, r.Status, r.Type, r.Body)
			}
		}
		for i, w := range want {
			if got := datas(res.Events[i]); strings.Join(got, "|") != strings.Join(w, "|") {
				t.Errorf("stream %d got %q, want %q", i, got, w)
			}
		}
	}

	t.Run("draft-07 anonymous", func(t *testing.T) {
		res := runScenario(t, ctx, pageSpec{
			Streams: []string{"topic=" + q(a) + "&topic=marker", "topic=" + q("https://example.com/books/{id}") + "&topic=marker"},
			Publishes: []pagePublish{
				{fields("topic", a, "data", multi, "id", "urn:example:multi"), pub7},
				{fields("topic", book, "topic", "https://example.com/alt", "data", "book"), pub7},
				{fields("topic", a, "data", "secret", "private", "on"), pub7},
				{fields("topic", book, "data", "secret", "private", "on"), pub7},
				{fields("topic", marker, "data", marker), pub7},
			},
		})
		check(t, res, [][]string{{multi, marker}, {"book", marker}})
		if res.Events[0][0].ID != "urn:example:multi" || res.Results[0].Body != "urn:example:multi" {
			t.Errorf("publisher id not kept: %+v, %q", res.Events[0][0], res.Results[0].Body)
		}
	})
	t.Run("draft-08 anonymous", func(t *testing.T) {
		res := runScenario(t, ctx, pageSpec{
			Streams: []string{"match=" + q(a) + "&match=marker", "match_urlpattern=" + q("https://example.com/books/:id") + "&match=marker"},
			Publishes: []pagePublish{
				{fields("topic", a, "data", multi), pub8},
				{fields("topic", book, "data", "book"), pub8},
				{fields("topic", a, "data", "secret", "private", "on"), pub8},
				{fields("topic", book, "data", "secret", "private", "on"), pub8},
				{fields("topic", marker, "data", marker), pub8},
			},
		})
		check(t, res, [][]string{{multi, marker}, {"book", marker}})
	})
	t.Run("draft-07 cookie", func(t *testing.T) {
		tab := browsertest.Isolated(t, ctx)
		if err := chromedp.Do(tab, chromedp.Navigate(b.base+"/")); err != nil {
			t.Fatal(err)
		}
		res := runScenario(t, tab, pageSpec{
			Cookie:  "/cookie?draft=7&sub=" + q("https://example.com/books/{id}") + "&pub=*",
			Streams: []string{"topic=" + q("https://example.com/books/{id}") + "&topic=marker"},
			Publishes: []pagePublish{
				// Published with the cookie: same origin passes the CSRF check.
				{Fields: fields("topic", book, "data", "private for the cookie", "private", "on")},
				{Fields: fields("topic", a, "data", "not subscribed", "private", "on")},
				{Fields: fields("topic", marker, "data", marker)},
			},
		})
		check(t, res, [][]string{{"private for the cookie", marker}})
	})
	t.Run("draft-08 cookie", func(t *testing.T) {
		tab := browsertest.Isolated(t, ctx)
		if err := chromedp.Do(tab, chromedp.Navigate(b.base+"/")); err != nil {
			t.Fatal(err)
		}
		res := runScenario(t, tab, pageSpec{
			Cookie:  "/cookie?draft=8&sub=" + q("https://example.com/books/:id") + "&pub=*",
			Streams: []string{"match_urlpattern=" + q("https://example.com/books/:id") + "&match=marker"},
			Publishes: []pagePublish{
				{Fields: fields("topic", book, "data", multi, "private", "on")},
				{Fields: fields("topic", marker, "data", marker)},
			},
		})
		check(t, res, [][]string{{multi, marker}})
		// The anonymous tab, with no cookie, does not get it.
		res = runScenario(t, ctx, pageSpec{
			Streams: []string{"match_urlpattern=" + q("https://example.com/books/:id") + "&match=marker"},
			Publishes: []pagePublish{
				{fields("topic", book, "data", "private", "private", "on"), pub8},
				{fields("topic", marker, "data", marker), pub8},
			},
		})
		check(t, res, [][]string{{marker}})
	})
}
