package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/heraldpush/herald/auth"
)

// tokenConfig is herald token's configuration.
type tokenConfig struct {
	draft      string
	publish    multiFlag
	subscribe  multiFlag
	ttl        time.Duration
	issuer     string
	audience   string
	subject    string
	payload    string
	key        string
	keyFile    string
	privateKey string
	alg        string
	kid        string
	demo       bool
}

func (c *tokenConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.draft, "draft", "07", "Mercure revision of the token: 07 (a \"mercure\" claim) or 08 (an RFC 9068 access token with authorization_details)")
	fs.Var(&c.publish, "publish", "topic selector the bearer may publish to (repeat for more; '*' for all)")
	fs.Var(&c.subscribe, "subscribe", "topic selector whose private updates the bearer may receive (repeat for more; '*' for all)")
	fs.DurationVar(&c.ttl, "ttl", time.Hour, "lifetime of the token (exp); 0 for no expiry (draft 07 only)")
	fs.StringVar(&c.issuer, "issuer", "", "iss claim (required for draft 08: the issuer the hub trusts, its --issuer)")
	fs.StringVar(&c.audience, "audience", "", "aud claim (required for draft 08: the hub's resource identifier, its --audience or URL)")
	fs.StringVar(&c.subject, "subject", "", "sub claim")
	fs.StringVar(&c.payload, "payload", "", "JSON payload shown in subscription events (a JSON object for draft 08)")
	fs.StringVar(&c.key, "key", "", "HMAC secret to sign with (HS256; default $HERALD_JWT_KEY)")
	fs.StringVar(&c.keyFile, "key-file", "", "file holding the HMAC secret (a trailing newline is ignored)")
	fs.StringVar(&c.privateKey, "private-key", "", "PEM file of an RSA, ECDSA or Ed25519 private key to sign with (RS256, ES256/384/512, EdDSA)")
	fs.StringVar(&c.alg, "alg", "", "signing algorithm (default: HS256, RS256, the curve's ES*, or EdDSA, by key)")
	fs.StringVar(&c.kid, "kid", "", "kid header naming the verification key")
	fs.BoolVar(&c.demo, "demo", false, "sign with the public demo key of herald serve --demo")
}

const tokenUsage = `Usage: herald token [flags]

Prints a JWT for a Mercure hub. Examples:
  herald token --key "$KEY" --publish '*'
  herald token --key "$KEY" --subscribe 'https://example.com/books/{id}' --ttl 15m
  herald token --draft 08 --private-key es256.pem --issuer https://auth.example.com \
      --audience https://example.com/.well-known/mercure --subscribe 'https://example.com/books/:id'

Flags:
`

// runToken mints a token and prints it.
func runToken(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "token", tokenUsage)
	var cfg tokenConfig
	cfg.flags(fs)
	if err := fs.Parse(args); err != nil {
		return parseExit(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "herald token: unexpected argument %q (use --publish or --subscribe)\n", fs.Arg(0))
		return 2
	}
	tok, err := mintToken(&cfg, e.getenv)
	if err != nil {
		fmt.Fprintln(e.stderr, "herald token:", err)
		return 2
	}
	fmt.Fprintln(e.stdout, tok)
	return 0
}

// mintToken builds and signs the token cfg describes.
func mintToken(cfg *tokenConfig, getenv func(string) string) (string, error) {
	spec := auth.TokenSpec{
		Publish:   cfg.publish,
		Subscribe: cfg.subscribe,
		TTL:       cfg.ttl,
		Issuer:    cfg.issuer,
		Audience:  cfg.audience,
		Subject:   cfg.subject,
		KeyID:     cfg.kid,
	}
	switch cfg.draft {
	case "07", "7":
		spec.Draft = 7
	case "08", "8":
		spec.Draft = 8
		if cfg.issuer == "" || cfg.audience == "" {
			return "", errors.New("a draft-08 token needs --issuer and --audience (the hub's --issuer and resource identifier)")
		}
		if cfg.ttl <= 0 {
			return "", errors.New("a draft-08 token must expire: give a positive --ttl")
		}
	default:
		return "", fmt.Errorf("--draft %q: use 07 or 08", cfg.draft)
	}
	if cfg.ttl < 0 {
		return "", errors.New("--ttl must not be negative")
	}
	if cfg.payload != "" {
		var p any
		if err := json.Unmarshal([]byte(cfg.payload), &p); err != nil {
			return "", fmt.Errorf("--payload is not valid JSON: %v", err)
		}
		if _, ok := p.(map[string]any); spec.Draft == 8 && !ok {
			return "", errors.New("--payload must be a JSON object in a draft-08 token")
		}
		spec.Payload = p
	}
	key, err := signingKey(cfg, getenv)
	if err != nil {
		return "", err
	}
	return auth.Sign(key, cfg.alg, spec)
}

// signingKey returns the one key the flags name.
func signingKey(cfg *tokenConfig, getenv func(string) string) (any, error) {
	given := 0
	for _, s := range []string{cfg.key, cfg.keyFile, cfg.privateKey} {
		if s != "" {
			given++
		}
	}
	if cfg.demo {
		given++
	}
	if given > 1 {
		return nil, errors.New("give only one of --key, --key-file, --private-key and --demo")
	}
	switch {
	case cfg.key != "":
		return []byte(cfg.key), nil
	case cfg.keyFile != "":
		b, err := os.ReadFile(cfg.keyFile)
		if err != nil {
			return nil, fmt.Errorf("--key-file: %v", err)
		}
		b = []byte(strings.TrimRight(string(b), "\r\n"))
		if len(b) == 0 {
			return nil, fmt.Errorf("--key-file %s is empty", cfg.keyFile)
		}
		return b, nil
	case cfg.privateKey != "":
		b, err := os.ReadFile(cfg.privateKey)
		if err != nil {
			return nil, fmt.Errorf("--private-key: %v", err)
		}
		k, err := auth.ParsePrivateKeyPEM(b)
		if err != nil {
			return nil, fmt.Errorf("--private-key %s: %v", cfg.privateKey, err)
		}
		return k, nil
	case cfg.demo:
		return []byte(demoKey), nil
	}
	if k := getenv("HERALD_JWT_KEY"); k != "" {
		return []byte(k), nil
	}
	return nil, errors.New("no signing key: give --key, --key-file, --private-key (or set HERALD_JWT_KEY)")
}

// mercureFlags are herald serve's Mercure flags beyond the HMAC keys: the
// hub's public URL, subscription events, the cookie name and the public
// keys, key sets and algorithms that verify tokens.
type mercureFlags struct {
	hubURL               string
	subscriptions        bool
	cookieName           string
	publicKeys           listFlag
	publisherPublicKeys  listFlag
	subscriberPublicKeys listFlag
	jwks                 listFlag
	jwksRefresh          time.Duration
	algorithms           listFlag
}

// hasKeys reports whether a key other than an HMAC secret is configured.
func (m *mercureFlags) hasKeys() bool {
	return len(m.publicKeys)+len(m.publisherPublicKeys)+len(m.subscriberPublicKeys)+len(m.jwks) > 0
}

// verifier builds the token verifier and the protected-resource metadata
// of herald serve. Every key is bound to --issuer, so draft-08 tokens must
// come from it. closeKeys stops the background refresh of JWKS URLs.
func (m *mercureFlags) verifier(ctx context.Context, cfg *serveConfig, pubKey, subKey string, log *slog.Logger) (v *auth.Verifier, md auth.Metadata, closeKeys func(), err error) {
	var remotes []*auth.RemoteJWKS
	closeKeys = func() {
		for _, r := range remotes {
			r.Close()
		}
	}
	defer func() {
		if err != nil {
			closeKeys()
		}
	}()
	acfg := auth.Config{
		Audience:   cfg.audience,
		HubURL:     m.hubURL,
		CookieName: m.cookieName,
		Algorithms: m.algorithms,
	}
	bind := func(k auth.Key) auth.Key {
		k.Issuer = cfg.issuer
		return k
	}
	if pubKey != "" {
		acfg.PublisherKeys = append(acfg.PublisherKeys, bind(auth.HMACKey([]byte(pubKey))))
	}
	if subKey != "" {
		acfg.SubscriberKeys = append(acfg.SubscriberKeys, bind(auth.HMACKey([]byte(subKey))))
	}
	load := func(paths []string, flagName string) ([]auth.Key, error) {
		var keys []auth.Key
		for _, p := range paths {
			k, err := auth.LoadPublicKeyFile(p)
			if err != nil {
				return nil, fmt.Errorf("--%s: %w", flagName, err)
			}
			keys = append(keys, bind(k))
		}
		return keys, nil
	}
	both, err := load(m.publicKeys, "jwt-public-key")
	if err != nil {
		return nil, md, closeKeys, err
	}
	pubOnly, err := load(m.publisherPublicKeys, "publisher-jwt-public-key")
	if err != nil {
		return nil, md, closeKeys, err
	}
	subOnly, err := load(m.subscriberPublicKeys, "subscriber-jwt-public-key")
	if err != nil {
		return nil, md, closeKeys, err
	}
	acfg.PublisherKeys = append(append(acfg.PublisherKeys, both...), pubOnly...)
	acfg.SubscriberKeys = append(append(acfg.SubscriberKeys, both...), subOnly...)
	for _, src := range m.jwks {
		if strings.HasPrefix(src, "https://") || strings.HasPrefix(src, "http://") {
			r, err := auth.NewRemoteJWKS(auth.RemoteJWKSConfig{URL: src, Issuer: cfg.issuer, Refresh: m.jwksRefresh, Logger: log})
			if err != nil {
				return nil, md, closeKeys, fmt.Errorf("--jwks: %w", err)
			}
			remotes = append(remotes, r)
			fctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			if err := r.Refresh(fctx); err != nil {
				// Start anyway: the key set is fetched again in the
				// background, and tokens it should verify are refused
				// until then.
				log.Warn("JWKS not fetched at startup; retrying in the background", "url", src, "err", err)
			}
			cancel()
			acfg.PublisherJWKS = append(acfg.PublisherJWKS, r)
			acfg.SubscriberJWKS = append(acfg.SubscriberJWKS, r)
			md.JWKSURI = src
			continue
		}
		keys, err := auth.LoadJWKSFile(src, cfg.issuer)
		if err != nil {
			return nil, md, closeKeys, fmt.Errorf("--jwks: %w", err)
		}
		acfg.PublisherKeys = append(acfg.PublisherKeys, keys...)
		acfg.SubscriberKeys = append(acfg.SubscriberKeys, keys...)
	}
	if cfg.issuer == "" {
		log.Info("no --issuer: draft-08 access tokens will be refused (draft-07 tokens work)")
	}
	v, err = auth.New(acfg)
	if err != nil {
		return nil, md, closeKeys, err
	}
	md.Resource = cfg.audience
	if md.Resource == "" {
		md.Resource = m.hubURL
	}
	md.Cookie = true
	md.Subscriptions = m.subscriptions
	return v, md, closeKeys, nil
}
