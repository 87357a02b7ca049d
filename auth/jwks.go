package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// A JWK is one JSON Web Key (RFC 7517) as found in a key set.
type jwk struct {
	Kty    string   `json:"kty"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
	Alg    string   `json:"alg"`
	Kid    string   `json:"kid"`
	Crv    string   `json:"crv"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
	K      string   `json:"k"`
}

// ParseJWKS parses a JSON Web Key Set (RFC 7517) and returns its signature
// verification keys, each bound to issuer (which may be empty). Keys meant
// for encryption ("use": "enc", or key_ops without "verify") are left out;
// a key that cannot be used is an error, so that a typo in a file is not
// silently ignored. Symmetric ("oct") keys are accepted only when allowOct
// is set: a key set fetched from a URL must never hold shared secrets.
func ParseJWKS(data []byte, issuer string, allowOct bool) ([]Key, error) {
	keys, errs := parseJWKS(data, issuer, allowOct)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, errors.New("auth: the key set holds no signature verification key")
	}
	return keys, nil
}

// LoadJWKSFile reads a JSON Web Key Set from path; see ParseJWKS. A file
// may hold "oct" (HMAC) keys.
func LoadJWKSFile(path, issuer string) ([]Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: read key set: %w", err)
	}
	keys, err := ParseJWKS(b, issuer, true)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return keys, nil
}

// parseJWKS returns the usable keys and one error per unusable entry.
func parseJWKS(data []byte, issuer string, allowOct bool) ([]Key, []error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, []error{fmt.Errorf("auth: malformed key set: %w", err)}
	}
	if set.Keys == nil {
		return nil, []error{errors.New(`auth: malformed key set: no "keys" array`)}
	}
	var keys []Key
	var errs []error
	for i, raw := range set.Keys {
		var j jwk
		if err := json.Unmarshal(raw, &j); err != nil {
			errs = append(errs, fmt.Errorf("auth: key set entry %d: %w", i, err))
			continue
		}
		if j.Use != "" && j.Use != "sig" {
			continue
		}
		if j.KeyOps != nil && !slices.Contains(j.KeyOps, "verify") {
			continue
		}
		k, err := j.key(allowOct)
		if err != nil {
			errs = append(errs, fmt.Errorf("auth: key set entry %d (kid %q): %w", i, j.Kid, err))
			continue
		}
		k.ID, k.Algorithm, k.Issuer = j.Kid, j.Alg, issuer
		keys = append(keys, k)
	}
	return keys, errs
}

func (j *jwk) key(allowOct bool) (Key, error) {
	if j.Alg == "none" {
		return Key{}, errors.New(`"alg": "none" is never accepted`)
	}
	if j.Alg != "" && !slices.Contains(DefaultAlgorithms, j.Alg) {
		return Key{}, fmt.Errorf("unsupported alg %q", j.Alg)
	}
	switch j.Kty {
	case "RSA":
		n, err1 := b64int(j.N)
		e, err2 := b64int(j.E)
		if err := errors.Join(err1, err2); err != nil {
			return Key{}, fmt.Errorf("malformed RSA key: %w", err)
		}
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 {
			return Key{}, errors.New("malformed RSA key: bad exponent")
		}
		return PublicKey(&rsa.PublicKey{N: n, E: int(e.Int64())})
	case "EC":
		var c elliptic.Curve
		switch j.Crv {
		case "P-256":
			c = elliptic.P256()
		case "P-384":
			c = elliptic.P384()
		case "P-521":
			c = elliptic.P521()
		default:
			return Key{}, fmt.Errorf("unsupported curve %q", j.Crv)
		}
		x, err1 := b64(j.X)
		y, err2 := b64(j.Y)
		size := (c.Params().BitSize + 7) / 8
		if errors.Join(err1, err2) != nil || len(x) != size || len(y) != size {
			return Key{}, errors.New("malformed EC key")
		}
		point := append(append([]byte{4}, x...), y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(c, point)
		if err != nil {
			return Key{}, fmt.Errorf("malformed EC key: %w", err)
		}
		return PublicKey(pub)
	case "OKP":
		if j.Crv != "Ed25519" {
			return Key{}, fmt.Errorf("unsupported curve %q", j.Crv)
		}
		x, err := b64(j.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return Key{}, errors.New("malformed Ed25519 key")
		}
		return PublicKey(ed25519.PublicKey(x))
	case "oct":
		if !allowOct {
			return Key{}, errors.New(`symmetric ("oct") keys are refused in a key set fetched from a URL`)
		}
		k, err := b64(j.K)
		if err != nil || len(k) < 32 {
			return Key{}, errors.New(`malformed "oct" key: at least 256 bits are required`)
		}
		return HMACKey(k), nil
	}
	return Key{}, fmt.Errorf("unsupported kty %q", j.Kty)
}

func b64(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("missing member")
	}
	return base64.RawURLEncoding.DecodeString(s)
}

func b64int(s string) (*big.Int, error) {
	b, err := b64(s)
	if err != nil {
		return nil, err
	}
	return new(big.Int).SetBytes(b), nil
}

// RemoteJWKSConfig configures a RemoteJWKS.
type RemoteJWKSConfig struct {
	// URL of the key set; https unless AllowHTTP.
	URL string
	// Issuer the keys are bound to (see Key.Issuer).
	Issuer string
	// Refresh is how often the set is fetched again; default 5 minutes.
	Refresh time.Duration
	// Timeout bounds one fetch; default 10 seconds.
	Timeout time.Duration
	// MinInterval is the least time between two fetches caused by tokens
	// naming an unknown kid (after a key rotation); default 30 seconds. It
	// keeps made-up kids from turning the hub into a fetch amplifier.
	MinInterval time.Duration
	// MaxBytes bounds the key set's size; default 1 MiB.
	MaxBytes int64
	// Client makes the requests; default a client with Timeout.
	Client *http.Client
	// AllowHTTP permits a plain http URL (tests, loopback sidecars).
	AllowHTTP bool
	// Logger receives fetch failures; default slog.Default().
	Logger *slog.Logger
}

// A RemoteJWKS is a key set fetched from a URL (an authorization server's
// jwks_uri), cached, and refreshed in the background. A token naming a kid
// the cache does not hold triggers one early fetch, at most every
// MinInterval. Until the first fetch succeeds it holds no key, and tokens
// it should verify are refused.
type RemoteJWKS struct {
	cfg  RemoteJWKSConfig
	keys atomic.Pointer[[]Key]

	fetchMu   sync.Mutex // one fetch at a time
	lastFetch time.Time  // guarded by fetchMu

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// NewRemoteJWKS validates cfg and starts fetching the key set in the
// background. Call Close to stop. Call Refresh first to wait for (and
// check) the first fetch.
func NewRemoteJWKS(cfg RemoteJWKSConfig) (*RemoteJWKS, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && !(cfg.AllowHTTP && u.Scheme == "http")) {
		return nil, fmt.Errorf("auth: JWKS URL %q: an absolute https URL is required", cfg.URL)
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = 5 * time.Minute
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.MinInterval <= 0 {
		cfg.MinInterval = 30 * time.Second
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 1 << 20
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: cfg.Timeout}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := &RemoteJWKS{cfg: cfg, stop: make(chan struct{}), done: make(chan struct{})}
	r.keys.Store(&[]Key{})
	go r.loop()
	return r, nil
}

// URL returns the key set's URL.
func (r *RemoteJWKS) URL() string { return r.cfg.URL }

// Keys returns the keys of the last successful fetch.
func (r *RemoteJWKS) Keys() []Key { return *r.keys.Load() }

// Close stops the background refresh and waits for it to end.
func (r *RemoteJWKS) Close() {
	r.once.Do(func() { close(r.stop) })
	<-r.done
}

func (r *RemoteJWKS) loop() {
	defer close(r.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-r.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	delay := time.Duration(0)
	for {
		t := time.NewTimer(delay)
		select {
		case <-r.stop:
			t.Stop()
			return
		case <-t.C:
		}
		delay = r.cfg.Refresh
		if err := r.refreshIfOlder(ctx, min(r.cfg.MinInterval, r.cfg.Refresh)); err != nil {
			if ctx.Err() != nil {
				return
			}
			r.cfg.Logger.Warn("JWKS fetch failed; keeping the previous keys", "url", r.cfg.URL, "err", err)
			// Retry sooner than a full period while the set is missing.
			delay = min(r.cfg.Refresh, r.cfg.MinInterval)
		}
	}
}

// Refresh fetches the key set now and replaces the cached keys on success.
func (r *RemoteJWKS) Refresh(ctx context.Context) error {
	r.fetchMu.Lock()
	defer r.fetchMu.Unlock()
	return r.fetchLocked(ctx)
}

// refreshIfOlder fetches unless a fetch (a caller's Refresh, or one for an
// unknown kid) started less than age ago.
func (r *RemoteJWKS) refreshIfOlder(ctx context.Context, age time.Duration) error {
	r.fetchMu.Lock()
	defer r.fetchMu.Unlock()
	if !r.lastFetch.IsZero() && time.Since(r.lastFetch) < age {
		return nil
	}
	return r.fetchLocked(ctx)
}

func (r *RemoteJWKS) fetchLocked(ctx context.Context) error {
	r.lastFetch = time.Now()
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.cfg.URL, nil)
	if err != nil {
		return fmt.Errorf("auth: JWKS request: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := r.cfg.Client.Do(req)
	if err != nil {
		return fmt.Errorf("auth: fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("auth: fetch JWKS: %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, r.cfg.MaxBytes+1))
	if err != nil {
		return fmt.Errorf("auth: fetch JWKS: %w", err)
	}
	if int64(len(body)) > r.cfg.MaxBytes {
		return fmt.Errorf("auth: fetch JWKS: larger than %d bytes", r.cfg.MaxBytes)
	}
	keys, errs := parseJWKS(body, r.cfg.Issuer, false)
	for _, e := range errs {
		// One odd key (a new kty, say) must not take the others down.
		r.cfg.Logger.Warn("JWKS entry skipped", "url", r.cfg.URL, "err", e)
	}
	if len(keys) == 0 {
		return errors.New("auth: fetch JWKS: no usable signature key")
	}
	r.keys.Store(&keys)
	return nil
}

// keysFor returns the cached keys, fetching the set again first when kid
// is not among them and the last fetch is at least MinInterval old.
func (r *RemoteJWKS) keysFor(ctx context.Context, kid string) []Key {
	keys := r.Keys()
	if kid == "" || slices.ContainsFunc(keys, func(k Key) bool { return k.ID == kid }) {
		return keys
	}
	r.fetchMu.Lock()
	defer r.fetchMu.Unlock()
	// Another request may have fetched while this one waited.
	keys = r.Keys()
	if slices.ContainsFunc(keys, func(k Key) bool { return k.ID == kid }) {
		return keys
	}
	if time.Since(r.lastFetch) < r.cfg.MinInterval {
		return keys
	}
	if err := r.fetchLocked(ctx); err != nil {
		r.cfg.Logger.Warn("JWKS fetch for an unknown kid failed", "url", r.cfg.URL, "kid", kid, "err", err)
	}
	return r.Keys()
}
