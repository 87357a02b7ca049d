package auth_test

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
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/auth"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	secret   = "auth-test-secret-not-a-secret-at-all"
	issuer   = "https://issuer.example"
	hubURL   = "https://hub.example/.well-known/mercure"
	resource = hubURL
)

var (
	keysOnce sync.Once
	rsaKey   *rsa.PrivateKey
	ecKey    *ecdsa.PrivateKey
	ec384Key *ecdsa.PrivateKey
	edKey    ed25519.PrivateKey
)

func testKeys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
		if ec384Key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
			panic(err)
		}
		if _, edKey, err = ed25519.GenerateKey(rand.Reader); err != nil {
			panic(err)
		}
	})
}

func pubPEM(t testing.TB, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func pubKey(t testing.TB, pub any, iss string) auth.Key {
	t.Helper()
	k, err := auth.ParsePublicKeyPEM(pubPEM(t, pub))
	if err != nil {
		t.Fatal(err)
	}
	k.Issuer = iss
	return k
}

func hmacKey(iss string) auth.Key {
	k := auth.HMACKey([]byte(secret))
	k.Issuer = iss
	return k
}

func verifier(t testing.TB, cfg auth.Config) *auth.Verifier {
	t.Helper()
	if cfg.HubURL == "" {
		cfg.HubURL = hubURL
	}
	v, err := auth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func both(keys ...auth.Key) auth.Config {
	return auth.Config{PublisherKeys: keys, SubscriberKeys: keys}
}

// sign signs claims with key and alg, adding header fields.
func sign(t testing.TB, alg string, key any, claims jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(alg), claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// at returns the claims of a valid draft-08 access token granting
// subscribe on "*".
func at() jwt.MapClaims {
	return jwt.MapClaims{
		"iss": issuer,
		"aud": resource,
		"exp": time.Now().Add(time.Hour).Unix(),
		"authorization_details": []any{map[string]any{
			"type": "mercure", "actions": []any{"subscribe", "publish"},
			"topics": []any{map[string]any{"match": "*"}},
		}},
	}
}

var atHeader = map[string]any{"typ": "at+jwt"}

func request(tok string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, hubURL+"?match=x", nil)
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	return r
}

// wantCode checks that err is an AuthError with the status and code.
func wantCode(t *testing.T, err error, status int, code string) {
	t.Helper()
	var ae *herald.AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("got %v, want an AuthError %d %s", err, status, code)
	}
	if ae.Status != status || ae.Code != code {
		t.Fatalf("got %d %q (%v), want %d %q", ae.Status, ae.Code, ae, status, code)
	}
}

func TestDraft08AccessTokenValid(t *testing.T) {
	testKeys(t)
	v := verifier(t, both(hmacKey(issuer)))
	c, err := v.Authorize(request(sign(t, "HS256", []byte(secret), at(), atHeader)), herald.ActionSubscribe)
	if err != nil {
		t.Fatal(err)
	}
	if c.Draft != 8 || len(c.Subscribe) != 1 || len(c.Publish) != 1 || c.Expires.IsZero() {
		t.Fatalf("claims %+v", c)
	}
	// "application/at+jwt" is the same type (RFC 9068), case-insensitively.
	if _, err := v.Authorize(request(sign(t, "HS256", []byte(secret), at(), map[string]any{"typ": "Application/AT+JWT"})), herald.ActionSubscribe); err != nil {
		t.Fatal(err)
	}
	// aud may be an array holding the resource identifier.
	c2 := at()
	c2["aud"] = []any{"https://other.example", resource}
	if _, err := v.Authorize(request(sign(t, "HS256", []byte(secret), c2, atHeader)), herald.ActionSubscribe); err != nil {
		t.Fatal(err)
	}
}

// TestTokenFailures covers each way a token fails validation: every one is
// a 401 invalid_token, and the description tells only about lifetime.
func TestTokenFailures(t *testing.T) {
	testKeys(t)
	rsaOnly := verifier(t, both(pubKey(t, &rsaKey.PublicKey, issuer)))
	hmacOnly := verifier(t, both(hmacKey(issuer)))
	mod := func(f func(jwt.MapClaims)) jwt.MapClaims {
		c := at()
		f(c)
		return c
	}
	noneTok := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodNone, at())
		tok.Header["typ"] = "at+jwt"
		s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, tc := range []struct {
		name string
		v    *auth.Verifier
		tok  string
		desc string
	}{
		{"expired", hmacOnly, sign(t, "HS256", []byte(secret), mod(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Minute).Unix() }), atHeader), "the token has expired"},
		{"not yet valid", hmacOnly, sign(t, "HS256", []byte(secret), mod(func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Hour).Unix() }), atHeader), "the token is not valid yet"},
		{"wrong issuer", hmacOnly, sign(t, "HS256", []byte(secret), mod(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" }), atHeader), ""},
		{"no issuer", hmacOnly, sign(t, "HS256", []byte(secret), mod(func(c jwt.MapClaims) { delete(c, "iss") }), atHeader), ""},
		{"wrong audience", hmacOnly, sign(t, "HS256", []byte(secret), mod(func(c jwt.MapClaims) { c["aud"] = "https://other.example/.well-known/mercure" }), atHeader), ""},
		{"no audience", hmacOnly, sign(t, "HS256", []byte(secret), mod(func(c jwt.MapClaims) { delete(c, "aud") }), atHeader), ""},
		{"no expiry", hmacOnly, sign(t, "HS256", []byte(secret), mod(func(c jwt.MapClaims) { delete(c, "exp") }), atHeader), ""},
		{"wrong key", hmacOnly, sign(t, "HS256", []byte("another-secret-of-enough-length!!"), at(), atHeader), ""},
		{"alg none", hmacOnly, noneTok(), ""},
		{"hmac token against an RSA key", rsaOnly, sign(t, "HS256", pubPEM(t, &rsaKey.PublicKey), at(), atHeader), ""},
		{"RSA token with an HMAC-only hub", hmacOnly, sign(t, "RS256", rsaKey, at(), atHeader), ""},
		{"ES256 token against an RSA key", rsaOnly, sign(t, "ES256", ecKey, at(), atHeader), ""},
		{"token-supplied jwk", rsaOnly, sign(t, "RS256", rsaKey, at(), map[string]any{"typ": "at+jwt", "jwk": map[string]any{"kty": "RSA"}}), ""},
		{"token-supplied jku", rsaOnly, sign(t, "RS256", rsaKey, at(), map[string]any{"typ": "at+jwt", "jku": "https://evil.example/jwks"}), ""},
		{"token-supplied x5u", rsaOnly, sign(t, "RS256", rsaKey, at(), map[string]any{"typ": "at+jwt", "x5u": "https://evil.example/cert"}), ""},
		{"token-supplied x5c", rsaOnly, sign(t, "RS256", rsaKey, at(), map[string]any{"typ": "at+jwt", "x5c": []any{"MIIB"}}), ""},
		{"critical extension", hmacOnly, sign(t, "HS256", []byte(secret), at(), map[string]any{"typ": "at+jwt", "crit": []any{"exp"}}), ""},
		{"malformed", hmacOnly, "not.a.token", ""},
		{"details without at+jwt", hmacOnly, sign(t, "HS256", []byte(secret), at(), nil), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.v.Authorize(request(tc.tok), herald.ActionSubscribe)
			if c != nil {
				t.Fatalf("accepted: %+v", c)
			}
			wantCode(t, err, http.StatusUnauthorized, "invalid_token")
			var ae *herald.AuthError
			errors.As(err, &ae)
			want := tc.desc
			if want == "" {
				want = "the token is not valid"
			}
			if ae.Description != want {
				t.Errorf("description %q, want %q (details stay in the log)", ae.Description, want)
			}
		})
	}
}

func TestMalformedAuthorizationDetails(t *testing.T) {
	v := verifier(t, both(hmacKey(issuer)))
	detail := func(d any) jwt.MapClaims {
		c := at()
		c["authorization_details"] = d
		return c
	}
	ok := map[string]any{"type": "mercure", "actions": []any{"subscribe"}, "topics": []any{map[string]any{"match": "*"}}}
	with := func(k string, v any) map[string]any {
		d := map[string]any{}
		for kk, vv := range ok {
			d[kk] = vv
		}
		if v == nil {
			delete(d, k)
		} else {
			d[k] = v
		}
		return d
	}
	many := make([]any, 101)
	for i := range many {
		many[i] = ok
	}
	manyTopics := make([]any, 101)
	for i := range manyTopics {
		manyTopics[i] = map[string]any{"match": "t"}
	}
	for name, d := range map[string]any{
		"not an array":             map[string]any{"type": "mercure"},
		"entry not an object":      []any{"mercure"},
		"entry without type":       []any{with("type", nil)},
		"no actions":               []any{with("actions", nil)},
		"empty actions":            []any{with("actions", []any{})},
		"non-string action":        []any{with("actions", []any{1})},
		"no topics":                []any{with("topics", nil)},
		"empty topics":             []any{with("topics", []any{})},
		"topic not an object":      []any{with("topics", []any{"*"})},
		"topic without match":      []any{with("topics", []any{map[string]any{"match_type": "exact"}})},
		"empty match":              []any{with("topics", []any{map[string]any{"match": ""}})},
		"unknown match_type":       []any{with("topics", []any{map[string]any{"match": "x", "match_type": "regexp"}})},
		"match_type wrong case":    []any{with("topics", []any{map[string]any{"match": "x", "match_type": "URLPattern"}})},
		"invalid URL pattern":      []any{with("topics", []any{map[string]any{"match": "https://x/(", "match_type": "urlpattern"}})},
		"control character":        []any{with("topics", []any{map[string]any{"match": "a\x01b"}})},
		"payload not an object":    []any{with("payload", "text")},
		"too many details":         many,
		"too many topics":          []any{with("topics", manyTopics)},
		"one bad among good ones":  []any{ok, with("actions", "subscribe")},
		"match longer than limits": []any{with("topics", []any{map[string]any{"match": strings.Repeat("a", 5000)}})},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := v.Authorize(request(sign(t, "HS256", []byte(secret), detail(d), atHeader)), herald.ActionSubscribe)
			if c != nil {
				t.Fatalf("accepted: %+v", c)
			}
			wantCode(t, err, http.StatusUnauthorized, "invalid_token")
		})
	}
}

func TestAuthorizationDetailsGrants(t *testing.T) {
	v := verifier(t, both(hmacKey(issuer)))
	c := at()
	c["authorization_details"] = []any{
		// Another resource's detail: ignored, whatever its shape.
		map[string]any{"type": "payment_initiation", "topics": "not ours"},
		// Unknown actions grant nothing and do not invalidate the token.
		map[string]any{"type": "mercure", "actions": []any{"future-action"}, "topics": []any{map[string]any{"match": "ignored"}}},
		map[string]any{"type": "mercure", "actions": []any{"publish"}, "topics": []any{map[string]any{"match": "https://example.com/p/:id", "match_type": "urlpattern"}}},
		map[string]any{"type": "https://mercure.rocks/authorization-detail", "actions": []any{"subscribe"},
			"topics": []any{map[string]any{"match": "https://example.com/s/1"}}, "payload": map[string]any{"a": 1}},
		// The interim drafts' camelCase spelling.
		map[string]any{"type": "mercure", "actions": []any{"subscribe"}, "topics": []any{map[string]any{"match": "/rel/:x", "matchType": "URLPattern"}}},
	}
	claims, err := v.Authorize(request(sign(t, "HS256", []byte(secret), c, atHeader)), herald.ActionPublish)
	if err != nil {
		t.Fatal(err)
	}
	match := func(sels []topicSel, topic string) bool {
		for _, s := range sels {
			if s.Match(topic) {
				return true
			}
		}
		return false
	}
	pub, sub := asSels(claims.Publish), asSels(claims.Subscribe)
	for _, tc := range []struct {
		sels  []topicSel
		topic string
		want  bool
	}{
		{pub, "https://example.com/p/42", true},
		{pub, "https://example.com/s/1", false},
		{pub, "ignored", false},
		{sub, "https://example.com/s/1", true},
		{sub, "https://example.com/s/2", false},
		// A relative pattern is resolved against the hub URL, and so is a
		// relative topic.
		{sub, "https://hub.example/rel/7", true},
		{sub, "/rel/7", true},
		{sub, "ignored", false},
	} {
		if got := match(tc.sels, tc.topic); got != tc.want {
			t.Errorf("match %q = %v, want %v", tc.topic, got, tc.want)
		}
	}
	if len(claims.Payloads) != 2 || string(claims.Payloads[0].Payload) != `{"a":1}` {
		t.Errorf("payloads %+v", claims.Payloads)
	}
}

type topicSel interface{ Match(string) bool }

func asSels[S topicSel](in []S) []topicSel {
	out := make([]topicSel, len(in))
	for i, s := range in {
		out[i] = s
	}
	return out
}

func TestDraft07Tokens(t *testing.T) {
	// A hub bound to an issuer still accepts draft-07 tokens without
	// "iss" (the reference hub's tokens have none).
	v := verifier(t, both(hmacKey(issuer)))
	tok, err := auth.SignHMAC([]byte(secret), auth.TokenSpec{Publish: []string{"https://example.com/books/{id}"}, Subscribe: []string{"*"}, Payload: map[string]any{"u": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Authorize(request(tok), herald.ActionPublish)
	if err != nil {
		t.Fatal(err)
	}
	if c.Draft != 7 || !c.Publish[0].Match("https://example.com/books/9") || string(c.Payload) != `{"u":"x"}` {
		t.Fatalf("claims %+v", c)
	}
	// No exp is fine in draft-07; an exp in the past is not.
	expired := sign(t, "HS256", []byte(secret), jwt.MapClaims{"mercure": map[string]any{"subscribe": []any{"*"}}, "exp": time.Now().Add(-time.Second).Unix()}, nil)
	_, err = v.Authorize(request(expired), herald.ActionSubscribe)
	wantCode(t, err, http.StatusUnauthorized, "invalid_token")
	// A draft-07 token naming another issuer is not verified by keys bound
	// to this one.
	other := sign(t, "HS256", []byte(secret), jwt.MapClaims{"iss": "https://evil.example", "mercure": map[string]any{}}, nil)
	_, err = v.Authorize(request(other), herald.ActionSubscribe)
	wantCode(t, err, http.StatusUnauthorized, "invalid_token")
	// A malformed mercure claim.
	bad := sign(t, "HS256", []byte(secret), jwt.MapClaims{"mercure": map[string]any{"publish": "*"}}, nil)
	_, err = v.Authorize(request(bad), herald.ActionPublish)
	wantCode(t, err, http.StatusUnauthorized, "invalid_token")
	// Audience07, when set, is enforced.
	va := verifier(t, auth.Config{SubscriberKeys: []auth.Key{hmacKey("")}, Audience07: "https://hub.example"})
	_, err = va.Authorize(request(tok), herald.ActionSubscribe)
	wantCode(t, err, http.StatusUnauthorized, "invalid_token")
}

// TestDraft08NeedsBoundIssuer: access tokens are verified only with keys
// bound to their issuer, never a pool spanning issuers.
func TestDraft08NeedsBoundIssuer(t *testing.T) {
	v := verifier(t, both(hmacKey("")))
	_, err := v.Authorize(request(sign(t, "HS256", []byte(secret), at(), atHeader)), herald.ActionSubscribe)
	wantCode(t, err, http.StatusUnauthorized, "invalid_token")
	testKeys(t)
	// Two issuers: a token from A signed with B's key is refused.
	v2 := verifier(t, both(pubKey(t, &rsaKey.PublicKey, "https://a.example"), pubKey(t, &ecKey.PublicKey, "https://b.example")))
	c := at()
	c["iss"] = "https://a.example"
	_, err = v2.Authorize(request(sign(t, "ES256", ecKey, c, atHeader)), herald.ActionSubscribe)
	wantCode(t, err, http.StatusUnauthorized, "invalid_token")
	if _, err := v2.Authorize(request(sign(t, "RS256", rsaKey, c, atHeader)), herald.ActionSubscribe); err != nil {
		t.Fatal(err)
	}
}

func TestPublicKeyAlgorithms(t *testing.T) {
	testKeys(t)
	v := verifier(t, both(pubKey(t, &rsaKey.PublicKey, issuer), pubKey(t, &ecKey.PublicKey, issuer), pubKey(t, edKey.Public(), issuer)))
	for _, tc := range []struct {
		alg string
		key any
		ok  bool
	}{
		{"RS256", rsaKey, true},
		{"RS512", rsaKey, true},
		{"PS256", rsaKey, true},
		{"ES256", ecKey, true},
		{"EdDSA", edKey, true},
		{"ES384", ec384Key, false}, // no P-384 key is trusted
	} {
		_, err := v.Authorize(request(sign(t, tc.alg, tc.key, at(), atHeader)), herald.ActionSubscribe)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v, want ok=%v", tc.alg, err, tc.ok)
		}
	}
	// The allow-list: RS256 only.
	vr := verifier(t, auth.Config{SubscriberKeys: []auth.Key{pubKey(t, &rsaKey.PublicKey, issuer), pubKey(t, &ecKey.PublicKey, issuer)}, Algorithms: []string{"RS256", "none"}})
	if _, err := vr.Authorize(request(sign(t, "RS256", rsaKey, at(), atHeader)), herald.ActionSubscribe); err != nil {
		t.Fatal(err)
	}
	_, err := vr.Authorize(request(sign(t, "ES256", ecKey, at(), atHeader)), herald.ActionSubscribe)
	wantCode(t, err, http.StatusUnauthorized, "invalid_token")
	if _, err := auth.New(auth.Config{SubscriberKeys: []auth.Key{hmacKey("")}, Algorithms: []string{"none"}}); err == nil {
		t.Error("an allow-list of only none was accepted")
	}
	if _, err := auth.New(auth.Config{SubscriberKeys: []auth.Key{hmacKey("")}, Algorithms: []string{"HS1"}}); err == nil {
		t.Error("an unknown algorithm was accepted")
	}
	// Small RSA keys are refused.
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	if _, err := auth.ParsePublicKeyPEM(pubPEM(t, &small.PublicKey)); err == nil {
		t.Error("a 1024-bit RSA key was accepted")
	}
}

func TestKeyIDSelection(t *testing.T) {
	testKeys(t)
	a := pubKey(t, &rsaKey.PublicKey, issuer)
	a.ID = "a"
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	b := pubKey(t, &other.PublicKey, issuer)
	b.ID = "b"
	v := verifier(t, both(a, b))
	if _, err := v.Authorize(request(sign(t, "RS256", rsaKey, at(), map[string]any{"typ": "at+jwt", "kid": "a"})), herald.ActionSubscribe); err != nil {
		t.Fatal(err)
	}
	// The right key under the wrong kid: the kid picks b, which fails.
	_, err := v.Authorize(request(sign(t, "RS256", rsaKey, at(), map[string]any{"typ": "at+jwt", "kid": "b"})), herald.ActionSubscribe)
	wantCode(t, err, http.StatusUnauthorized, "invalid_token")
	// An unknown kid brings in no key.
	_, err = v.Authorize(request(sign(t, "RS256", rsaKey, at(), map[string]any{"typ": "at+jwt", "kid": "zzz"})), herald.ActionSubscribe)
	wantCode(t, err, http.StatusUnauthorized, "invalid_token")
	// No kid: every trusted key is tried.
	if _, err := v.Authorize(request(sign(t, "RS256", other, at(), atHeader)), herald.ActionSubscribe); err != nil {
		t.Fatal(err)
	}
}

func TestRoleKeys(t *testing.T) {
	pk := auth.HMACKey([]byte("publisher-secret-of-enough-length"))
	sk := auth.HMACKey([]byte("subscriber-secret-of-enough-length"))
	v := verifier(t, auth.Config{PublisherKeys: []auth.Key{pk}, SubscriberKeys: []auth.Key{sk}})
	subTok, _ := auth.SignHMAC([]byte("subscriber-secret-of-enough-length"), auth.TokenSpec{Publish: []string{"*"}})
	if _, err := v.Authorize(request(subTok), herald.ActionSubscribe); err != nil {
		t.Fatal(err)
	}
	_, err := v.Authorize(request(subTok), herald.ActionPublish)
	wantCode(t, err, http.StatusUnauthorized, "invalid_token")
}

func TestTokenPresentation(t *testing.T) {
	v := verifier(t, auth.Config{SubscriberKeys: []auth.Key{hmacKey(issuer)}, CookieName: "custom07"})
	tok07, _ := auth.SignHMAC([]byte(secret), auth.TokenSpec{Subscribe: []string{"from-07"}})
	tok08 := sign(t, "HS256", []byte(secret), at(), atHeader)
	other07, _ := auth.SignHMAC([]byte(secret), auth.TokenSpec{Subscribe: []string{"other"}})
	get := func(target string, mod func(*http.Request)) (*herald.Claims, error) {
		r := httptest.NewRequest(http.MethodGet, target, nil)
		if mod != nil {
			mod(r)
		}
		return v.Authorize(r, herald.ActionSubscribe)
	}
	cookie := func(name, val string) func(*http.Request) {
		return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: name, Value: val}) }
	}
	// No token at all.
	if c, err := get(hubURL, nil); c != nil || err != nil {
		t.Fatalf("no token: %v %v", c, err)
	}
	// The draft-07 query parameter, the configured cookie and the draft-08
	// cookie each carry a token.
	if c, err := get(hubURL+"?authorization="+tok07, nil); err != nil || c.Draft != 7 || c.FromCookie {
		t.Fatalf("query: %+v %v", c, err)
	}
	if c, err := get(hubURL, cookie("custom07", tok07)); err != nil || !c.FromCookie {
		t.Fatalf("draft-07 cookie: %+v %v", c, err)
	}
	if c, err := get(hubURL, cookie("mercureAuthorization", tok07)); c != nil || err != nil {
		t.Fatalf("the default cookie name was read although renamed: %+v %v", c, err)
	}
	if c, err := get(hubURL, cookie(auth.AccessTokenCookie, tok08)); err != nil || c.Draft != 8 || !c.FromCookie {
		t.Fatalf("draft-08 cookie: %+v %v", c, err)
	}
	// Precedence: header, then query, then cookie.
	c, err := get(hubURL+"?authorization="+other07, func(r *http.Request) {
		r.Header.Set("Authorization", "Bearer "+tok07)
		cookie("custom07", other07)(r)
	})
	if err != nil || c.Subscribe[0].String() != "from-07" || c.FromCookie {
		t.Fatalf("header did not win: %+v %v", c, err)
	}
	c, err = get(hubURL+"?authorization="+tok07, cookie("custom07", other07))
	if err != nil || c.Subscribe[0].String() != "from-07" {
		t.Fatalf("query did not win over the cookie: %+v %v", c, err)
	}
	// Another scheme is not a bearer token: the cookie is used.
	c, err = get(hubURL, func(r *http.Request) {
		r.Header.Set("Authorization", "Basic dXNlcjpwYXNz")
		cookie("custom07", tok07)(r)
	})
	if err != nil || c == nil || !c.FromCookie {
		t.Fatalf("Basic header: %+v %v", c, err)
	}
	// "bearer" is case-insensitive.
	if _, err := get(hubURL, func(r *http.Request) { r.Header.Set("Authorization", "bearer "+tok07) }); err != nil {
		t.Fatal(err)
	}
	// An empty bearer token is a malformed request.
	_, err = get(hubURL, func(r *http.Request) { r.Header.Set("Authorization", "Bearer ") })
	wantCode(t, err, http.StatusBadRequest, "invalid_request")
	// Access tokens never travel in the query string.
	_, err = get(hubURL+"?authorization="+tok08, nil)
	wantCode(t, err, http.StatusBadRequest, "invalid_request")
	_, err = get(hubURL+"?access_token="+tok08, nil)
	wantCode(t, err, http.StatusBadRequest, "invalid_request")
}

func TestAudienceDefaults(t *testing.T) {
	// Without Audience, the hub URL is the resource identifier; without a
	// hub URL either, the URL the request reached.
	v, err := auth.New(both(hmacKey(issuer)))
	if err != nil {
		t.Fatal(err)
	}
	c := at()
	c["aud"] = "http://127.0.0.1:9/.well-known/mercure"
	tok := sign(t, "HS256", []byte(secret), c, atHeader)
	r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:9/.well-known/mercure?match=x", nil)
	if c, err := v.Authorize(r, herald.ActionSubscribe); c != nil || err != nil {
		t.Fatalf("no token: %v %v", c, err)
	}
	r.Header.Set("Authorization", "Bearer "+tok)
	if _, err := v.Authorize(r, herald.ActionSubscribe); err != nil {
		t.Fatal(err)
	}
	r2 := httptest.NewRequest(http.MethodGet, "http://other:9/.well-known/mercure?match=x", nil)
	r2.Header.Set("Authorization", "Bearer "+tok)
	_, err = v.Authorize(r2, herald.ActionSubscribe)
	wantCode(t, err, http.StatusUnauthorized, "invalid_token")
	// Verify does the same without a request.
	if _, err := v.Verify(context.Background(), tok, "http://127.0.0.1:9/.well-known/mercure", herald.ActionSubscribe); err != nil {
		t.Fatal(err)
	}
}

func TestLeewayAndClock(t *testing.T) {
	now := time.Now()
	v := verifier(t, auth.Config{SubscriberKeys: []auth.Key{hmacKey(issuer)}, Leeway: time.Minute, Now: func() time.Time { return now }})
	c := at()
	c["exp"] = now.Add(-30 * time.Second).Unix()
	if _, err := v.Authorize(request(sign(t, "HS256", []byte(secret), c, atHeader)), herald.ActionSubscribe); err != nil {
		t.Fatalf("within the leeway: %v", err)
	}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func jwksJSON(t testing.TB, entries ...map[string]any) []byte {
	b, err := json.Marshal(map[string]any{"keys": entries})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func rsaJWK(k *rsa.PublicKey, kid string) map[string]any {
	e := []byte{byte(k.E >> 16), byte(k.E >> 8), byte(k.E)}
	return map[string]any{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64(k.N.Bytes()), "e": b64(e)}
}

func TestJWKS(t *testing.T) {
	testKeys(t)
	ecb, _ := ecKey.PublicKey.Bytes()
	set := jwksJSON(t,
		rsaJWK(&rsaKey.PublicKey, "r1"),
		map[string]any{"kty": "EC", "kid": "e1", "crv": "P-256", "x": b64(ecb[1:33]), "y": b64(ecb[33:])},
		map[string]any{"kty": "OKP", "kid": "d1", "crv": "Ed25519", "x": b64(edKey.Public().(ed25519.PublicKey))},
		map[string]any{"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"},
		map[string]any{"kty": "oct", "kid": "h1", "k": b64([]byte(secret))},
	)
	keys, err := auth.ParseJWKS(set, issuer, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 4 {
		t.Fatalf("got %d keys, want 4 (the encryption key left out): %v", len(keys), keys)
	}
	v := verifier(t, both(keys...))
	for _, tc := range []struct {
		alg, kid string
		key      any
	}{{"RS256", "r1", rsaKey}, {"ES256", "e1", ecKey}, {"EdDSA", "d1", edKey}, {"HS256", "h1", []byte(secret)}} {
		if _, err := v.Authorize(request(sign(t, tc.alg, tc.key, at(), map[string]any{"typ": "at+jwt", "kid": tc.kid})), herald.ActionSubscribe); err != nil {
			t.Errorf("%s: %v", tc.kid, err)
		}
	}
	// The key's "alg" restricts it: a PS256 token is refused by r1.
	_, err = v.Authorize(request(sign(t, "PS256", rsaKey, at(), map[string]any{"typ": "at+jwt", "kid": "r1"})), herald.ActionSubscribe)
	wantCode(t, err, http.StatusUnauthorized, "invalid_token")
	// A remote set may not hold shared secrets; bad entries are errors.
	if _, err := auth.ParseJWKS(jwksJSON(t, map[string]any{"kty": "oct", "k": b64([]byte(secret))}), "", false); err == nil {
		t.Error("an oct key was accepted from a URL")
	}
	for _, bad := range [][]byte{[]byte(`{}`), []byte(`[`), jwksJSON(t, map[string]any{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}),
		jwksJSON(t, map[string]any{"kty": "RSA", "alg": "none", "n": "AQAB", "e": "AQAB"})} {
		if _, err := auth.ParseJWKS(bad, "", true); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func TestRemoteJWKS(t *testing.T) {
	testKeys(t)
	var mu sync.Mutex
	current := jwksJSON(t, rsaJWK(&rsaKey.PublicKey, "k1"))
	fetches := 0
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		fetches++
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(current)
	}))
	defer srv.Close()
	if _, err := auth.NewRemoteJWKS(auth.RemoteJWKSConfig{URL: "http://example.com/jwks"}); err == nil {
		t.Error("a plain http URL was accepted")
	}
	r, err := auth.NewRemoteJWKS(auth.RemoteJWKSConfig{URL: srv.URL, Issuer: issuer, Client: srv.Client(), Refresh: time.Hour, MinInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	v := verifier(t, auth.Config{SubscriberJWKS: []*auth.RemoteJWKS{r}})
	if _, err := v.Authorize(request(sign(t, "RS256", rsaKey, at(), map[string]any{"typ": "at+jwt", "kid": "k1"})), herald.ActionSubscribe); err != nil {
		t.Fatal(err)
	}
	// Key rotation: a token naming a new kid makes the hub fetch again.
	rotated, _ := rsa.GenerateKey(rand.Reader, 2048)
	mu.Lock()
	current = jwksJSON(t, rsaJWK(&rotated.PublicKey, "k2"))
	mu.Unlock()
	time.Sleep(5 * time.Millisecond) // past MinInterval
	if _, err := v.Authorize(request(sign(t, "RS256", rotated, at(), map[string]any{"typ": "at+jwt", "kid": "k2"})), herald.ActionSubscribe); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	// A failed fetch keeps the last good keys.
	mu.Lock()
	current = []byte("garbage")
	mu.Unlock()
	if err := r.Refresh(context.Background()); err == nil {
		t.Error("garbage accepted")
	}
	if len(r.Keys()) != 1 || r.Keys()[0].ID != "k2" {
		t.Errorf("keys after a failed fetch: %v", r.Keys())
	}
	// The fetch is bounded in time.
	slow := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	rs, err := auth.NewRemoteJWKS(auth.RemoteJWKSConfig{URL: slow.URL, Client: slow.Client(), Timeout: 100 * time.Millisecond, Refresh: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := rs.Refresh(context.Background()); err == nil {
		t.Error("a hanging server gave keys")
	}
	if time.Since(start) > 4*time.Second {
		t.Errorf("the fetch took %v despite a 100ms timeout", time.Since(start))
	}
	rs.Close()
	slow.CloseClientConnections()
}

func TestMetadata(t *testing.T) {
	m := auth.Metadata{Cookie: true, Subscriptions: true, JWKSURI: "https://auth.example/jwks"}
	r := httptest.NewRequest(http.MethodGet, "http://hub.example"+auth.MetadataPath("/.well-known/mercure"), nil)
	w := httptest.NewRecorder()
	m.ServeHTTP(w, r)
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("%d %v", w.Code, w.Header())
	}
	var doc map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["resource"] != "http://hub.example/.well-known/mercure" || doc["mercure_cookie"] != true || doc["mercure_subscriptions"] != true ||
		doc["jwks_uri"] != "https://auth.example/jwks" {
		t.Fatalf("%v", doc)
	}
	if bm, _ := json.Marshal(doc["bearer_methods_supported"]); string(bm) != `["header"]` {
		t.Errorf("bearer methods %s: the query method is not supported", bm)
	}
	if auth.MetadataPath("/.well-known/mercure") != "/.well-known/oauth-protected-resource/.well-known/mercure" {
		t.Error(auth.MetadataPath("/.well-known/mercure"))
	}
	w = httptest.NewRecorder()
	m.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", w.Code)
	}
}

func TestSign(t *testing.T) {
	testKeys(t)
	v := verifier(t, both(pubKey(t, &rsaKey.PublicKey, issuer), pubKey(t, &ec384Key.PublicKey, issuer), pubKey(t, edKey.Public(), issuer), hmacKey(issuer)))
	spec := auth.TokenSpec{Draft: 8, Issuer: issuer, Audience: resource, TTL: time.Minute, Subscribe: []string{"https://example.com/b/:id", "*"}, Payload: map[string]any{"p": 1}, Subject: "me"}
	for _, key := range []any{rsaKey, ec384Key, edKey, []byte(secret)} {
		tok, err := auth.Sign(key, "", spec)
		if err != nil {
			t.Fatal(err)
		}
		c, err := v.Authorize(request(tok), herald.ActionSubscribe)
		if err != nil {
			t.Fatalf("%T: %v", key, err)
		}
		if c.Subject != "me" || !c.Subscribe[0].Match("https://example.com/b/3") || string(c.Payloads[0].Payload) != `{"p":1}` {
			t.Fatalf("%T: %+v", key, c)
		}
	}
	if _, err := auth.Sign(ecKey, "ES384", spec); err == nil {
		t.Error("a P-256 key signed ES384")
	}
	if _, err := auth.Sign([]byte(secret), "none", spec); err == nil {
		t.Error("signed with none")
	}
	if _, err := auth.Sign(rsaKey, "HS256", spec); err == nil {
		t.Error("an RSA key signed HS256")
	}
	if _, err := auth.SignHMAC([]byte(secret), auth.TokenSpec{Draft: 8}); err == nil {
		t.Error("a draft-08 token without issuer, audience and TTL")
	}
	der, _ := x509.MarshalPKCS8PrivateKey(edKey)
	k, err := auth.ParsePrivateKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if err != nil || auth.DefaultAlgorithm(k) != "EdDSA" {
		t.Fatalf("%T %v", k, err)
	}
	if _, err := auth.ParsePrivateKeyPEM([]byte("nope")); err == nil {
		t.Error("garbage parsed")
	}
}
