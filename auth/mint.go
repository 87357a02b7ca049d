package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// A TokenSpec describes a token to mint.
type TokenSpec struct {
	// Draft is the Mercure revision: 7 (default) or 8.
	Draft int
	// Publish and Subscribe are the allowed topic selectors. In a draft-07
	// token they are draft-07 selectors (exact strings, URI templates, or
	// "*"). In a draft-08 token each becomes a topic matcher whose
	// match_type is "urlpattern" when it looks like a URL pattern (":name"
	// after a slash, "*" other than the lone wildcard, "(" or "{") and
	// "exact" otherwise.
	Publish, Subscribe []string
	// Subject is the "sub" claim, if any.
	Subject string
	// Issuer and Audience fill "iss" and "aud" (both required for draft 8).
	Issuer, Audience string
	// TTL sets "exp" from now; 0 means no expiry (draft 7 only: an access
	// token must expire).
	TTL time.Duration
	// NotBefore, when set, is the "nbf" claim.
	NotBefore time.Time
	// Payload is exposed in subscription events: the draft-07
	// mercure.payload, or the payload of the draft-08 subscribe detail (it
	// must then be a JSON object, such as a map).
	Payload any
	// KeyID, when set, is the "kid" header.
	KeyID string
	// Now is the issue time; default time.Now().
	Now time.Time
}

// SignHMAC mints a token for spec, signed HS256 with secret.
func SignHMAC(secret []byte, spec TokenSpec) (string, error) {
	if len(secret) == 0 {
		return "", errors.New("auth: empty signing secret")
	}
	return Sign(secret, "HS256", spec)
}

// Sign mints a token for spec signed with key using alg. key is an HMAC
// secret ([]byte) or a private key (*rsa.PrivateKey, *ecdsa.PrivateKey,
// ed25519.PrivateKey); alg may be empty to use the key's usual algorithm
// (see DefaultAlgorithm).
func Sign(key any, alg string, spec TokenSpec) (string, error) {
	if alg == "" {
		alg = DefaultAlgorithm(key)
	}
	method := jwt.GetSigningMethod(alg)
	if method == nil || alg == "none" {
		return "", fmt.Errorf("auth: unsupported signing algorithm %q", alg)
	}
	if err := checkSigningKey(key, method); err != nil {
		return "", err
	}
	tok, err := newToken(method, spec)
	if err != nil {
		return "", err
	}
	s, err := tok.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("auth: sign: %w", err)
	}
	return s, nil
}

// DefaultAlgorithm is the algorithm Sign uses for key when none is given:
// HS256 for a secret, RS256 for RSA, ES256/384/512 by ECDSA curve, EdDSA
// for Ed25519; "" for anything else.
func DefaultAlgorithm(key any) string {
	switch k := key.(type) {
	case []byte:
		return "HS256"
	case *rsa.PrivateKey:
		return "RS256"
	case *ecdsa.PrivateKey:
		return ecAlgorithm(k.Curve)
	case ed25519.PrivateKey:
		return "EdDSA"
	}
	return ""
}

func checkSigningKey(key any, method jwt.SigningMethod) error {
	ok := false
	switch k := key.(type) {
	case []byte:
		_, ok = method.(*jwt.SigningMethodHMAC)
		if ok && len(k) == 0 {
			return errors.New("auth: empty signing secret")
		}
	case *rsa.PrivateKey:
		switch method.(type) {
		case *jwt.SigningMethodRSA, *jwt.SigningMethodRSAPSS:
			ok = true
		}
	case *ecdsa.PrivateKey:
		_, ok = method.(*jwt.SigningMethodECDSA)
		ok = ok && ecAlgorithm(k.Curve) == method.Alg()
	case ed25519.PrivateKey:
		_, ok = method.(*jwt.SigningMethodEd25519)
	default:
		return fmt.Errorf("auth: unsupported signing key type %T", key)
	}
	if !ok {
		return fmt.Errorf("auth: a %T cannot sign %s", key, method.Alg())
	}
	return nil
}

// ParsePrivateKeyPEM parses a PEM-encoded RSA, ECDSA or Ed25519 private key
// (PKCS #1, SEC 1 or PKCS #8).
func ParsePrivateKeyPEM(pem []byte) (crypto.Signer, error) {
	if k, err := jwt.ParseRSAPrivateKeyFromPEM(pem); err == nil {
		return k, nil
	}
	if k, err := jwt.ParseECPrivateKeyFromPEM(pem); err == nil {
		return k, nil
	}
	if k, err := jwt.ParseEdPrivateKeyFromPEM(pem); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
	}
	return nil, errors.New("auth: not a PEM-encoded RSA, ECDSA or Ed25519 private key")
}

func newToken(method jwt.SigningMethod, spec TokenSpec) (*jwt.Token, error) {
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
	if !spec.NotBefore.IsZero() {
		mc["nbf"] = spec.NotBefore.Unix()
	}
	tok := jwt.NewWithClaims(method, mc)
	if spec.KeyID != "" {
		tok.Header["kid"] = spec.KeyID
	}
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
			return nil, errors.New("auth: a draft-08 token needs an issuer, an audience and a TTL")
		}
		tok.Header["typ"] = accessTokenType
		details := []map[string]any{}
		add := func(action string, sels []string, payload any) {
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
			if payload != nil {
				d["payload"] = payload
			}
			details = append(details, d)
		}
		add("publish", spec.Publish, nil)
		add("subscribe", spec.Subscribe, spec.Payload)
		mc["authorization_details"] = details
	default:
		return nil, errors.New("auth: draft must be 7 or 8")
	}
	return tok, nil
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
