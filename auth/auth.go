// Package auth verifies and mints the JSON Web Tokens of the Mercure
// protocol, in both revisions Herald serves:
//
//   - draft-07: a JWT with a "mercure" claim {"publish": [...],
//     "subscribe": [...], "payload": ...}, carried in an Authorization
//     header, an "authorization" query parameter or a cookie;
//   - draft-08: an RFC 9068 access token (typ "at+jwt") whose
//     "authorization_details" (RFC 9396) list the allowed actions and
//     topics, carried in an Authorization header or a cookie only.
//
// A Verifier is a herald.Authorizer.
package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/topic"
)

// Cookie and parameter names of both revisions.
const (
	DefaultCookieName = "mercureAuthorization"          // draft-07
	AccessTokenCookie = "__Secure-mercure_access_token" // draft-08
	QueryParameter    = "authorization"                 // draft-07 only
	DetailType        = "https://mercure.rocks/authorization-detail"
)

// DefaultAlgorithms is the algorithm allow-list when Config.Algorithms is
// empty. "none" is never allowed, whatever the list says.
var DefaultAlgorithms = []string{
	"HS256", "HS384", "HS512",
	"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512", "EdDSA",
}

// A Key verifies tokens. Make one with HMACKey or ParsePublicKeyPEM.
type Key struct {
	// Issuer, when set, binds the key to tokens whose "iss" is this value.
	// draft-08 tokens are accepted only from a key bound to their issuer.
	Issuer string

	key any // []byte for HMAC; *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey
}

// HMACKey returns a key that verifies HS256/384/512 tokens with secret.
func HMACKey(secret []byte) Key { return Key{key: append([]byte(nil), secret...)} }

// ParsePublicKeyPEM returns a key that verifies RSA, ECDSA or Ed25519
// signatures with the PEM-encoded public key pem.
func ParsePublicKeyPEM(pem []byte) (Key, error) {
	if k, err := jwt.ParseRSAPublicKeyFromPEM(pem); err == nil {
		return Key{key: k}, nil
	}
	if k, err := jwt.ParseECPublicKeyFromPEM(pem); err == nil {
		return Key{key: k}, nil
	}
	if k, err := jwt.ParseEdPublicKeyFromPEM(pem); err == nil {
		return Key{key: k}, nil
	}
	return Key{}, errors.New("auth: not a PEM-encoded RSA, ECDSA or Ed25519 public key")
}

func (k Key) fits(method jwt.SigningMethod) bool {
	switch k.key.(type) {
	case []byte:
		_, ok := method.(*jwt.SigningMethodHMAC)
		return ok
	default:
		switch method.(type) {
		case *jwt.SigningMethodHMAC:
			return false // an HMAC token against a public key: refused
		}
		return true
	}
}

// Config configures a Verifier.
type Config struct {
	// PublisherKeys verify the tokens of publish requests.
	PublisherKeys []Key
	// SubscriberKeys verify the tokens of subscribe requests.
	SubscriberKeys []Key
	// Audience is the hub's resource identifier: draft-08 tokens must list
	// it in "aud". draft-07 tokens are checked only when Audience07 is set.
	Audience string
	// Audience07, when set, is required in draft-07 tokens' "aud".
	Audience07 string
	// CookieName is the draft-07 cookie; default "mercureAuthorization".
	CookieName string
	// Algorithms is the allow-list; default DefaultAlgorithms.
	Algorithms []string
	// Leeway tolerates clock skew on exp and nbf. Default 0.
	Leeway time.Duration
	// Now returns the current time; default time.Now.
	Now func() time.Time
}

// A Verifier checks the tokens of requests to the hub.
type Verifier struct {
	cfg Config
}

// New returns a verifier for cfg.
func New(cfg Config) (*Verifier, error) {
	if len(cfg.PublisherKeys) == 0 && len(cfg.SubscriberKeys) == 0 {
		return nil, errors.New("auth: no key: set at least one publisher or subscriber key")
	}
	if cfg.CookieName == "" {
		cfg.CookieName = DefaultCookieName
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = DefaultAlgorithms
	}
	cfg.Algorithms = slices.DeleteFunc(slices.Clone(cfg.Algorithms), func(a string) bool {
		return strings.EqualFold(a, "none")
	})
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Verifier{cfg: cfg}, nil
}

// tokenFrom finds the request's token: the Authorization header, then the
// draft-07 query parameter, then the cookies.
func (v *Verifier) tokenFrom(r *http.Request) (tok string, fromQuery, fromCookie bool, err error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, rest, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(rest) == "" {
			return "", false, false, &herald.AuthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "the Authorization header must be \"Bearer <token>\""}
		}
		return strings.TrimSpace(rest), false, false, nil
	}
	if q := r.URL.Query()[QueryParameter]; len(q) > 0 && q[0] != "" {
		return q[0], true, false, nil
	}
	for _, name := range []string{v.cfg.CookieName, AccessTokenCookie} {
		if c, err := r.Cookie(name); err == nil && c.Value != "" {
			return c.Value, false, true, nil
		}
	}
	return "", false, false, nil
}

func invalid(desc string, err error) *herald.AuthError {
	return &herald.AuthError{Status: http.StatusUnauthorized, Code: "invalid_token", Description: desc, Err: err}
}

// Authorize implements herald.Authorizer.
func (v *Verifier) Authorize(r *http.Request, action herald.Action) (*herald.Claims, error) {
	raw, fromQuery, fromCookie, err := v.tokenFrom(r)
	if err != nil || raw == "" {
		return nil, err
	}
	keys := v.cfg.SubscriberKeys
	if action == herald.ActionPublish {
		keys = v.cfg.PublisherKeys
	}
	if len(keys) == 0 {
		return nil, invalid("this hub accepts no token for "+action.String(), nil)
	}
	var mc jwt.MapClaims
	parser := jwt.NewParser(
		jwt.WithValidMethods(v.cfg.Algorithms),
		jwt.WithLeeway(v.cfg.Leeway),
		jwt.WithTimeFunc(v.cfg.Now),
	)
	tok, err := parser.ParseWithClaims(raw, &mc, func(t *jwt.Token) (any, error) {
		iss, _ := mc["iss"].(string)
		var set jwt.VerificationKeySet
		for _, k := range keys {
			// A key bound to an issuer verifies only that issuer's tokens;
			// a draft-07 token without "iss" may use any key.
			if k.Issuer != "" && k.Issuer != iss && (iss != "" || isAccessToken(t)) {
				continue
			}
			if k.fits(t.Method) {
				set.Keys = append(set.Keys, k.key)
			}
		}
		if len(set.Keys) == 0 {
			return nil, fmt.Errorf("no key for algorithm %s and issuer %q", t.Method.Alg(), iss)
		}
		return set, nil
	})
	if err != nil {
		return nil, invalid(describe(err), err)
	}
	c := &herald.Claims{FromCookie: fromCookie}
	if sub, _ := mc.GetSubject(); sub != "" {
		c.Subject = sub
	}
	if exp, _ := mc.GetExpirationTime(); exp != nil {
		c.Expires = exp.Time
	}
	if isAccessToken(tok) {
		if fromQuery {
			return nil, &herald.AuthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "an access token must not be sent in the query string"}
		}
		if err := v.checkAccessToken(r, mc, keys); err != nil {
			return nil, err
		}
		c.Draft = 8
		if err := parseDetails(mc, action, c); err != nil {
			return nil, err
		}
		return c, nil
	}
	if v.cfg.Audience07 != "" {
		aud, _ := mc.GetAudience()
		if !slices.Contains(aud, v.cfg.Audience07) {
			return nil, invalid("the token's audience is not this hub", nil)
		}
	}
	c.Draft = 7
	if err := parseMercureClaim(mc, c); err != nil {
		return nil, err
	}
	return c, nil
}

// checkAccessToken applies RFC 9068: a bound issuer, this hub in the
// audience, and an expiry.
func (v *Verifier) checkAccessToken(r *http.Request, mc jwt.MapClaims, keys []Key) error {
	iss, _ := mc.GetIssuer()
	bound := false
	for _, k := range keys {
		if k.Issuer != "" && k.Issuer == iss {
			bound = true
		}
	}
	if !bound {
		return invalid("the token's issuer is not trusted by this hub", nil)
	}
	if exp, _ := mc.GetExpirationTime(); exp == nil {
		return invalid("an access token must have an expiry (exp)", nil)
	}
	aud, _ := mc.GetAudience()
	want := v.cfg.Audience
	if want == "" {
		want = hubURL(r)
	}
	if !slices.Contains(aud, want) {
		return invalid("the token's audience is not this hub", nil)
	}
	return nil
}

// hubURL is the hub's default resource identifier: the URL it was reached
// at, without the query.
func hubURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.Path
}

func isAccessToken(t *jwt.Token) bool {
	typ, _ := t.Header["typ"].(string)
	return strings.EqualFold(typ, "at+jwt") || strings.EqualFold(typ, "application/at+jwt")
}

func describe(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "the token has expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "the token is not valid yet"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "the token's signature does not verify"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "the token cannot be verified with this hub's keys"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "the token is malformed"
	}
	return "the token is not valid"
}

// parseMercureClaim reads the draft-07 "mercure" claim.
func parseMercureClaim(mc jwt.MapClaims, c *herald.Claims) error {
	raw, ok := mc["mercure"]
	if !ok {
		return nil // a valid token that allows nothing
	}
	b, _ := json.Marshal(raw)
	var m struct {
		Publish   []string        `json:"publish"`
		Subscribe []string        `json:"subscribe"`
		Payload   json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return invalid("the mercure claim is malformed", err)
	}
	var err error
	if c.Publish, err = draft07Selectors(m.Publish); err != nil {
		return invalid("the mercure.publish claim holds an invalid selector", err)
	}
	if c.Subscribe, err = draft07Selectors(m.Subscribe); err != nil {
		return invalid("the mercure.subscribe claim holds an invalid selector", err)
	}
	c.Payload = m.Payload
	return nil
}

func draft07Selectors(exprs []string) ([]topic.Selector, error) {
	out := make([]topic.Selector, 0, len(exprs))
	for _, e := range exprs {
		s, err := topic.ParseDraft07(e)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// parseDetails reads draft-08 authorization_details.
func parseDetails(mc jwt.MapClaims, action herald.Action, c *herald.Claims) error {
	raw, ok := mc["authorization_details"]
	if !ok {
		return nil
	}
	b, _ := json.Marshal(raw)
	var details []struct {
		Type    string   `json:"type"`
		Actions []string `json:"actions"`
		Topics  []struct {
			Match     string `json:"match"`
			MatchType string `json:"match_type"`
		} `json:"topics"`
		Payload json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(b, &details); err != nil {
		return invalid("authorization_details must be an array of objects", err)
	}
	for _, d := range details {
		if d.Type != DetailType {
			continue // another resource's detail
		}
		var sels []topic.Selector
		for _, t := range d.Topics {
			kind := topic.Exact
			switch t.MatchType {
			case "", "exact":
			case "urlpattern":
				kind = topic.URLPattern
			default:
				return invalid(fmt.Sprintf("authorization_details: unknown match_type %q", t.MatchType), nil)
			}
			var s topic.Selector
			var err error
			if t.Match == "*" && kind == topic.Exact {
				s, err = topic.Parse(topic.Any, "*")
			} else {
				s, err = topic.Parse(kind, t.Match)
			}
			if err != nil {
				return invalid("authorization_details: invalid topic selector", err)
			}
			sels = append(sels, s)
		}
		for _, a := range d.Actions {
			switch a {
			case "publish":
				c.Publish = append(c.Publish, sels...)
			case "subscribe":
				c.Subscribe = append(c.Subscribe, sels...)
			default:
				return invalid(fmt.Sprintf("authorization_details: unknown action %q", a), nil)
			}
		}
		if len(d.Payload) > 0 {
			c.Payload = d.Payload
		}
	}
	return nil
}
