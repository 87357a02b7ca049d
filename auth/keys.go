package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// A Key verifies token signatures. Make one with HMACKey, PublicKey,
// ParsePublicKeyPEM, LoadPublicKeyFile or ParseJWKS; the zero Key verifies
// nothing.
//
// The key's type decides which algorithms it verifies, whatever the token
// says: an HMAC secret verifies only HS256/384/512, an RSA key RS* and PS*,
// an ECDSA key the ES* algorithm of its curve, an Ed25519 key EdDSA. This
// is what defeats algorithm-confusion attacks (an HMAC token "signed" with
// a public RSA key is refused).
type Key struct {
	// Issuer, when set, binds the key to tokens whose "iss" is this value.
	// draft-08 access tokens are verified only with keys bound to their
	// issuer; a draft-07 token without "iss" may use any key.
	Issuer string

	// ID is the key's "kid". When a token names a kid, only keys with that
	// ID (or with no ID) are tried; the kid only chooses among trusted
	// keys, it never brings in a new one.
	ID string

	// Algorithm, when set, is the one algorithm this key verifies (a JWK's
	// "alg" member); it must also be on the verifier's allow-list.
	Algorithm string

	key any // []byte, *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
}

// HMACKey returns a key that verifies HS256, HS384 and HS512 tokens signed
// with secret.
func HMACKey(secret []byte) Key { return Key{key: append([]byte(nil), secret...)} }

// PublicKey returns a key that verifies signatures made with the private
// half of pub, an *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey.
func PublicKey(pub crypto.PublicKey) (Key, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return Key{}, fmt.Errorf("auth: RSA key of %d bits: at least 2048 are required", k.N.BitLen())
		}
		return Key{key: k}, nil
	case *ecdsa.PublicKey:
		if ecAlgorithm(k.Curve) == "" {
			return Key{}, errors.New("auth: unsupported ECDSA curve (use P-256, P-384 or P-521)")
		}
		return Key{key: k}, nil
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return Key{}, errors.New("auth: malformed Ed25519 public key")
		}
		return Key{key: k}, nil
	}
	return Key{}, fmt.Errorf("auth: unsupported public key type %T", pub)
}

// ParsePublicKeyPEM returns a key that verifies RSA, ECDSA or Ed25519
// signatures with the PEM-encoded public key (or certificate) pem.
func ParsePublicKeyPEM(pem []byte) (Key, error) {
	if k, err := jwt.ParseRSAPublicKeyFromPEM(pem); err == nil {
		return PublicKey(k)
	}
	if k, err := jwt.ParseECPublicKeyFromPEM(pem); err == nil {
		return PublicKey(k)
	}
	if k, err := jwt.ParseEdPublicKeyFromPEM(pem); err == nil {
		return PublicKey(k)
	}
	return Key{}, errors.New("auth: not a PEM-encoded RSA, ECDSA or Ed25519 public key")
}

// LoadPublicKeyFile reads a PEM public key from path.
func LoadPublicKeyFile(path string) (Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Key{}, fmt.Errorf("auth: read public key: %w", err)
	}
	k, err := ParsePublicKeyPEM(b)
	if err != nil {
		return Key{}, fmt.Errorf("%w (%s)", err, path)
	}
	return k, nil
}

// IsHMAC reports whether k is an HMAC secret.
func (k Key) IsHMAC() bool {
	_, ok := k.key.([]byte)
	return ok
}

// fits reports whether k may verify a token signed with method: the
// algorithm family must be the key's, an EC curve must be the one the
// algorithm names, and a key restricted to one algorithm verifies only it.
func (k Key) fits(method jwt.SigningMethod) bool {
	alg := method.Alg()
	if k.Algorithm != "" && k.Algorithm != alg {
		return false
	}
	switch key := k.key.(type) {
	case []byte:
		_, ok := method.(*jwt.SigningMethodHMAC)
		return ok && len(key) > 0
	case *rsa.PublicKey:
		switch method.(type) {
		case *jwt.SigningMethodRSA, *jwt.SigningMethodRSAPSS:
			return true
		}
	case *ecdsa.PublicKey:
		_, ok := method.(*jwt.SigningMethodECDSA)
		return ok && ecAlgorithm(key.Curve) == alg
	case ed25519.PublicKey:
		_, ok := method.(*jwt.SigningMethodEd25519)
		return ok
	}
	return false
}

// matchesKID reports whether k may verify a token that names kid.
func (k Key) matchesKID(kid string) bool {
	return kid == "" || k.ID == "" || k.ID == kid
}

func ecAlgorithm(c elliptic.Curve) string {
	switch c {
	case elliptic.P256():
		return "ES256"
	case elliptic.P384():
		return "ES384"
	case elliptic.P521():
		return "ES512"
	}
	return ""
}

// String describes the key without revealing secret material.
func (k Key) String() string {
	var kind string
	switch key := k.key.(type) {
	case []byte:
		kind = "HMAC"
	case *rsa.PublicKey:
		kind = fmt.Sprintf("RSA-%d", key.N.BitLen())
	case *ecdsa.PublicKey:
		kind = "EC-" + key.Curve.Params().Name
	case ed25519.PublicKey:
		kind = "Ed25519"
	default:
		kind = "empty"
	}
	var attrs []string
	if k.ID != "" {
		attrs = append(attrs, "kid="+k.ID)
	}
	if k.Issuer != "" {
		attrs = append(attrs, "iss="+k.Issuer)
	}
	if k.Algorithm != "" {
		attrs = append(attrs, "alg="+k.Algorithm)
	}
	if len(attrs) == 0 {
		return kind
	}
	return kind + "(" + strings.Join(attrs, " ") + ")"
}
