package auth

import (
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// A TokenSpec describes a token to mint.
type TokenSpec struct {
	// Draft is the Mercure revision: 7 (default) or 8.
	Draft int
	// Publish and Subscribe are the allowed topic selectors.
	Publish, Subscribe []string
	// Subject is the "sub" claim, if any.
	Subject string
	// Issuer and Audience fill "iss" and "aud" (required for draft 8).
	Issuer, Audience string
	// TTL sets "exp" from now; 0 means no expiry (draft 7 only).
	TTL time.Duration
	// Payload is exposed in subscription events.
	Payload any
	// Now is the issue time; default time.Now().
	Now time.Time
}

// SignHMAC mints a token for spec, signed HS256 with secret.
func SignHMAC(secret []byte, spec TokenSpec) (string, error) {
	if len(secret) == 0 {
		return "", errors.New("auth: empty signing secret")
	}
	now := spec.Now
	if now.IsZero() {
		now = time.Now()
	}
	mc := jwt.MapClaims{"iat": now.Unix()}
	if spec.Subject != "" {
		mc["sub"] = spec.Subject
	}
	if spec.Issuer != "" {
		mc["iss"] = spec.Issuer
	}
	if spec.Audience != "" {
		mc["aud"] = spec.Audience
	}
	if spec.TTL > 0 {
		mc["exp"] = now.Add(spec.TTL).Unix()
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, mc)
	switch spec.Draft {
	case 0, 7:
		m := map[string]any{}
		if spec.Publish != nil {
			m["publish"] = spec.Publish
		}
		if spec.Subscribe != nil {
			m["subscribe"] = spec.Subscribe
		}
		if spec.Payload != nil {
			m["payload"] = spec.Payload
		}
		mc["mercure"] = m
	case 8:
		if spec.Issuer == "" || spec.Audience == "" || spec.TTL <= 0 {
			return "", errors.New("auth: a draft-08 token needs an issuer, an audience and a TTL")
		}
		tok.Header["typ"] = "at+jwt"
		var details []map[string]any
		add := func(action string, sels []string) {
			if len(sels) == 0 {
				return
			}
			topics := make([]map[string]string, 0, len(sels))
			for _, s := range sels {
				mt := "exact"
				if looksLikePattern(s) {
					mt = "urlpattern"
				}
				topics = append(topics, map[string]string{"match": s, "match_type": mt})
			}
			d := map[string]any{"type": DetailType, "actions": []string{action}, "topics": topics}
			if spec.Payload != nil {
				d["payload"] = spec.Payload
			}
			details = append(details, d)
		}
		add("publish", spec.Publish)
		add("subscribe", spec.Subscribe)
		mc["authorization_details"] = details
	default:
		return "", errors.New("auth: draft must be 7 or 8")
	}
	return tok.SignedString(secret)
}

// looksLikePattern tells a URL pattern (":name", "*" in a path, "(regex)")
// from an exact topic when minting draft-08 tokens from plain strings.
func looksLikePattern(s string) bool {
	if s == "*" {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '(', '{':
			return true
		case ':':
			// "https:" is a scheme, ":id" after a slash is a parameter.
			if i > 0 && s[i-1] == '/' {
				return true
			}
		}
	}
	return false
}
