package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/heraldpush/herald/auth"
	"github.com/heraldpush/herald/internal/browsertest"
	"github.com/heraldpush/herald/internal/redistest"
)

// The whole flow in headless Chromium: a desktop and a phone, each a
// browser context of its own (separate cookies), on one node and on two
// nodes sharing Redis. Screenshots of each step go to $HERALD_SCREENSHOTS
// (default: a temporary directory).

const waitLimit = 20 * time.Second

func TestBrowser(t *testing.T) {
	browser := browsertest.New(t, browsertest.WithWindowSize(1100, 760))

	t.Run("approve", func(t *testing.T) {
		s := startSite(t, Config{})
		approveFlow(t, browser, s, s, "approve")
	})
	t.Run("cluster", func(t *testing.T) {
		srv := redistest.Start(t)
		cfg := Config{RedisURL: srv.URL(), RedisPrefix: "tf-browser:"}
		// The desktop on node A, the phone's requests on node B.
		approveFlow(t, browser, startSite(t, cfg), startSite(t, cfg), "cluster")
	})
	t.Run("deny", func(t *testing.T) {
		s := startSite(t, Config{})
		shots := browsertest.NewScreenshots(t, "twofactor-deny")
		desktop, link := desktopLogin(t, browser, s, "alice", "wonderland-2fa", nil)
		phone := phoneOpen(t, browser, s, link, "alice", "wonderland-2fa", nil)
		do(t, phone, chromedp.Click(chromedp.ID("deny")), chromedp.WaitVisible(chromedp.ID("message")))
		expectText(t, phone, "message", "Denied")
		shots.Take(phone, "phone-denied")
		browsertest.WaitJS(t, desktop, waitLimit, `window.twofactor.state === "denied"`)
		expectText(t, desktop, "status", "Denied on your phone")
		browsertest.WaitJS(t, desktop, waitLimit, `window.twofactorSource.readyState === 2`)
		shots.Take(desktop, "desktop-denied")
		// The page cannot finish a denied login.
		if st := fetchStatus(t, desktop, "/login/finish", "POST", "csrf="+jsString(t, desktop, `document.getElementById("flow").dataset.csrf`)); st != http.StatusConflict {
			t.Fatalf("finish after denial: %d, want 409", st)
		}
	})
	t.Run("expire", func(t *testing.T) {
		s := startSite(t, Config{ChallengeTTL: 3 * time.Second})
		shots := browsertest.NewScreenshots(t, "twofactor-expire")
		desktop, link := desktopLogin(t, browser, s, "alice", "wonderland-2fa", nil)
		browsertest.WaitJS(t, desktop, waitLimit, `window.twofactor.state === "expired"`)
		browsertest.WaitJS(t, desktop, waitLimit, `window.twofactorSource.readyState === 2`)
		expectText(t, desktop, "status", "expired")
		shots.Take(desktop, "desktop-expired")
		phone := browsertest.Isolated(t, browser)
		do(t, phone, browsertest.Phone())
		phoneLogin(t, phone, link, "alice", "wonderland-2fa")
		do(t, phone, chromedp.WaitVisible(chromedp.ID("message")))
		expectText(t, phone, "message", "expired")
		shots.Take(phone, "phone-expired")
	})
}

// approveFlow is the whole approval: desktop on d, phone on p (the same
// site, or two nodes of one cluster).
func approveFlow(t *testing.T, browser context.Context, d, p *site, name string) {
	shots := browsertest.NewScreenshots(t, "twofactor-"+name)
	desktop, link := desktopLogin(t, browser, d, "alice", "wonderland-2fa", shots)
	topic := jsString(t, desktop, `document.getElementById("flow").dataset.topic`)

	// The token is out of reach of page scripts.
	if c := jsString(t, desktop, "document.cookie"); strings.Contains(c, auth.DefaultCookieName) || strings.Contains(c, flowCookie) {
		t.Fatalf("page scripts can read the cookies: %q", c)
	}
	// The subscriber token cannot publish: neither the browser with its
	// cookie, nor anyone who copied the token into a header.
	forged := url.Values{"topic": {topic}, "data": {"forged"}, "type": {"2fa-complete"}, "private": {"on"}}.Encode()
	if st := fetchStatus(t, desktop, hubPath, "POST", forged); st != http.StatusUnauthorized && st != http.StatusForbidden {
		t.Fatalf("publish with the cookie: %d", st)
	}
	token := browserCookie(t, desktop, d.url+hubPath, auth.DefaultCookieName)
	req, _ := http.NewRequest(http.MethodPost, d.url+hubPath, strings.NewReader(forged))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
		t.Fatalf("publish with the token as a bearer: %d", resp.StatusCode)
	}
	// Another user's token cannot subscribe to this challenge.
	bob, _ := desktopLogin(t, browser, d, "bob", "builder-2fa", nil)
	if st := fetchStatus(t, bob, hubPath+"?topic="+url.QueryEscape(topic), "GET", ""); st != http.StatusForbidden {
		t.Fatalf("bob subscribing to alice's challenge: %d, want 403", st)
	}

	// The phone, on node p: sign in, see the request, approve.
	link = strings.Replace(link, d.url, p.url, 1)
	phone := phoneOpen(t, browser, p, link, "alice", "wonderland-2fa", shots)
	csrf := jsString(t, phone, `document.querySelector("input[name=csrf]").value`)
	do(t, phone, chromedp.Click(chromedp.ID("approve")), chromedp.WaitVisible(chromedp.ID("message")))
	expectText(t, phone, "message", "Approved")
	shots.Take(phone, "phone-approved")

	// The desktop: the event arrives, the page finishes the login, the
	// hub ends the stream and answers the reconnect with 204, and
	// EventSource stays CLOSED.
	browsertest.WaitJS(t, desktop, waitLimit, `window.twofactor.state === "done"`)
	expectText(t, desktop, "status", "Signed in as alice")
	browsertest.WaitJS(t, desktop, waitLimit, `window.twofactorSource.readyState === 2`)
	shots.Take(desktop, "desktop-signed-in")
	var evs []struct{ Type, Data string }
	if raw := jsString(t, desktop, `JSON.stringify(window.twofactor.events)`); json.Unmarshal([]byte(raw), &evs) != nil ||
		len(evs) != 1 || evs[0].Type != "2fa-complete" || evs[0].Data != `{"state":"approved"}` {
		t.Fatalf("events seen by the page: %s", raw)
	}
	if d.subs.count(http.StatusNoContent) == 0 {
		t.Fatalf("the reconnect was not answered 204: subscription statuses %s", d.subs)
	}
	seen := d.subs.total.Load()
	time.Sleep(2 * time.Second) // 4× the retry time the final update set
	if now := d.subs.total.Load(); now != seen {
		t.Fatalf("the browser kept reconnecting after 204: %d requests, then %d (%s)", seen, now, d.subs)
	}

	// A second approval of the same challenge is refused: the form again,
	// and the page.
	body := url.Values{"csrf": {csrf}, "decision": {"approve"}}.Encode()
	if st := fetchStatus(t, phone, strings.TrimPrefix(link, p.url), "POST", body); st != http.StatusConflict {
		t.Fatalf("second approval: %d, want 409", st)
	}
	do(t, phone, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("message")))
	expectText(t, phone, "message", "Already approved")
	shots.Take(phone, "phone-second-approval-refused")

	do(t, desktop, chromedp.Navigate(d.url+"/account"), chromedp.WaitVisible(chromedp.ID("who")))
	expectText(t, desktop, "who", "alice")
	shots.Take(desktop, "desktop-account")
}

// desktopLogin opens a desktop browser context, signs in with the password
// and waits for the waiting page's stream; it returns the tab and the
// approval link.
func desktopLogin(t *testing.T, browser context.Context, s *site, user, password string, shots *browsertest.Screenshots) (context.Context, string) {
	t.Helper()
	ctx := browsertest.Isolated(t, browser)
	do(t, ctx, chromedp.Navigate(s.url+"/login"), chromedp.WaitVisible(chromedp.ID("username")))
	if shots != nil {
		shots.Take(ctx, "desktop-login")
	}
	do(t, ctx,
		chromedp.SendKeys(chromedp.ID("username"), user),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("submit")),
		chromedp.WaitVisible(chromedp.ID("code")),
	)
	browsertest.WaitJS(t, ctx, waitLimit, `window.twofactorSource && window.twofactorSource.readyState === 1`)
	if shots != nil {
		shots.Take(ctx, "desktop-waiting")
	}
	return ctx, jsString(t, ctx, `document.getElementById("approve-link").href`)
}

// phoneOpen opens a phone browser context on the approval link, signs the
// phone in when asked, and waits for the approval page.
func phoneOpen(t *testing.T, browser context.Context, s *site, link, user, password string, shots *browsertest.Screenshots) context.Context {
	t.Helper()
	ctx := browsertest.Isolated(t, browser)
	do(t, ctx, browsertest.Phone())
	phoneLogin(t, ctx, link, user, password)
	do(t, ctx, chromedp.WaitVisible(chromedp.ID("approve")))
	code := jsString(t, ctx, `document.getElementById("code").textContent`)
	if len(code) != 7 {
		t.Fatalf("code on the phone: %q", code)
	}
	if shots != nil {
		shots.Take(ctx, "phone-approve")
	}
	return ctx
}

// phoneLogin opens link, which sends a phone without a session to the
// phone login page, and signs in there.
func phoneLogin(t *testing.T, ctx context.Context, link, user, password string) {
	t.Helper()
	do(t, ctx, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("username")))
	if !strings.Contains(jsString(t, ctx, "location.pathname"), "/phone/login") {
		t.Fatal("the approval link did not ask the phone to sign in")
	}
	do(t, ctx,
		chromedp.SendKeys(chromedp.ID("username"), user),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("submit")),
	)
	browsertest.WaitJS(t, ctx, waitLimit, `!location.pathname.startsWith("/phone/login") && document.readyState === "complete"`)
}

func do(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, waitLimit)
	defer cancel()
	if err := chromedp.Do(tctx, actions...); err != nil {
		t.Fatalf("browser: %v\nconsole: %q", err, browsertest.Console(ctx))
	}
}

func jsString(t *testing.T, ctx context.Context, expr string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// fetchStatus makes the page send a request with its cookies and returns
// the response status.
func fetchStatus(t *testing.T, ctx context.Context, path, method, body string) int {
	t.Helper()
	init := fmt.Sprintf(`{method: %q}`, method)
	if method == "POST" {
		init = fmt.Sprintf(`{method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: %q}`, body)
	}
	expr := fmt.Sprintf(`fetch(%q, %s).then(r => { const s = r.status; if (r.body) r.body.cancel(); return s; })`, path, init)
	st, err := chromedp.Run(ctx, chromedp.Evaluate[int](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("fetch %s %s: %v", method, path, err)
	}
	return st
}

func expectText(t *testing.T, ctx context.Context, id, want string) {
	t.Helper()
	got := jsString(t, ctx, fmt.Sprintf(`document.getElementById(%q).textContent`, id))
	if !strings.Contains(got, want) {
		t.Fatalf("#%s says %q, want %q in it", id, strings.TrimSpace(got), want)
	}
}

// browserCookie reads a cookie from the browser's jar, HttpOnly ones too.
func browserCookie(t *testing.T, ctx context.Context, u, name string) string {
	t.Helper()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{u}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if c.Name == name {
			if !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict {
				t.Errorf("cookie %s: HttpOnly %v, SameSite %q; want HttpOnly, Strict", name, c.HTTPOnly, c.SameSite)
			}
			return c.Value
		}
	}
	t.Fatalf("no cookie %s for %s", name, u)
	return ""
}
