package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/auth"
)

// serveConfig is herald serve's configuration.
type serveConfig struct {
	addr             string
	nodeID           string
	transport        string
	jwtKey           string
	publisherJWTKey  string
	subscriberJWTKey string
	issuer           string
	audience         string
	anonymous        bool
	corsOrigins      listFlag
	publishOrigins   listFlag
	heartbeat        time.Duration
	ioUring          bool
	historySize      int
	historyAge       time.Duration
	maxLifetime      time.Duration
	writeTimeout     time.Duration
	publishNoToken   bool
	demo             bool
	logLevel         string
	ops              opsConfig // logging, metrics, TLS, limits, dashboard: server.go
	// mercure: keys, hub URL, subscriptions (token.go).
	mercure mercureFlags
}

func (c *serveConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.addr, "addr", "localhost:8080", "address to listen on")
	fs.StringVar(&c.nodeID, "node-id", "", "this node's name in logs, health output and metrics (default: hostname-port, stable across restarts)")
	fs.StringVar(&c.transport, "transport", "memory://", "transport URL: memory://, bolt:///path/herald.db, redis://host:port/db, nats://host:port")
	fs.StringVar(&c.jwtKey, "jwt-key", "", "HMAC secret that verifies publisher and subscriber tokens (generated when no key is set)")
	fs.StringVar(&c.publisherJWTKey, "publisher-jwt-key", "", "HMAC secret for publisher tokens (overrides --jwt-key)")
	fs.StringVar(&c.subscriberJWTKey, "subscriber-jwt-key", "", "HMAC secret for subscriber tokens (overrides --jwt-key)")
	fs.StringVar(&c.issuer, "issuer", "", "trusted issuer of draft-08 access tokens (binds the keys to it)")
	fs.StringVar(&c.audience, "audience", "", "this hub's resource identifier, required in draft-08 tokens' aud (default: the URL the hub is reached at)")
	fs.BoolVar(&c.anonymous, "anonymous", false, "let subscribers without a token receive public updates")
	fs.Var(&c.corsOrigins, "cors-origins", "origins allowed to use the hub from a browser (comma-separated; * for any, without credentials)")
	fs.Var(&c.publishOrigins, "publish-origins", "origins allowed to publish with a cookie (default: the CORS origins)")
	fs.DurationVar(&c.heartbeat, "heartbeat", herald.DefaultHeartbeat, "keep-alive comment interval for quiet streams (0 disables)")
	fs.BoolVar(&c.ioUring, "io-uring", false, "write to plain HTTP/1.1 streams through io_uring, a batch per system call (Linux; falls back to one write per stream where refused)")
	fs.IntVar(&c.historySize, "history-size", herald.DefaultHistorySize, "most updates kept for resuming clients")
	fs.DurationVar(&c.historyAge, "history-age", 0, "drop history older than this (0: no age bound)")
	fs.DurationVar(&c.maxLifetime, "max-lifetime", 0, "end streams after about this long, clients resume (0: never)")
	fs.DurationVar(&c.writeTimeout, "write-timeout", herald.DefaultWriteTimeout, "drop a subscriber whose write takes longer")
	fs.BoolVar(&c.demo, "demo", false, "try Herald on this machine: anonymous subscribers and the public demo key "+demoKey+" (never in production)")
	fs.BoolVar(&c.publishNoToken, "insecure-publish-without-token", false, "let anyone who reaches the hub publish without a token (never on an open network)")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.mercure.hubURL, "hub-url", "", "public URL of the hub, e.g. https://example.com/.well-known/mercure: base of relative URL patterns, default audience (default: the URL each request reached the hub at)")
	fs.BoolVar(&c.mercure.subscriptions, "subscriptions", false, "publish subscription events and serve the subscriptions API (per node)")
	fs.StringVar(&c.mercure.cookieName, "cookie-name", herald.CookieName07, "name of the draft-07 authorization cookie")
	fs.Var(&c.mercure.publicKeys, "jwt-public-key", "PEM file(s) of RSA, ECDSA or Ed25519 public keys that verify publisher and subscriber tokens (comma-separated)")
	fs.Var(&c.mercure.publisherPublicKeys, "publisher-jwt-public-key", "PEM file(s) of public keys for publisher tokens only")
	fs.Var(&c.mercure.subscriberPublicKeys, "subscriber-jwt-public-key", "PEM file(s) of public keys for subscriber tokens only")
	fs.Var(&c.mercure.jwks, "jwks", "JSON Web Key Set(s) for both roles: a file path, or an https URL fetched and refreshed in the background (comma-separated)")
	fs.DurationVar(&c.mercure.jwksRefresh, "jwks-refresh", 5*time.Minute, "how often a JWKS URL is fetched again")
	fs.Var(&c.mercure.algorithms, "jwt-algorithms", "allowed token signature algorithms (comma-separated; default HS256..512, RS*, PS*, ES*, EdDSA; never none)")
	c.ops.flags(fs)
}

func runServe(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "serve", "")
	var cfg serveConfig
	cfg.flags(fs)
	if err := fs.Parse(args); err != nil {
		return parseExit(err)
	}
	res, err := loadConfig(fs, e.getenv, "print-config")
	if err != nil {
		fmt.Fprintln(e.stderr, "herald serve:", err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "herald serve: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if cfg.ops.printConfig {
		if err := printConfig(e.stdout, res); err != nil {
			fmt.Fprintln(e.stderr, "herald serve:", err)
			return 1
		}
		return 0
	}
	log, err := newLogger(e.stderr, cfg.logLevel, cfg.ops.logFormat.value)
	if err != nil {
		fmt.Fprintf(e.stderr, "herald serve: %v (from %s)\n", err, res.Origin("log-level"))
		return 2
	}
	if err := serve(ctx, e, &cfg, log); err != nil {
		log.Error("herald stopped", "err", err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, e *env, cfg *serveConfig, log *slog.Logger) error {
	ops, err := newOps(cfg, log)
	if err != nil {
		return err
	}
	tr, err := openTransport(cfg.transport, historyBounds{size: cfg.historySize, age: cfg.historyAge}, log)
	if err != nil {
		return err
	}
	defer tr.Close()
	tr = ops.instrument(tr)

	if cfg.demo {
		if err := checkDemo(cfg); err != nil {
			return err
		}
		cfg.anonymous = true
		if cfg.jwtKey == "" && cfg.publisherJWTKey == "" && cfg.subscriberJWTKey == "" {
			cfg.jwtKey = demoKey
		}
		log.Warn("demo mode: anonymous subscribers and a public key; never expose this hub")
	}
	pubKey, subKey := cfg.publisherJWTKey, cfg.subscriberJWTKey
	if pubKey == "" {
		pubKey = cfg.jwtKey
	}
	if subKey == "" {
		subKey = cfg.jwtKey
	}
	generated := false
	if pubKey == "" && subKey == "" && !cfg.mercure.hasKeys() {
		pubKey = randomSecret()
		subKey = pubKey
		generated = true
	}
	verifier, metadata, closeKeys, err := cfg.mercure.verifier(ctx, cfg, pubKey, subKey, log)
	if err != nil {
		return err
	}
	defer closeKeys()

	hub := herald.New(
		herald.WithTransport(tr),
		herald.WithAuthorizer(verifier),
		herald.WithAnonymous(cfg.anonymous),
		herald.WithPublishWithoutToken(cfg.publishNoToken),
		herald.WithCORSOrigins(cfg.corsOrigins...),
		herald.WithPublishOrigins(cfg.publishOrigins...),
		herald.WithHeartbeat(cfg.heartbeat),
		herald.WithIOUring(cfg.ioUring),
		herald.WithMaxLifetime(cfg.maxLifetime),
		herald.WithWriteTimeout(cfg.writeTimeout),
		herald.WithLogger(log),
		herald.WithNodeID(nodeID(cfg)),
		herald.WithObserver(ops.observer()),
		herald.WithMaxSelectors(cfg.ops.maxSelectors),
		herald.WithMaxPublishSize(cfg.ops.maxPublishSize),
		herald.WithQueueLimits(cfg.ops.queueSize, cfg.ops.queueBytes),
		herald.WithHubURL(cfg.mercure.hubURL),
		herald.WithSubscriptions(cfg.mercure.subscriptions),
	)

	mux := http.NewServeMux()
	mux.Handle(hubPath, hub)
	mux.Handle(hubPath+"/subscriptions", hub.SubscriptionsHandler())
	mux.Handle(hubPath+"/subscriptions/", hub.SubscriptionsHandler())
	mux.Handle(auth.MetadataPath(hubPath), metadata)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "ok node=%s\n", hub.NodeID())
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		rctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := hub.Ready(rctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "not ready node=%s: %v\n", hub.NodeID(), err)
			return
		}
		fmt.Fprintf(w, "ready node=%s\n", hub.NodeID())
	})
	ops.routes(mux, hub) // /metrics, and the dashboard (or the plain page) at /
	return ops.serve(ctx, cfg.addr, hub, mux, func(base string) {
		printWelcome(e, base, pubKey, subKey, generated, cfg)
	})
}

// nodeID names this node: --node-id, or the host name and listening port,
// which stay the same across restarts of the same deployment.
func nodeID(cfg *serveConfig) string {
	if cfg.nodeID != "" {
		return cfg.nodeID
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "herald"
	}
	if _, port, err := net.SplitHostPort(cfg.addr); err == nil && port != "" {
		return host + "-" + port
	}
	return host
}

// demoKey is the public key of --demo mode: the README's tokens are signed
// with it, so its examples work as pasted. It protects nothing.
const demoKey = "herald-demo-key-not-a-secret"

// checkDemo keeps demo mode on the loopback interface.
func checkDemo(cfg *serveConfig) error {
	host, _, err := net.SplitHostPort(cfg.addr)
	if err != nil {
		return fmt.Errorf("--addr %q: %v", cfg.addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--demo only listens on a loopback address, not %q: its key is public", cfg.addr)
	}
	return nil
}

func randomSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// printWelcome tells a new user how to use the hub they just started.
func printWelcome(e *env, base, pubKey, subKey string, generated bool, cfg *serveConfig) {
	w := e.stdout
	fmt.Fprintf(w, "Herald is listening on %s/.well-known/mercure\n", base)
	if cfg.demo && pubKey == demoKey {
		fmt.Fprintln(w, "Demo mode: anonymous subscribers may receive public updates; tokens are signed with the public demo key.")
	}
	if !generated && !(cfg.demo && pubKey == demoKey) {
		fmt.Fprintln(w, "Tokens: sign them with your key, e.g. herald token --publish '*' --key ...")
		return
	}
	pub, err1 := auth.SignHMAC([]byte(pubKey), auth.TokenSpec{Publish: []string{"*"}, Subscribe: []string{"*"}})
	sub, err2 := auth.SignHMAC([]byte(subKey), auth.TokenSpec{Subscribe: []string{"*"}})
	if err := errors.Join(err1, err2); err != nil {
		fmt.Fprintln(e.stderr, "herald serve: could not mint the first tokens:", err)
		return
	}
	if generated {
		fmt.Fprintln(w, "\nNo --jwt-key was given, so this run generated one (set --jwt-key or HERALD_JWT_KEY to keep tokens valid across restarts).")
	}
	fmt.Fprintf(w, "\nPublisher token (may publish and subscribe to every topic):\n  %s\n", pub)
	fmt.Fprintf(w, "Subscriber token (may receive every private update):\n  %s\n", sub)
	fmt.Fprintln(w, "\nSubscribe:")
	fmt.Fprintf(w, "  curl -N -H 'Authorization: Bearer %s' '%s/.well-known/mercure?topic=https://example.com/books/1'\n", sub, base)
	fmt.Fprintln(w, "Publish:")
	fmt.Fprintf(w, "  curl -H 'Authorization: Bearer %s' -d topic=https://example.com/books/1 -d data=hello %s/.well-known/mercure\n\n", pub, base)
	os.Stdout.Sync()
}

// servePage is the small page at /.
func servePage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprint(w, `<!doctype html><html lang="en"><meta charset="utf-8"><title>Herald</title>
<body style="font-family:system-ui;max-width:40em;margin:3em auto">
<h1>Herald</h1><p>A push hub on Server-Sent Events that speaks Mercure.
The hub is at <code>/.well-known/mercure</code>.</p>
<p>Health: <a href="/healthz">/healthz</a>, readiness: <a href="/readyz">/readyz</a>.</p>
</body></html>`)
}
