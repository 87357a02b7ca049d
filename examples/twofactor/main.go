// Command twofactor is the article's headline example on Herald: a login
// whose second factor is an approval on the user's phone, pushed to the
// waiting browser over Server-Sent Events.
//
//	go run ./examples/twofactor
//
// The browser signs in with a password; the server opens a login challenge
// with a private Herald topic and gives the browser a token for that topic
// only (in an HttpOnly cookie). The phone, signed in on its own, approves
// or denies; the server publishes 2fa-complete or 2fa-denied as the final
// update on the topic, the hub ends the browser's stream and answers its
// reconnect with 204, and the browser finishes the login with a POST that
// the server checks against the challenge's state. See README.md.
//
// Flags: --addr, --public-url, --redis (share state and the hub across
// instances), --hub and --jwt-key (use a standalone herald cluster instead
// of the embedded hub), --challenge-ttl.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "twofactor:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("twofactor", flag.ContinueOnError)
	addr := fs.String("addr", "localhost:8080", "address to listen on (use 0.0.0.0:8080 to reach it from a phone on your network)")
	public := fs.String("public-url", "", "the app's URL as browsers reach it, for the phone's link (default: from each request)")
	redisURL := fs.String("redis", "", "Redis URL: keep challenges and sessions there and run the embedded hub on it, so that several instances work as one")
	hub := fs.String("hub", "", "URL of a standalone Herald hub (herald serve) to use instead of the embedded one")
	key := fs.String("jwt-key", os.Getenv("TWOFACTOR_JWT_KEY"), "HMAC key of the hub's tokens (env TWOFACTOR_JWT_KEY); required with --hub, random otherwise")
	ttl := fs.Duration("challenge-ttl", 2*time.Minute, "how long a sign-in waits for the phone")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	k := []byte(*key)
	switch {
	case *hub != "" && len(k) < 32:
		return errors.New("--hub needs --jwt-key (the hub's key, at least 32 bytes)")
	case len(k) == 0:
		k = []byte(randomToken(32))
	case len(k) < 32:
		return errors.New("--jwt-key must be at least 32 bytes")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	startCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	app, err := New(startCtx, Config{Key: k, HubURL: *hub, RedisURL: *redisURL, PublicURL: *public, ChallengeTTL: *ttl, Logger: log})
	cancel()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		app.Close(context.Background())
		return err
	}
	base := *public
	if base == "" {
		base = "http://" + ln.Addr().String()
	}
	fmt.Fprintf(out, "twofactor: open %s/login on your computer and %s/phone/login on your phone (or a second browser profile)\n", base, base)
	fmt.Fprintln(out, "demo users (password store holds only bcrypt hashes):")
	for _, u := range DemoUsers {
		fmt.Fprintf(out, "  %-6s %s\n", u.Name, u.Password)
	}

	srv := &http.Server{Handler: app, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	closeCtx, cancelClose := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelClose()
	// The hub first: it ends the long-lived streams, which Shutdown would
	// otherwise wait for; then the requests in flight; then the store.
	if cerr := app.push.Close(closeCtx); cerr != nil && err == nil {
		err = cerr
	}
	if serr := srv.Shutdown(closeCtx); serr != nil {
		srv.Close() // streams proxied to a remote hub do not end by themselves
	}
	if cerr := app.Close(closeCtx); cerr != nil && err == nil {
		err = cerr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
