package config

import (
	"net/url"
	"strings"
)

// Masked replaces a secret in printed configuration.
const Masked = "********"

// secretWords are name parts that mark a setting or URL parameter as a
// secret.
var secretWords = map[string]bool{
	"secret": true, "password": true, "passwd": true, "pass": true, "pwd": true,
	"token": true, "credentials": true, "creds": true, "nkey": true, "seed": true,
	"apikey": true,
}

// referenceWords, as the last part of a name, mark a reference to a
// secret or a property of it, not the secret itself: jwt-key-file is a
// path, jwks-url an address, cookie-name a name.
var referenceWords = map[string]bool{
	"file": true, "path": true, "dir": true, "url": true, "name": true, "id": true,
	"header": true, "cookie": true, "type": true, "alg": true, "algs": true,
	"algorithm": true, "algorithms": true,
}

// publicKeyWords mark a name ending in key as something other than a
// secret key: tls-key is a file path, public-key is public.
var publicKeyWords = map[string]bool{"tls": true, "cert": true, "public": true}

// IsSecretName reports whether a setting or parameter name looks like it
// holds a secret: it has a part such as secret, password or token, or it
// ends in key (jwt-key, publisher-jwt-key) — unless it names a file, path,
// URL or name (jwt-key-file, password-file), or a TLS or public key.
func IsSecretName(name string) bool {
	parts := strings.FieldsFunc(strings.ToLower(name), func(r rune) bool {
		return r == '-' || r == '_' || r == '.'
	})
	if len(parts) == 0 || referenceWords[parts[len(parts)-1]] {
		return false
	}
	for _, p := range parts {
		if secretWords[p] {
			return true
		}
	}
	if parts[len(parts)-1] != "key" {
		return false
	}
	for _, p := range parts {
		if publicKeyWords[p] {
			return false
		}
	}
	return true
}

// Mask hides the secrets a value may carry: the password (or the lone
// user name, which some services such as NATS take as a token) of a URL,
// URL query parameters with secret names, and anything that looks like a
// JSON Web Token. Other values are returned unchanged.
func Mask(v string) string {
	if looksLikeJWT(v) {
		return Masked
	}
	if !strings.Contains(v, "://") {
		return v
	}
	u, err := url.Parse(v)
	if err != nil || u.Scheme == "" {
		// Unparsable but URL-like: hide everything between :// and @.
		if i, j := strings.Index(v, "://"), strings.LastIndex(v, "@"); i >= 0 && j > i {
			return v[:i+3] + Masked + v[j:]
		}
		return v
	}
	changed := false
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		} else {
			u.User = url.User("xxxxx")
		}
		changed = true
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k, vals := range q {
			if IsSecretName(k) || k == "key" {
				for i := range vals {
					vals[i] = "xxxxx"
				}
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	if !changed {
		return v
	}
	return u.String()
}

// looksLikeJWT reports whether s has the shape of a compact JWS: three
// base64url parts, the first a JSON object ("eyJ").
func looksLikeJWT(s string) bool {
	if !strings.HasPrefix(s, "eyJ") || strings.Count(s, ".") != 2 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == '=') {
			return false
		}
	}
	return true
}
