package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/crypto/acme/autocert"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/certreload"
	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/dashboard"
	"github.com/heraldpush/herald/internal/limits"
	"github.com/heraldpush/herald/metrics"
)

// hubPath is where herald serve mounts the hub.
const hubPath = "/.well-known/mercure"

// opsConfig is the operations half of herald serve's configuration:
// logging, metrics, TLS, limits, timeouts and the dashboard.
type opsConfig struct {
	configFile  string
	printConfig bool
	logFormat   choiceFlag
	accessLog   bool

	metricsAddr string
	pprofAddr   string
	adminSocket string

	tlsCert, tlsKey   string
	tlsReload         time.Duration
	h2c               bool
	http2MaxStreams   int
	acmeDomains       listFlag
	acmeCache         string
	acmeEmail         string
	acmeHTTPAddr      string
	maxConns          int
	maxConnsPerIP     int
	trustedProxies    prefixFlag
	maxSelectors      int
	maxPublishSize    int64
	publishRate       float64
	publishBurst      int
	publishRateBy     choiceFlag
	queueSize         int
	queueBytes        int
	readHeaderTimeout time.Duration
	readTimeout       time.Duration
	responseTimeout   time.Duration
	idleTimeout       time.Duration
	shutdownTimeout   time.Duration
	dashboard         choiceFlag

	// onListen, for tests, receives the addresses once listening.
	onListen func(addr, metricsAddr string)
}

func (c *opsConfig) flags(fs *flag.FlagSet) {
	c.logFormat = choiceFlag{value: "text", choices: []string{"text", "json"}}
	c.publishRateBy = choiceFlag{value: "token", choices: []string{"token", "ip"}}
	c.dashboard = choiceFlag{value: "read-only", choices: []string{"off", "read-only", "full"}}

	fs.StringVar(&c.configFile, "config", "", "configuration file (YAML; its keys are these flags' names; HERALD_CONFIG also works)")
	fs.BoolVar(&c.printConfig, "print-config", false, "print the effective configuration, secrets masked, and exit")
	fs.Var(&c.logFormat, "log-format", "log format: text or json")
	fs.BoolVar(&c.accessLog, "access-log", false, "log every request (method, path without query, status, duration; never tokens or cookies)")
	fs.StringVar(&c.metricsAddr, "metrics-addr", "", "serve Prometheus metrics at /metrics on this address instead of the main one (off: no metrics)")
	fs.StringVar(&c.pprofAddr, "pprof-addr", "", "serve Go's profiler (net/http/pprof) at /debug/pprof/ on this address, for profiling under load; keep it on loopback (off by default)")
	fs.StringVar(&c.adminSocket, "admin-socket", "", "Unix socket for operator commands such as herald backup (only this user may connect)")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "TLS certificate file (PEM, chain included); with --tls-key serves HTTPS and HTTP/2, reloaded when it changes or on SIGHUP")
	fs.StringVar(&c.tlsKey, "tls-key", "", "TLS private key file (PEM)")
	fs.DurationVar(&c.tlsReload, "tls-reload-interval", 10*time.Second, "how often to check the TLS files for a renewal (0: only on SIGHUP)")
	fs.BoolVar(&c.h2c, "h2c", false, "also accept HTTP/2 without TLS (prior knowledge), for a proxy that speaks it")
	fs.IntVar(&c.http2MaxStreams, "http2-max-streams", 1000, "most concurrent streams per HTTP/2 connection (each event stream is one)")
	fs.Var(&c.acmeDomains, "acme-domains", "get certificates from Let's Encrypt (ACME) for these domains (comma-separated); needs --acme-cache")
	fs.StringVar(&c.acmeCache, "acme-cache", "", "directory that keeps ACME accounts and certificates")
	fs.StringVar(&c.acmeEmail, "acme-email", "", "contact address for the ACME account")
	fs.StringVar(&c.acmeHTTPAddr, "acme-http-addr", "", "also answer ACME HTTP-01 challenges (and redirect to HTTPS) on this address, e.g. :80")
	fs.IntVar(&c.maxConns, "max-connections", 0, "most open client connections, streams included; more are answered 503 (0: no limit)")
	fs.IntVar(&c.maxConnsPerIP, "max-connections-per-ip", 0, "most open connections per client address; more are answered 503 (0: no limit)")
	fs.Var(&c.trustedProxies, "trusted-proxies", "addresses or CIDR prefixes of proxies whose X-Forwarded-For is believed (comma-separated)")
	fs.IntVar(&c.maxSelectors, "max-selectors", herald.DefaultMaxSelectors, "most topic selectors in one subscription")
	fs.Int64Var(&c.maxPublishSize, "max-publish-size", herald.DefaultMaxPublishSize, "largest publish request body in bytes; larger ones are answered 413")
	fs.Float64Var(&c.publishRate, "publish-rate", 0, "publishes per second allowed per token (or client address); more are answered 429 with Retry-After (0: no limit)")
	fs.IntVar(&c.publishBurst, "publish-burst", 0, "publishes allowed at once above --publish-rate (default: the rate, at least 1)")
	fs.Var(&c.publishRateBy, "publish-rate-by", "what --publish-rate applies to: token (each token, or the address without one) or ip")
	fs.IntVar(&c.queueSize, "queue-size", herald.DefaultQueueSize, "most updates queued for one subscriber; a subscriber over it is disconnected as slow and resumes")
	fs.IntVar(&c.queueBytes, "queue-bytes", herald.DefaultQueueBytes, "most bytes queued for one subscriber")
	fs.DurationVar(&c.readHeaderTimeout, "read-header-timeout", 10*time.Second, "time a client has to send its request headers")
	fs.DurationVar(&c.readTimeout, "read-timeout", 30*time.Second, "time a client has to send the body of a request that is not a stream (0: none)")
	fs.DurationVar(&c.responseTimeout, "response-timeout", 30*time.Second, "time to write a response that is not a stream (0: none)")
	fs.DurationVar(&c.idleTimeout, "idle-timeout", 120*time.Second, "how long an idle keep-alive connection is kept")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 15*time.Second, "how long a shutdown waits for streams and requests to end")
	fs.Var(&c.dashboard, "dashboard", "dashboard at /: off, read-only (counters and rates) or full (also topic names and a console to subscribe and publish with a token)")
}

// choiceFlag is a string flag restricted to a few values.
type choiceFlag struct {
	value   string
	choices []string
}

func (c *choiceFlag) String() string { return c.value }

func (c *choiceFlag) Set(v string) error {
	v = strings.ToLower(strings.TrimSpace(v))
	for _, ch := range c.choices {
		if v == ch {
			c.value = v
			return nil
		}
	}
	return fmt.Errorf("expected one of %s", strings.Join(c.choices, ", "))
}

// prefixFlag is a list of addresses and CIDR prefixes, checked as they are
// set so that a bad entry is reported with its source.
type prefixFlag struct{ listFlag }

func (p *prefixFlag) Set(v string) error {
	var add listFlag
	add.Set(v)
	if _, err := limits.ParsePrefixes(add); err != nil {
		return err
	}
	p.listFlag = append(p.listFlag, add...)
	return nil
}

// newLogger returns the server's logger.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("invalid --log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

// printConfig writes the effective configuration for --print-config.
func printConfig(w io.Writer, res *config.Result) error {
	return res.Print(w, config.PrintOptions{
		Header: []string{
			"herald serve: effective configuration (flag > HERALD_* environment > file > default).",
			"Secrets are masked. Each key is a flag name; this output is a valid --config file.",
		},
		Skip: func(name string) bool { return name == "print-config" },
	})
}

// ops holds what herald serve runs around the hub: metrics, limits, the
// dashboard, TLS.
type ops struct {
	cfg      *opsConfig
	log      *slog.Logger
	metrics  *metrics.Metrics
	registry *prometheus.Registry
	limiter  *limits.Limiter
	dash     *dashboard.Dashboard
	certs    *certreload.Reloader
	acme     *autocert.Manager
}

// newOps checks the operations settings and builds what does not need the
// hub yet.
func newOps(cfg *serveConfig, log *slog.Logger) (*ops, error) {
	c := &cfg.ops
	o := &ops{cfg: c, log: log}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	if c.tlsCert != "" && len(c.acmeDomains) > 0 {
		return nil, errors.New("use either --tls-cert/--tls-key or --acme-domains, not both")
	}
	if len(c.acmeDomains) > 0 && c.acmeCache == "" {
		return nil, errors.New("--acme-domains needs --acme-cache, a directory that keeps certificates across restarts (Let's Encrypt limits how often they are issued)")
	}
	for name, v := range map[string]int{"max-connections": c.maxConns, "max-connections-per-ip": c.maxConnsPerIP, "max-selectors": c.maxSelectors, "queue-size": c.queueSize, "queue-bytes": c.queueBytes, "publish-burst": c.publishBurst, "http2-max-streams": c.http2MaxStreams} {
		if v < 0 {
			return nil, fmt.Errorf("--%s must not be negative", name)
		}
	}
	if c.maxPublishSize <= 0 {
		return nil, errors.New("--max-publish-size must be positive")
	}
	if c.certsWanted() {
		certs, err := certreload.New(c.tlsCert, c.tlsKey, log)
		if err != nil {
			return nil, err
		}
		o.certs = certs
	}
	if len(c.acmeDomains) > 0 {
		o.acme = &autocert.Manager{
			Prompt:     autocert.AcceptTOS,
			HostPolicy: autocert.HostWhitelist(c.acmeDomains...),
			Cache:      autocert.DirCache(c.acmeCache),
			Email:      c.acmeEmail,
		}
	}

	o.metrics = metrics.New()
	o.registry = prometheus.NewRegistry()
	trusted, _ := limits.ParsePrefixes(c.trustedProxies.listFlag) // checked by prefixFlag.Set
	lim, err := limits.New(limits.Config{
		MaxConns:       c.maxConns,
		MaxConnsPerIP:  c.maxConnsPerIP,
		TrustedProxies: trusted,
		PublishRate:    c.publishRate,
		PublishBurst:   c.publishBurst,
		RateKey:        c.publishRateBy.value,
		ReadTimeout:    c.readTimeout,
		WriteTimeout:   c.responseTimeout,
		IsStream:       isStream,
		IsPublish:      func(r *http.Request) bool { return r.Method == http.MethodPost && r.URL.Path == hubPath },
		OnReject:       o.metrics.Rejected,
		Logger:         log,
	})
	if err != nil {
		return nil, err
	}
	o.limiter = lim
	mode, err := dashboard.ParseMode(c.dashboard.value)
	if err != nil {
		return nil, err
	}
	o.dash = dashboard.New(dashboard.Config{
		Mode:    mode,
		Metrics: o.metrics,
		HubPath: hubPath,
		Version: "herald " + versionString(),
		Conns:   lim.Conns,
		Logger:  log,
	})
	return o, nil
}

func (c *opsConfig) certsWanted() bool { return c.tlsCert != "" }

// isStream reports whether a request opens a long-lived stream: a
// subscription or the dashboard's stats.
func isStream(r *http.Request) bool {
	return r.Method == http.MethodGet && (r.URL.Path == hubPath || r.URL.Path == "/dashboard/events")
}

// observer is what the hub reports to: metrics, limits and the dashboard.
func (o *ops) observer() herald.Observer {
	return observers{o.metrics, o.limiter, o.dash}
}

// instrument wraps the transport for metrics.
func (o *ops) instrument(t herald.Transport) herald.Transport {
	return o.metrics.InstrumentTransport(t)
}

// routes mounts /metrics (unless it has an address of its own) and the
// dashboard, or the plain page when the dashboard is off.
func (o *ops) routes(mux *http.ServeMux, hub *herald.Hub) {
	o.metrics.Watch(hub)
	o.registry.MustRegister(
		o.metrics,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "herald_connections",
			Help: "Open client connections, streams served off net/http included.",
		}, func() float64 { return float64(o.limiter.Conns()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "herald_build_info",
			Help:        "Herald's version, as a label; always 1.",
			ConstLabels: prometheus.Labels{"version": versionString()},
		}, func() float64 { return 1 }),
	)
	if o.cfg.metricsAddr == "" {
		mux.Handle("GET /metrics", o.metricsHandler())
	}
	if o.dash != nil && o.cfg.dashboard.value != "off" {
		o.dash.Register(mux)
	} else {
		mux.HandleFunc("/{$}", servePage)
	}
}

func (o *ops) metricsHandler() http.Handler {
	return promhttp.HandlerFor(o.registry, promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(o.log.Handler(), slog.LevelWarn),
		EnableOpenMetrics: true,
	})
}

// serve runs the HTTP server(s) until ctx is done, then shuts down
// gracefully: streams end (clients resume elsewhere), requests in flight
// finish.
func (o *ops) serve(ctx context.Context, listenAddr string, hub *herald.Hub, mux *http.ServeMux, welcome func(base string)) error {
	c := o.cfg
	var handler http.Handler = mux
	handler = o.limiter.Handler(handler)
	if c.accessLog {
		handler = accessLog(o.log, o.limiter, handler)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: c.readHeaderTimeout,
		IdleTimeout:       c.idleTimeout,
		ConnContext:       o.limiter.ConnContext,
		ErrorLog:          slog.NewLogLogger(o.log.Handler(), slog.LevelWarn),
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: c.http2MaxStreams},
	}
	secure := o.certs != nil || o.acme != nil
	var protos http.Protocols
	protos.SetHTTP1(true)
	if secure {
		protos.SetHTTP2(true)
		if o.certs != nil {
			srv.TLSConfig = &tls.Config{GetCertificate: o.certs.GetCertificate, MinVersion: tls.VersionTLS12}
		} else {
			srv.TLSConfig = o.acme.TLSConfig()
			srv.TLSConfig.MinVersion = tls.VersionTLS12
		}
	}
	if c.h2c {
		protos.SetUnencryptedHTTP2(true)
	}
	srv.Protocols = &protos

	// Every listener first, so that a port in use stops the start before
	// anything is served; the hub is closed on the way out.
	var listeners []net.Listener
	fail := func(err error) error {
		for _, l := range listeners {
			l.Close()
		}
		cctx, cancel := context.WithTimeout(context.Background(), c.shutdownTimeout)
		defer cancel()
		hub.Close(cctx)
		return err
	}
	ln, err := net.Listen("tcp", listenAddr)
	if err != nil {
		return fail(err)
	}
	listeners = append(listeners, ln)
	ln = o.limiter.Listener(ln)
	var mln, pln, aln, hln net.Listener
	if c.metricsAddr != "" && c.metricsAddr != "off" {
		if mln, err = net.Listen("tcp", c.metricsAddr); err != nil {
			return fail(fmt.Errorf("--metrics-addr: %w", err))
		}
		listeners = append(listeners, mln)
	}
	if c.pprofAddr != "" && c.pprofAddr != "off" {
		if pln, err = net.Listen("tcp", c.pprofAddr); err != nil {
			return fail(fmt.Errorf("--pprof-addr: %w", err))
		}
		listeners = append(listeners, pln)
	}
	if c.adminSocket != "" {
		if aln, err = listenAdmin(c.adminSocket); err != nil {
			return fail(err)
		}
		listeners = append(listeners, aln)
	}
	if o.acme != nil && c.acmeHTTPAddr != "" {
		if hln, err = net.Listen("tcp", c.acmeHTTPAddr); err != nil {
			return fail(fmt.Errorf("--acme-http-addr: %w", err))
		}
		listeners = append(listeners, hln)
	}
	scheme := "http"
	if secure {
		scheme = "https"
	}

	var servers []*http.Server
	errc := make(chan error, 5)
	side := func(l net.Listener, h http.Handler) {
		s := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: srv.ErrorLog}
		servers = append(servers, s)
		go func() { errc <- s.Serve(l) }()
	}
	metricsAddr := ""
	if mln != nil {
		mmux := http.NewServeMux()
		mmux.Handle("GET /metrics", o.metricsHandler())
		side(mln, mmux)
		metricsAddr = mln.Addr().String()
		o.log.Info("metrics listening", "addr", metricsAddr)
	}
	if pln != nil {
		side(pln, pprofHandler())
		o.log.Info("pprof listening", "addr", pln.Addr().String())
	}
	if aln != nil {
		side(aln, adminHandler(hub, o.log))
		o.log.Info("admin socket listening", "path", c.adminSocket)
	}
	if hln != nil {
		side(hln, o.acme.HTTPHandler(nil))
	}

	// SIGHUP reloads the certificate (the TLS files are also polled). It
	// is caught before the server is announced, so that a reload signal
	// sent right after never finds the default action (exit).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	addr := ln.Addr().String()
	o.log.Info("herald listening", "addr", addr, "tls", secure, "h2c", c.h2c, "dashboard", c.dashboard.value)
	go func() {
		if secure {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	if welcome != nil {
		welcome(scheme + "://" + addr)
	}
	if c.onListen != nil {
		c.onListen(addr, metricsAddr)
	}

	wctx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	if o.certs != nil && c.tlsReload > 0 {
		go o.certs.Watch(wctx, c.tlsReload)
	}

	var serveErr error
loop:
	for {
		select {
		case err := <-errc:
			serveErr = err
			break loop
		case <-hup:
			if o.certs == nil {
				o.log.Info("SIGHUP: nothing to reload (no --tls-cert)")
				continue
			}
			if err := o.certs.Reload(); err != nil {
				o.log.Error("SIGHUP: tls certificate not reloaded; keeping the current one", "err", err)
			} else {
				o.log.Info("SIGHUP: tls certificate reloaded", "cert", c.tlsCert)
			}
		case <-ctx.Done():
			break loop
		}
	}

	o.log.Info("shutting down: ending streams; clients resume elsewhere with Last-Event-ID")
	sctx, cancel := context.WithTimeout(context.Background(), c.shutdownTimeout)
	defer cancel()
	o.dash.Close()
	herr := hub.Close(sctx)
	serr := srv.Shutdown(sctx)
	if errors.Is(serr, context.DeadlineExceeded) {
		srv.Close()
		serr = nil
	}
	for _, s := range servers {
		if err := s.Shutdown(sctx); err != nil {
			s.Close()
		}
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return errors.Join(herr, serr)
}

// observers fans a hub's events out to several observers.
type observers []herald.Observer

var _ herald.StreamObserver = observers(nil)

func (os observers) Published(u *herald.Update, took time.Duration, err error) {
	for _, o := range os {
		o.Published(u, took, err)
	}
}

func (os observers) Connected(replayed int) {
	for _, o := range os {
		o.Connected(replayed)
	}
}

func (os observers) Disconnected(reason herald.DisconnectReason) {
	for _, o := range os {
		o.Disconnected(reason)
	}
}

func (os observers) StreamOpened(r *http.Request, selectors int) func() {
	var closers []func()
	for _, o := range os {
		if so, ok := o.(herald.StreamObserver); ok {
			if f := so.StreamOpened(r, selectors); f != nil {
				closers = append(closers, f)
			}
		}
	}
	switch len(closers) {
	case 0:
		return nil
	case 1:
		return closers[0]
	}
	return func() {
		for _, f := range closers {
			f()
		}
	}
}

// accessLog logs each request once its handler returns: for a stream,
// when its headers and replay are written. The query string, headers and
// cookies are left out: they may carry tokens.
func accessLog(log *slog.Logger, lim *limits.Limiter, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		status := sw.status
		if status == 0 {
			status = http.StatusOK // also a stream the hub took over and answered itself
		}
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", status),
			slog.Int64("bytes", sw.bytes),
			slog.Duration("took", time.Since(start)),
			slog.String("client", lim.ClientIP(r).String()),
			slog.String("proto", r.Proto),
		}
		if sw.hijacked {
			attrs = append(attrs, slog.Bool("handed_off", true))
		}
		log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
	})
}

// statusWriter records the status and size of a response. It keeps the
// hijacking and flushing of the writer it wraps, which the hub needs.
type statusWriter struct {
	http.ResponseWriter
	status   int
	bytes    int64
	hijacked bool
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	w.hijacked = true
	return h.Hijack()
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// pprofHandler serves the runtime's profiles on a mux of its own (the
// handlers net/http/pprof registers on http.DefaultServeMux are not served
// anywhere).
func pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
