package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/auth"
	"github.com/heraldpush/herald/internal/browsertest"
)

// tokenRun runs herald token with args and returns its status and output.
func tokenRun(t *testing.T, vars map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut strings.Builder
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: func(k string) string { return vars[k] }}
	code := run(context.Background(), e, append([]string{"token"}, args...))
	return code, strings.TrimSpace(out.String()), errOut.String()
}

func writePEM(t *testing.T, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTokenCommand mints tokens of both revisions with every kind of key
// and checks them with the hub's verifier.
func TestTokenCommand(t *testing.T) {
	const secret = "token-test-secret-not-a-secret"
	const iss, aud = "https://issuer.example", "https://hub.example/.well-known/mercure"
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	rsaDER := x509.MarshalPKCS1PrivateKey(rsaKey)
	ecDER, _ := x509.MarshalECPrivateKey(ecKey)
	edDER, _ := x509.MarshalPKCS8PrivateKey(edKey)
	keyFile := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(keyFile, []byte(secret+"\n"), 0o600)

	hmac := auth.HMACKey([]byte(secret))
	hmac.Issuer = iss
	pub := func(k any) auth.Key {
		der, _ := x509.MarshalPKIXPublicKey(k)
		key, err := auth.ParsePublicKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
		if err != nil {
			t.Fatal(err)
		}
		key.Issuer = iss
		return key
	}
	keys := []auth.Key{hmac, pub(&rsaKey.PublicKey), pub(&ecKey.PublicKey), pub(edKey.Public())}
	v, err := auth.New(auth.Config{PublisherKeys: keys, SubscriberKeys: keys, HubURL: aud})
	if err != nil {
		t.Fatal(err)
	}
	draft8 := []string{"--draft", "08", "--issuer", iss, "--audience", aud}
	for _, tc := range []struct {
		name string
		vars map[string]string
		args []string
		alg  string
	}{
		{"draft 07, --key", nil, []string{"--key", secret}, "HS256"},
		{"draft 07, --key-file", nil, []string{"--key-file", keyFile}, "HS256"},
		{"draft 07, HERALD_JWT_KEY", map[string]string{"HERALD_JWT_KEY": secret}, nil, "HS256"},
		{"draft 08, --key", nil, append([]string{"--key", secret}, draft8...), "HS256"},
		{"draft 08, RSA", nil, append([]string{"--private-key", writePEM(t, "RSA PRIVATE KEY", rsaDER)}, draft8...), "RS256"},
		{"draft 08, RSA-PSS", nil, append([]string{"--private-key", writePEM(t, "RSA PRIVATE KEY", rsaDER), "--alg", "PS256"}, draft8...), "PS256"},
		{"draft 08, ECDSA", nil, append([]string{"--private-key", writePEM(t, "EC PRIVATE KEY", ecDER)}, draft8...), "ES256"},
		{"draft 07, Ed25519", nil, []string{"--private-key", writePEM(t, "PRIVATE KEY", edDER)}, "EdDSA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--publish", "https://example.com/books/{id}", "--publish", "https://example.com/a,b",
				"--subscribe", "*", "--ttl", "10m", "--subject", "me", "--kid", "k1", "--payload", `{"user":"me"}`}, tc.args...)
			if strings.Contains(tc.name, "08") {
				args[1] = "https://example.com/books/:id"
			}
			code, tok, stderr := tokenRun(t, tc.vars, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			parsed, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
			if err != nil || parsed.Method.Alg() != tc.alg || parsed.Header["kid"] != "k1" {
				t.Fatalf("header %v (%v), want alg %s", parsed.Header, err, tc.alg)
			}
			c, err := v.Verify(context.Background(), tok, aud, herald.ActionPublish)
			if err != nil {
				t.Fatal(err)
			}
			want := 7
			if strings.Contains(tc.name, "08") {
				want = 8
			}
			if c.Draft != want || c.Subject != "me" || len(c.Publish) != 2 || c.Publish[1].String() != "https://example.com/a,b" ||
				!c.Publish[0].Match("https://example.com/books/3") || c.Expires.Sub(time.Now()) > 11*time.Minute {
				t.Fatalf("claims %+v", c)
			}
		})
	}
	for name, args := range map[string][]string{
		"no key":                  {"--publish", "*"},
		"two keys":                {"--key", "a", "--key-file", keyFile},
		"draft 08 without issuer": {"--key", "a", "--draft", "08", "--audience", aud},
		"draft 08 without expiry": append([]string{"--key", "a", "--ttl", "0"}, draft8...),
		"draft 08 array payload":  append([]string{"--key", "a", "--payload", "[1]"}, draft8...),
		"bad payload":             {"--key", "a", "--payload", "{"},
		"unknown draft":           {"--key", "a", "--draft", "09"},
		"negative ttl":            {"--key", "a", "--ttl", "-1s"},
		"wrong alg for the key":   {"--key", "a", "--alg", "RS256"},
		"alg none":                {"--key", "a", "--alg", "none"},
		"missing key file":        {"--key-file", "/nonexistent"},
		"not a private key":       {"--private-key", keyFile},
		"positional argument":     {"--key", "a", "extra"},
	} {
		t.Run(name, func(t *testing.T) {
			if code, out, _ := tokenRun(t, nil, args...); code == 0 {
				t.Fatalf("exit 0, printed %q", out)
			}
		})
	}
	// --demo signs with herald serve --demo's public key.
	code, tok, _ := tokenRun(t, nil, "--demo", "--publish", "*", "--ttl", "0")
	if code != 0 {
		t.Fatal(code)
	}
	if _, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return []byte(demoKey), nil }); err != nil {
		t.Fatalf("demo token: %v", err)
	}
}

// mercureServe is herald serve running in this process.
type mercureServe struct {
	base   string
	stdout *syncBuffer
	stderr *syncBuffer
}

var serveListening = regexp.MustCompile(`Herald is listening on (\S+)/\.well-known/mercure`)

// startMercureServe runs herald serve with args on a free loopback port and
// stops it when the test ends.
func startMercureServe(t *testing.T, args ...string) *mercureServe {
	t.Helper()
	s := &mercureServe{stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	e := &env{stdin: strings.NewReader(""), stdout: s.stdout, stderr: s.stderr, getenv: func(string) string { return "" }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, e, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Errorf("herald serve did not stop:\n%s", s.stderr)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := serveListening.FindStringSubmatch(s.stdout.String()); m != nil {
			s.base = m[1]
			return s
		}
		select {
		case code := <-done:
			done <- code
			t.Fatalf("herald serve exited with %d:\n%s", code, s.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("herald serve did not start:\n%s", s.stderr)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The configuration under which the reference hub's conformance suites
// run, given to herald serve as flags alone (docs/mercure.md).
const conformanceKey = "!ChangeThisMercureHubJWTSecretKey!"

var conformanceFlags = []string{
	"--jwt-key", conformanceKey,
	"--issuer", "https://localhost",
	"--audience", "https://localhost/.well-known/mercure",
	"--anonymous",
}

// conformanceTokens mints publisher tokens shaped like the suites': a
// draft-07 HS256 token whose mercure claim allows everything, and a
// draft-08 access token (typ at+jwt, iss https://localhost, aud the
// localhost hub) whose authorization_details use the URL detail type and
// matchers without match_type.
func conformanceTokens(t *testing.T) (tok7, tok8 string) {
	t.Helper()
	sign := func(claims jwt.MapClaims, typ string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
		if typ == "" {
			delete(tok.Header, "typ")
		} else {
			tok.Header["typ"] = typ
		}
		s, err := tok.SignedString([]byte(conformanceKey))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tok7 = sign(jwt.MapClaims{"mercure": map[string]any{"publish": []string{"*"}, "subscribe": []string{"*"}}}, "")
	all := []any{map[string]any{"match": "*"}}
	tok8 = sign(jwt.MapClaims{
		"aud": "https://localhost/.well-known/mercure",
		"iss": "https://localhost",
		"exp": 4102444800,
		"authorization_details": []any{
			map[string]any{"type": auth.DetailTypeURL, "actions": []string{"publish"}, "topics": all},
			map[string]any{"type": auth.DetailTypeURL, "actions": []string{"subscribe"}, "topics": all},
		},
	}, "at+jwt")
	return tok7, tok8
}

// conformancePage runs one case the way the suites do: open an anonymous
// EventSource on the page's origin, publish with fetch once it is open,
// and report whether the update arrived with the publisher's id and data
// intact, with the publish answer. A final public update on a topic every
// stream follows stands for the suites' 2-second wait: when it arrives,
// the update under test would have arrived before it.
const conformanceJS = `(async (c) => {
  const url = new URL('/.well-known/mercure', window.origin);
  for (const [k, v] of c.params) url.searchParams.append(k, v);
  url.searchParams.append(c.endParam, 'end-' + c.id);
  const es = new EventSource(url);
  let received = false;
  const end = new Promise((resolve, reject) => {
    es.onmessage = (e) => {
      if (e.type === 'message' && e.lastEventId === c.id && e.data === c.data) received = true;
      if (e.data === 'end') { es.close(); resolve(); }
    };
    setTimeout(() => reject(new Error('no end update')), 15000);
  });
  await new Promise((resolve) => { es.onopen = resolve; });
  const post = async (fields) => {
    const body = new URLSearchParams();
    for (const [k, v] of fields) body.append(k, v);
    const r = await fetch('/.well-known/mercure', {method: 'POST', headers: {Authorization: 'Bearer ' + c.token}, body});
    return {status: r.status, type: r.headers.get('Content-Type'), body: await r.text()};
  };
  const fields = c.topics.map((t) => ['topic', t]);
  fields.push(['id', c.id], ['data', c.data]);
  if (c.private) fields.push(['private', 'on']);
  const res = await post(fields);
  await post([['topic', 'end-' + c.id], ['data', 'end']]);
  await end;
  return JSON.stringify({received, ...res});
})`

type conformanceCase struct {
	Name     string      `json:"name"`
	Params   [][2]string `json:"params"`
	EndParam string      `json:"endParam"`
	Topics   []string    `json:"topics"`
	Private  bool        `json:"private"`
	Received bool        `json:"-"`
	ID       string      `json:"id"`
	Data     string      `json:"data"`
	Token    string      `json:"token"`
}

// conformanceCases lists the suites' cases: for draft-07, selectors in
// topic= (raw strings, URIs, URI templates) and an update with two
// topics; for draft-08, match= and match_urlpattern=. Each revision has
// cases that must be received and cases that must not (a selector that
// does not match, or a private update to an anonymous subscriber).
func conformanceCases(draft int, tok string) []conformanceCase {
	rnd := func() string { return strings.TrimPrefix(herald.NewID(), "urn:uuid:") }
	r := []string{rnd(), rnd(), rnd(), rnd(), rnd()}
	sel := func(name, v string) [2]string { return [2]string{name, v} }
	var cs []conformanceCase
	if draft == 7 {
		cs = []conformanceCase{
			{Name: "raw string", Params: [][2]string{sel("topic", r[0])}, Topics: []string{r[0]}, Received: true},
			{Name: "multiple topics", Params: [][2]string{sel("topic", r[1])}, Topics: []string{rnd(), r[1]}, Received: true},
			{Name: "multiple topic selectors", Params: [][2]string{sel("topic", "foo"), sel("topic", r[2])}, Topics: []string{r[2]}, Received: true},
			{Name: "URI", Params: [][2]string{sel("topic", "https://example.net/foo/"+r[3])}, Topics: []string{"https://example.net/foo/" + r[3]}, Received: true},
			{Name: "URI template", Params: [][2]string{sel("topic", "https://example.net/foo/{random}")}, Topics: []string{"https://example.net/foo/" + r[4]}, Received: true},
			{Name: "nonmatching raw string", Params: [][2]string{sel("topic", "another-name")}, Topics: []string{"will-not-match}"}},
			{Name: "nonmatching URI", Params: [][2]string{sel("topic", "https://example.net/foo/another-name")}, Topics: []string{"https://example.net/foo/will-not-match}"}},
			{Name: "nonmatching URI template", Params: [][2]string{sel("topic", "https://example.net/bar/{var}")}, Topics: []string{"https://example.net/foo/will-not-match}"}},
			{Name: "private raw string", Params: [][2]string{sel("topic", r[0])}, Topics: []string{r[0]}, Private: true},
			{Name: "private URI", Params: [][2]string{sel("topic", "https://example.net/foo/"+r[3])}, Topics: []string{"https://example.net/foo/" + r[3]}, Private: true},
			{Name: "private URI template", Params: [][2]string{sel("topic", "https://example.net/foo/{random}")}, Topics: []string{"https://example.net/foo/" + r[4]}, Private: true},
		}
	} else {
		p := func(s string) [2]string {
			if strings.Contains(s, "/:") {
				return sel("match_urlpattern", s)
			}
			return sel("match", s)
		}
		cs = []conformanceCase{
			{Name: "raw string", Params: [][2]string{p(r[0])}, Topics: []string{r[0]}, Received: true},
			{Name: "multiple topic selectors", Params: [][2]string{p("foo"), p(r[2])}, Topics: []string{r[2]}, Received: true},
			{Name: "URI", Params: [][2]string{p("https://example.net/foo/" + r[3])}, Topics: []string{"https://example.net/foo/" + r[3]}, Received: true},
			{Name: "URL pattern", Params: [][2]string{p("https://example.net/foo/:random")}, Topics: []string{"https://example.net/foo/" + r[4]}, Received: true},
			{Name: "nonmatching raw string", Params: [][2]string{p("another-name")}, Topics: []string{"will-not-match"}},
			{Name: "nonmatching URI", Params: [][2]string{p("https://example.net/foo/another-name")}, Topics: []string{"https://example.net/foo/will-not-match"}},
			{Name: "nonmatching URL pattern", Params: [][2]string{p("https://example.net/bar/:var")}, Topics: []string{"https://example.net/foo/will-not-match"}},
			{Name: "private raw string", Params: [][2]string{p(r[0])}, Topics: []string{r[0]}, Private: true},
			{Name: "private URI", Params: [][2]string{p("https://example.net/foo/" + r[3])}, Topics: []string{"https://example.net/foo/" + r[3]}, Private: true},
			{Name: "private URL pattern", Params: [][2]string{p("https://example.net/foo/:random")}, Topics: []string{"https://example.net/foo/" + r[4]}, Private: true},
		}
	}
	for i := range cs {
		topics, _ := json.Marshal(cs[i].Topics)
		cs[i].ID = "id-" + string(topics)
		cs[i].Data = "data for\n\n        " + cs[i].Name
		cs[i].Token = tok
		cs[i].EndParam = "topic"
		if draft == 8 {
			cs[i].EndParam = "match"
		}
	}
	return cs
}

// TestServeMercureConformance runs the reference hub's conformance cases
// for both revisions in Chromium against herald serve configured with
// flags alone, from a page loaded from "/" on the hub's origin.
func TestServeMercureConformance(t *testing.T) {
	s := startMercureServe(t, conformanceFlags...)
	ctx := browsertest.New(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(s.base+"/")); err != nil {
		t.Fatal(err)
	}
	tok7, tok8 := conformanceTokens(t)
	for _, draft := range []int{7, 8} {
		tok := tok7
		if draft == 8 {
			tok = tok8
		}
		for _, c := range conformanceCases(draft, tok) {
			t.Run(fmt.Sprintf("draft-%02d/%s", draft, c.Name), func(t *testing.T) {
				js, _ := json.Marshal(c)
				tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				out, err := chromedp.Run(tctx, chromedp.Evaluate[string](conformanceJS+"("+string(js)+")", chromedp.EvalAwaitPromise))
				if err != nil {
					t.Fatalf("%v\nconsole: %q", err, browsertest.Console(ctx))
				}
				var res struct {
					Received   bool
					Status     int
					Type, Body string
				}
				if err := json.Unmarshal([]byte(out), &res); err != nil {
					t.Fatal(err)
				}
				if res.Received != c.Received {
					t.Fatalf("received = %v, want %v (%s)", res.Received, c.Received, out)
				}
				if !regexp.MustCompile(`^text/plain(?:$|;.*)`).MatchString(res.Type) || res.Status != 200 || res.Body != c.ID {
					t.Errorf("publish answered %d %q %q, want 200 text/plain %q", res.Status, res.Type, res.Body, c.ID)
				}
			})
		}
	}
}

// TestServeMercureEndpoints: herald serve mounts the protected-resource
// metadata and, with --subscriptions, the subscriptions API; --hub-url
// names the hub.
func TestServeMercureEndpoints(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
	const public = "https://hub.example/.well-known/mercure"
	s := startMercureServe(t, "--jwt-key", conformanceKey, "--issuer", "https://localhost", "--hub-url", public, "--subscriptions", "--anonymous")
	c := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(c.CloseIdleConnections)
	getJSON := func(path string, hdr ...string) (int, map[string]any, http.Header) {
		req, _ := http.NewRequest(http.MethodGet, s.base+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		json.Unmarshal(b, &m)
		return resp.StatusCode, m, resp.Header
	}
	code, md, _ := getJSON("/.well-known/oauth-protected-resource/.well-known/mercure")
	if code != 200 || md["resource"] != public || md["mercure_subscriptions"] != true || md["mercure_cookie"] != true {
		t.Errorf("metadata %d %v", code, md)
	}
	code, _, h := getJSON("/.well-known/mercure/subscriptions")
	if code != 401 || !strings.Contains(h.Get("WWW-Authenticate"), `resource_metadata="https://hub.example/.well-known/oauth-protected-resource/.well-known/mercure"`) {
		t.Errorf("API without a token: %d %v", code, h)
	}
	tok, err := auth.SignHMAC([]byte(conformanceKey), auth.TokenSpec{Draft: 8, Issuer: "https://localhost", Audience: public, TTL: time.Minute,
		Subscribe: []string{"/.well-known/mercure/subscriptions"}})
	if err != nil {
		t.Fatal(err)
	}
	code, coll, _ := getJSON("/.well-known/mercure/subscriptions", "Authorization", "Bearer "+tok)
	if code != 200 || coll["type"] != "Subscriptions" {
		t.Errorf("API: %d %v", code, coll)
	}
	// A relative URL pattern resolves against --hub-url.
	form := url.Values{"topic": {"https://hub.example/books/1"}, "data": {"x"}}
	pubTok, _ := auth.SignHMAC([]byte(conformanceKey), auth.TokenSpec{Publish: []string{"*"}})
	req, _ := http.NewRequest(http.MethodGet, s.base+"/.well-known/mercure?match_urlpattern="+url.QueryEscape("/books/:id"), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := c.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	preq, _ := http.NewRequest(http.MethodPost, s.base+"/.well-known/mercure", strings.NewReader(form.Encode()))
	preq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	preq.Header.Set("Authorization", "Bearer "+pubTok)
	presp, err := c.Do(preq)
	if err != nil {
		t.Fatal(err)
	}
	presp.Body.Close()
	buf := make([]byte, 4096)
	var got strings.Builder
	for !strings.Contains(got.String(), "data: x") {
		n, err := resp.Body.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			t.Fatalf("stream ended: %v (%q)", err, got.String())
		}
	}
	cancel()
}

// TestServeMercureKeys: herald serve verifies tokens with PEM public keys
// and a JWKS file bound to --issuer, under an algorithm allow-list; with no
// HMAC secret configured, HS256 tokens are refused.
func TestServeMercureKeys(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
	const iss = "https://auth.example"
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	pemFile := writePEM(t, "PUBLIC KEY", der)
	ecb, _ := ecKey.PublicKey.Bytes()
	enc := func(b []byte) string { return strings.TrimRight(base64URL(b), "=") }
	jwks, _ := json.Marshal(map[string]any{"keys": []any{map[string]any{"kty": "EC", "crv": "P-256", "kid": "ec1", "x": enc(ecb[1:33]), "y": enc(ecb[33:])}}})
	jwksFile := filepath.Join(t.TempDir(), "jwks.json")
	os.WriteFile(jwksFile, jwks, 0o600)
	s := startMercureServe(t, "--issuer", iss, "--jwt-public-key", pemFile, "--jwks", jwksFile, "--jwt-algorithms", "RS256,ES256")
	hub := s.base + "/.well-known/mercure"
	c := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(c.CloseIdleConnections)
	publish := func(tok string) int {
		req, _ := http.NewRequest(http.MethodPost, hub, strings.NewReader("topic=t&data=x"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	spec := auth.TokenSpec{Draft: 8, Issuer: iss, Audience: hub, TTL: time.Minute, Publish: []string{"*"}}
	rs, _ := auth.Sign(rsaKey, "", spec)
	spec.KeyID = "ec1"
	es, _ := auth.Sign(ecKey, "", spec)
	ps, _ := auth.Sign(rsaKey, "PS256", spec)
	hs, _ := auth.Sign([]byte("any-secret-at-all"), "", spec)
	for name, tc := range map[string]struct {
		tok  string
		want int
	}{"RS256 from the PEM key": {rs, 200}, "ES256 from the JWKS": {es, 200}, "PS256 not allowed": {ps, 401}, "HS256 without a secret": {hs, 401}} {
		if got := publish(tc.tok); got != tc.want {
			t.Errorf("%s: %d, want %d", name, got, tc.want)
		}
	}
}

func base64URL(b []byte) string { return base64.URLEncoding.EncodeToString(b) }
