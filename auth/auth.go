// Package auth verifies and mints the JSON Web Tokens of the Mercure
// protocol, in both revisions Herald serves:
//
//   - draft-07: a JWT with a "mercure" claim {"publish": [...],
//     "subscribe": [...], "payload": ...}, carried in an Authorization
//     header, an "authorization" query parameter or a cookie
//     (mercureAuthorization by default);
//   - draft-08: an RFC 9068 access token (header typ "at+jwt") whose
//     "authorization_details" (RFC 9396) list the allowed actions and
//     topics, bound to a trusted issuer ("iss") and to this hub ("aud"),
//     with a required expiry, carried in an Authorization header or a
//     cookie (__Secure-mercure_access_token by default) — never in the
//     query string.
//
// Keys are HMAC secrets, RSA, ECDSA and Ed25519 public keys (PEM), JSON Web
// Key Sets from a file or, cached and refreshed, from a URL. Algorithms come
// from an allow-list and must fit the key; "none" and keys carried by the
// token itself (jwk, jku, x5u, x5c headers) are always refused.
//
// A Verifier is a herald.Authorizer. Metadata serves the RFC 9728
// protected-resource metadata document.
package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/topic"
)

// Cookie and parameter names of both revisions.
const (
	DefaultCookieName = herald.CookieName07   // draft-07: "mercureAuthorization"
	AccessTokenCookie = herald.CookieName08   // draft-08: "__Secure-mercure_access_token"
	QueryParameter    = "authorization"       // draft-07 only
	AccessTokenQuery  = "access_token"        // RFC 6750 §2.3: never accepted here
	DefaultHubPath    = herald.DefaultHubPath // "/.well-known/mercure"
	metadataPrefix    = "/.well-known/oauth-protected-resource"
	accessTokenType   = "at+jwt"
	accessTokenTypeMT = "application/at+jwt"
)

// DefaultAlgorithms is the algorithm allow-list when Config.Algorithms is
// empty. "none" is never allowed, whatever the list says.
var DefaultAlgorithms = []string{
	"HS256", "HS384", "HS512",
	"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512", "EdDSA",
}

// forbiddenHeaders are JOSE header parameters that carry or point to key
// material. A hub must pick keys from its own configuration only, so a
// token that brings its own is refused outright.
var forbiddenHeaders = []string{"jwk", "jku", "x5u", "x5c"}

// Config configures a Verifier.
type Config struct {
	// PublisherKeys verify the tokens of publish requests.
	PublisherKeys []Key
	// SubscriberKeys verify the tokens of subscribe requests and of the
	// subscriptions API.
	SubscriberKeys []Key
	// PublisherJWKS and SubscriberJWKS are key sets fetched from URLs,
	// trusted like the keys above. The same set may serve both roles.
	PublisherJWKS, SubscriberJWKS []*RemoteJWKS

	// Audience is the hub's resource identifier: draft-08 tokens must list
	// it in "aud". Default HubURL, or else the URL the request reached the
	// hub at.
	Audience string
	// Audience07, when set, is required in draft-07 tokens' "aud"; by
	// default draft-07 tokens are not checked for an audience, as the
	// reference hub does not check them.
	Audience07 string
	// HubURL is the hub's public URL, e.g.
	// "https://example.com/.well-known/mercure". Relative URL patterns in
	// tokens are resolved against it. Default: derived from each request.
	HubURL string

	// CookieName is the draft-07 cookie; default "mercureAuthorization".
	CookieName string
	// AccessTokenCookieName is the draft-08 cookie; default
	// "__Secure-mercure_access_token".
	AccessTokenCookieName string

	// Algorithms is the allow-list; default DefaultAlgorithms.
	Algorithms []string
	// Leeway tolerates clock skew on exp and nbf. Default 0.
	Leeway time.Duration
	// MaxDetails and MaxMatchers bound a draft-08 token's mercure
	// authorization details and their topic matchers (defaults 100 each);
	// MaxSelectors bounds each list of a draft-07 mercure claim (default
	// 100).
	MaxDetails, MaxMatchers, MaxSelectors int
	// Now returns the current time; default time.Now.
	Now func() time.Time
}

// A Verifier checks the tokens of requests to the hub. It is safe for
// concurrent use.
type Verifier struct {
	cfg Config
}

// New returns a verifier for cfg.
func New(cfg Config) (*Verifier, error) {
	if len(cfg.PublisherKeys)+len(cfg.SubscriberKeys)+len(cfg.PublisherJWKS)+len(cfg.SubscriberJWKS) == 0 {
		return nil, errors.New("auth: no key: set at least one publisher or subscriber key")
	}
	for _, list := range [][]Key{cfg.PublisherKeys, cfg.SubscriberKeys} {
		for _, k := range list {
			if k.key == nil {
				return nil, errors.New("auth: a zero Key was configured")
			}
		}
	}
	if cfg.CookieName == "" {
		cfg.CookieName = DefaultCookieName
	}
	if cfg.AccessTokenCookieName == "" {
		cfg.AccessTokenCookieName = AccessTokenCookie
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = DefaultAlgorithms
	}
	cfg.Algorithms = slices.DeleteFunc(slices.Clone(cfg.Algorithms), func(a string) bool {
		return strings.EqualFold(a, "none")
	})
	for _, a := range cfg.Algorithms {
		if !slices.Contains(DefaultAlgorithms, a) {
			return nil, fmt.Errorf("auth: unsupported algorithm %q (supported: %s)", a, strings.Join(DefaultAlgorithms, ", "))
		}
	}
	if len(cfg.Algorithms) == 0 {
		return nil, errors.New("auth: the algorithm allow-list is empty")
	}
	if cfg.HubURL != "" {
		if u, err := url.Parse(cfg.HubURL); err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("auth: HubURL %q is not an absolute URL", cfg.HubURL)
		}
	}
	if cfg.MaxDetails <= 0 {
		cfg.MaxDetails = DefaultMaxDetails
	}
	if cfg.MaxMatchers <= 0 {
		cfg.MaxMatchers = DefaultMaxMatches
	}
	if cfg.MaxSelectors <= 0 {
		cfg.MaxSelectors = topic.DefaultMaxCount
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Verifier{cfg: cfg}, nil
}

// Config returns the verifier's configuration, with defaults filled in.
func (v *Verifier) Config() Config { return v.cfg }

// A presented token and how it came.
type presented struct {
	raw        string
	fromQuery  bool
	fromCookie bool
}

// tokenFrom finds the request's token, in the precedence both revisions
// define: the Authorization header, then the draft-07 query parameter, then
// the cookies. A draft-08 access_token query parameter is refused: tokens
// in URLs end up in logs.
func (v *Verifier) tokenFrom(r *http.Request) (presented, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, rest, _ := strings.Cut(h, " ")
		if strings.EqualFold(scheme, "Bearer") {
			tok := strings.TrimSpace(rest)
			if tok == "" {
				return presented{}, &herald.AuthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: `the Authorization header must be "Bearer <token>"`}
			}
			return presented{raw: tok}, nil
		}
		// Another scheme (Basic, say, added by a proxy) carries no bearer
		// token: look for one elsewhere.
	}
	q := r.URL.Query()
	if _, ok := q[AccessTokenQuery]; ok {
		return presented{}, &herald.AuthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "tokens are not accepted in the access_token query parameter: use the Authorization header or the cookie"}
	}
	if vals := q[QueryParameter]; len(vals) > 0 && vals[0] != "" {
		return presented{raw: vals[0], fromQuery: true}, nil
	}
	for _, name := range []string{v.cfg.CookieName, v.cfg.AccessTokenCookieName} {
		if c, err := r.Cookie(name); err == nil && c.Value != "" {
			return presented{raw: c.Value, fromCookie: true}, nil
		}
	}
	return presented{}, nil
}

// invalid is a 401 invalid_token. Per draft-08 the client is not told why
// a token failed beyond its lifetime; the cause goes to the hub's log.
func invalid(desc string, err error) *herald.AuthError {
	return &herald.AuthError{Status: http.StatusUnauthorized, Code: "invalid_token", Description: desc, Err: err}
}

const genericInvalid = "the token is not valid"

// Authorize implements herald.Authorizer. It returns nil claims and a nil
// error when the request carries no token.
func (v *Verifier) Authorize(r *http.Request, action herald.Action) (*herald.Claims, error) {
	p, err := v.tokenFrom(r)
	if err != nil || p.raw == "" {
		return nil, err
	}
	return v.verify(r.Context(), p, v.hubURL(r), action)
}

// Verify checks a raw token for action, as if presented in an
// Authorization header to the hub at hubURL (which may be empty when
// Config.HubURL is set).
func (v *Verifier) Verify(ctx context.Context, raw, hubURL string, action herald.Action) (*herald.Claims, error) {
	if hubURL == "" {
		hubURL = v.cfg.HubURL
	}
	return v.verify(ctx, presented{raw: raw}, hubURL, action)
}

func (v *Verifier) verify(ctx context.Context, p presented, hubURL string, action herald.Action) (*herald.Claims, error) {
	static, remote := v.cfg.SubscriberKeys, v.cfg.SubscriberJWKS
	if action == herald.ActionPublish {
		static, remote = v.cfg.PublisherKeys, v.cfg.PublisherJWKS
	}
	if len(static) == 0 && len(remote) == 0 {
		return nil, invalid(genericInvalid, fmt.Errorf("no key is configured for %s tokens", action))
	}
	mc := jwt.MapClaims{}
	parser := jwt.NewParser(
		jwt.WithValidMethods(v.cfg.Algorithms),
		jwt.WithLeeway(v.cfg.Leeway),
		jwt.WithTimeFunc(v.cfg.Now),
		jwt.WithJSONNumber(),
	)
	tok, err := parser.ParseWithClaims(p.raw, mc, func(t *jwt.Token) (any, error) {
		for _, h := range forbiddenHeaders {
			if _, ok := t.Header[h]; ok {
				return nil, fmt.Errorf("the token carries its own key material (%q header)", h)
			}
		}
		if _, ok := t.Header["crit"]; ok {
			return nil, errors.New(`the token has critical header extensions ("crit") this hub does not understand`)
		}
		if alg, _ := t.Header["alg"].(string); strings.EqualFold(alg, "none") {
			return nil, errors.New(`"alg": "none" is never accepted`)
		}
		iss, _ := mc["iss"].(string)
		kid, _ := t.Header["kid"].(string)
		at := isAccessToken(t)
		keys := static
		for _, set := range remote {
			keys = append(slices.Clip(keys), set.keysFor(ctx, kid)...)
		}
		var ks jwt.VerificationKeySet
		for _, k := range keys {
			if at {
				// An access token is verified only with its issuer's keys,
				// never a pool spanning issuers.
				if iss == "" || k.Issuer != iss {
					continue
				}
			} else if iss != "" && k.Issuer != "" && k.Issuer != iss {
				continue
			}
			if k.fits(t.Method) && k.matchesKID(kid) {
				ks.Keys = append(ks.Keys, k.key)
			}
		}
		if len(ks.Keys) == 0 {
			return nil, fmt.Errorf("no trusted key for alg %s, kid %q, issuer %q", t.Method.Alg(), kid, iss)
		}
		return ks, nil
	})
	if err != nil {
		return nil, invalid(describe(err), err)
	}
	c := &herald.Claims{FromCookie: p.fromCookie}
	if sub, _ := mc.GetSubject(); sub != "" {
		c.Subject = sub
	}
	if exp, _ := mc.GetExpirationTime(); exp != nil {
		c.Expires = exp.Time
	}
	tp := topic.Parser{BaseURL: hubURL, MaxCount: v.cfg.MaxSelectors}
	if isAccessToken(tok) {
		if p.fromQuery {
			return nil, &herald.AuthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "an access token must not be sent in the query string"}
		}
		if err := v.checkAccessToken(mc, hubURL); err != nil {
			return nil, err
		}
		c.Draft = 8
		if err := parseDetails(mc["authorization_details"], tp, v.cfg.MaxDetails, v.cfg.MaxMatchers, c); err != nil {
			return nil, invalid(genericInvalid, fmt.Errorf("authorization_details: %w", err))
		}
		return c, nil
	}
	c.Draft = 7
	_, hasDetails := mc["authorization_details"]
	raw, hasMercure := mc["mercure"]
	if hasDetails && !hasMercure {
		return nil, invalid(genericInvalid, errors.New(`a token with authorization_details must have the header "typ": "at+jwt"`))
	}
	if v.cfg.Audience07 != "" {
		aud, _ := mc.GetAudience()
		if !slices.Contains(aud, v.cfg.Audience07) {
			return nil, invalid(genericInvalid, errors.New("the token's audience is not this hub"))
		}
	}
	if hasMercure {
		if err := parseMercureClaim(raw, tp, c); err != nil {
			return nil, invalid(genericInvalid, err)
		}
	}
	return c, nil
}

// checkAccessToken applies RFC 9068 as draft-08 profiles it: an issuer
// (whose keys verified the signature), this hub in the audience, and an
// expiry.
func (v *Verifier) checkAccessToken(mc jwt.MapClaims, hubURL string) error {
	if iss, _ := mc.GetIssuer(); iss == "" {
		return invalid(genericInvalid, errors.New("an access token must name its issuer (iss)"))
	}
	if exp, _ := mc.GetExpirationTime(); exp == nil {
		return invalid(genericInvalid, errors.New("an access token must have an expiry (exp)"))
	}
	want := v.cfg.Audience
	if want == "" {
		want = hubURL
	}
	aud, err := mc.GetAudience()
	if err != nil || !slices.Contains(aud, want) {
		return invalid(genericInvalid, fmt.Errorf("the token's audience %v does not contain this hub's resource identifier %q", aud, want))
	}
	return nil
}

// hubURL is the hub URL used as a base for relative URL patterns and as the
// default audience: the configured one, or the URL the request reached the
// hub at.
func (v *Verifier) hubURL(r *http.Request) string {
	if v.cfg.HubURL != "" {
		return v.cfg.HubURL
	}
	return herald.RequestHubURL(r)
}

func isAccessToken(t *jwt.Token) bool {
	typ, _ := t.Header["typ"].(string)
	return strings.EqualFold(typ, accessTokenType) || strings.EqualFold(typ, accessTokenTypeMT)
}

// describe says what the client may learn about a failed token: whether it
// expired or is not valid yet (so that it fetches a new one); anything else
// is just "not valid".
func describe(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "the token has expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "the token is not valid yet"
	}
	return genericInvalid
}
