package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/heraldpush/herald/auth"
	"github.com/heraldpush/herald/internal/bench"
)

// benchUsage heads "herald bench -h".
const benchUsage = `Usage: herald bench <scenario> [flags]

Measure a hub that speaks Mercure (Herald or any other): subscribers GET
--hub?topic=..., publishers POST topic and data forms to --hub.

Scenarios (defaults in brackets; every flag overrides):
  idle      connect subscribers, publish nothing: server KiB per subscriber
            and server CPU per heartbeat  [1000 subscribers, 30 s window]
  fanout    publish a fixed number of updates as fast as the hub takes them:
            deliveries per server CPU-second  [1000 subscribers, 4 publishers,
            20000 updates]
  latency   a steady low rate: delivery latency percentiles
            [10000 subscribers, 2 updates/s for 30 s]
  overload  a rate past what the hub sustains: deliveries/s reached, loss,
            memory  [10000 subscribers, 4 publishers, 50 updates/s for 30 s]

Give --pid (the server's process id, on this machine) to measure the server's
own CPU and memory from /proc; without it only client-side figures are known.

Example, against "herald serve --addr 127.0.0.1:8080 --jwt-key K":
  herald bench fanout --hub http://127.0.0.1:8080/.well-known/mercure \
      --jwt-key K --pid $(pgrep -n herald) --json fanout.json --plot fanout.html

Flags:
`

type benchFlags struct {
	hub, topic, token, subToken, jwtKey string
	anonymous                           bool
	subscribers, publishers, updates    int
	rate                                float64
	duration                            time.Duration
	payload                             int
	sources                             string
	workers                             int
	pid                                 int
	pidSettle                           time.Duration
	jsonFile, plotFile                  string
	connectConcurrency                  int
	connectTimeout, drainTimeout        time.Duration
	warmupTimeout                       time.Duration
	noWarmup, noReconnect, quiet        bool
	readBuffer                          int
	worker                              bool
	cpuProfile                          string
	latencyAt                           string
	engine                              string
	readers                             int
}

func (f *benchFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.hub, "hub", "http://localhost:8080/.well-known/mercure", "the hub's URL (http only)")
	fs.StringVar(&f.topic, "topic", "https://example.com/herald-bench", "the topic to subscribe and publish to")
	fs.StringVar(&f.token, "token", "", "publisher JWT (Authorization: Bearer)")
	fs.StringVar(&f.subToken, "sub-token", "", "subscriber JWT (default: --token)")
	fs.StringVar(&f.jwtKey, "jwt-key", "", "mint the publisher and subscriber tokens with this HMAC key (instead of --token/--sub-token)")
	fs.BoolVar(&f.anonymous, "anonymous", false, "subscribe without a token")
	fs.IntVar(&f.subscribers, "subscribers", 0, "number of subscribers (default: the scenario's)")
	fs.IntVar(&f.publishers, "publishers", 0, "number of publishers (default: the scenario's)")
	fs.IntVar(&f.updates, "updates", 0, "fanout: updates to publish in all (default 20000)")
	fs.Float64Var(&f.rate, "rate", 0, "total publishing rate in updates/s (fanout default: unlimited)")
	fs.DurationVar(&f.duration, "duration", 0, "latency/overload: how long to publish; idle: the measuring window (default 30s)")
	fs.IntVar(&f.payload, "payload", 0, "bytes of data per update (default 100, at least 64)")
	fs.StringVar(&f.sources, "sources", "", "source addresses for subscribers, in turn: 127.0.0.1-127.0.0.40 or a comma list (past the ephemeral port range)")
	fs.IntVar(&f.workers, "workers", 0, "worker processes holding the subscribers, past one process's file limit (default: as the limit requires)")
	fs.IntVar(&f.pid, "pid", 0, "the server's process id, to sample its CPU and memory from /proc")
	fs.DurationVar(&f.pidSettle, "pid-settle", 0, "idle: wait this long after connecting before sampling the server's memory (default 5s)")
	fs.StringVar(&f.jsonFile, "json", "", "write the result as JSON to this file (- for standard output)")
	fs.StringVar(&f.plotFile, "plot", "", "write an HTML page with the latency distribution and throughput over time")
	fs.IntVar(&f.connectConcurrency, "connect-concurrency", 0, "connections set up at once per process (default 100)")
	fs.DurationVar(&f.connectTimeout, "connect-timeout", 0, "time for a subscribe response (default 10s)")
	fs.DurationVar(&f.drainTimeout, "drain-timeout", 0, "after publishing, wait this long without progress for missing deliveries (default 10s)")
	fs.DurationVar(&f.warmupTimeout, "warmup-timeout", 0, "time for every subscriber to receive a warm-up update (default 60s)")
	fs.BoolVar(&f.noWarmup, "no-warmup", false, "publish no warm-up update before measuring")
	fs.BoolVar(&f.noReconnect, "no-reconnect", false, "do not reopen streams that the hub ends")
	fs.IntVar(&f.readBuffer, "read-buffer", 0, "bytes per subscriber read (default 4096)")
	fs.StringVar(&f.latencyAt, "latency-to", "arrival", "where a delivery's latency ends: arrival (the kernel's receive time on the subscriber's socket, Linux) or read (when this load generator read it)")
	fs.StringVar(&f.engine, "engine", string(bench.Engines()[0]), "how subscribers read their streams: epoll (Linux: a few reader threads, far less CPU per read) or goroutine (one goroutine per stream)")
	fs.IntVar(&f.readers, "readers", 0, "epoll engine: reader threads per process (default: one per core, at most 2)")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress line")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the load generator (this process) to this file")
	fs.BoolVar(&f.worker, "worker", false, "internal: run as a worker of another herald bench (JSON lines on stdin/stdout)")
}

func runBench(ctx context.Context, e *env, args []string) int {
	fs := flag.NewFlagSet("herald bench", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	var f benchFlags
	f.register(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), benchUsage)
		fs.PrintDefaults()
	}
	// The scenario may come before or after the flags.
	var scenario string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		scenario, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if f.worker {
		if err := bench.ServeWorker(ctx, e.stdin, e.stdout); err != nil && !errors.Is(err, context.Canceled) {
			fmt.Fprintln(e.stderr, "herald bench worker:", err)
			return 1
		}
		return 0
	}
	if scenario == "" && fs.NArg() > 0 {
		scenario = fs.Arg(0)
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return 2
		}
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "herald bench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if scenario == "" {
		fmt.Fprintln(e.stderr, "herald bench: which scenario? idle, fanout, latency or overload (herald bench -h)")
		return 2
	}
	cfg, err := f.config(scenario)
	if err != nil {
		fmt.Fprintln(e.stderr, "herald bench:", err)
		return 2
	}
	if !f.quiet {
		cfg.Progress = e.stderr
		cfg.ProgressTTY = isTerminal(e.stderr)
	}
	cfg.WorkerStderr = e.stderr

	if f.cpuProfile != "" {
		pf, err := os.Create(f.cpuProfile)
		if err != nil {
			fmt.Fprintln(e.stderr, "herald bench:", err)
			return 1
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			fmt.Fprintln(e.stderr, "herald bench:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	res, err := bench.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(e.stderr, "herald bench:", err)
		return 1
	}
	if err := bench.WriteSummary(e.stdout, res); err != nil {
		fmt.Fprintln(e.stderr, "herald bench:", err)
		return 1
	}
	if f.jsonFile != "" {
		if err := writeBenchJSON(e, f.jsonFile, res); err != nil {
			fmt.Fprintln(e.stderr, "herald bench:", err)
			return 1
		}
	}
	if f.plotFile != "" {
		if err := writeFile(f.plotFile, func(w io.Writer) error { return bench.WritePlot(w, res) }); err != nil {
			fmt.Fprintln(e.stderr, "herald bench:", err)
			return 1
		}
	}
	return 0
}

// config turns the flags into a bench.Config.
func (f *benchFlags) config(scenario string) (bench.Config, error) {
	sc, err := bench.ParseScenario(scenario)
	if err != nil {
		return bench.Config{}, err
	}
	cfg := bench.Config{
		Scenario:           sc,
		Hub:                f.hub,
		Topic:              f.topic,
		Token:              f.token,
		SubToken:           f.subToken,
		Anonymous:          f.anonymous,
		Subscribers:        f.subscribers,
		Publishers:         f.publishers,
		Updates:            f.updates,
		Rate:               f.rate,
		Duration:           f.duration,
		Payload:            f.payload,
		Workers:            f.workers,
		PID:                f.pid,
		PIDSettle:          f.pidSettle,
		ConnectConcurrency: f.connectConcurrency,
		ConnectTimeout:     f.connectTimeout,
		DrainTimeout:       f.drainTimeout,
		WarmupTimeout:      f.warmupTimeout,
		NoWarmup:           f.noWarmup,
		NoReconnect:        f.noReconnect,
		ReadBuffer:         f.readBuffer,
		Readers:            f.readers,
	}
	if f.engine != "" {
		if cfg.Engine, err = bench.ParseEngine(f.engine); err != nil {
			return cfg, fmt.Errorf("--engine: %w", err)
		}
	}
	switch f.latencyAt {
	case "arrival", "":
	case "read":
		cfg.LatencyAtRead = true
	default:
		return cfg, fmt.Errorf("--latency-to %q: want arrival or read", f.latencyAt)
	}
	if f.sources != "" {
		if cfg.Sources, err = bench.ParseSources(f.sources); err != nil {
			return cfg, err
		}
	}
	if f.jwtKey != "" {
		if f.token != "" || f.subToken != "" {
			return cfg, errors.New("give either --jwt-key or --token/--sub-token, not both")
		}
		key := []byte(f.jwtKey)
		if cfg.Token, err = auth.SignHMAC(key, auth.TokenSpec{Publish: []string{"*"}, Subscribe: []string{"*"}}); err != nil {
			return cfg, fmt.Errorf("mint a publisher token: %w", err)
		}
		if cfg.SubToken, err = auth.SignHMAC(key, auth.TokenSpec{Subscribe: []string{"*"}}); err != nil {
			return cfg, fmt.Errorf("mint a subscriber token: %w", err)
		}
	}
	if f.plotFile != "" && !strings.EqualFold(filepath.Ext(f.plotFile), ".html") && !strings.EqualFold(filepath.Ext(f.plotFile), ".htm") {
		return cfg, fmt.Errorf("--plot %q: the plot is an HTML page: name it .html", f.plotFile)
	}
	cfg = cfg.Defaults()
	return cfg, cfg.Validate()
}

func writeBenchJSON(e *env, name string, res *bench.Result) error {
	enc := func(w io.Writer) error {
		je := json.NewEncoder(w)
		je.SetIndent("", "  ")
		return je.Encode(res)
	}
	if name == "-" {
		return enc(e.stdout)
	}
	return writeFile(name, enc)
}

// writeFile writes name through a temporary file, so that a failed run
// never leaves half a result behind.
func writeFile(name string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	defer os.Remove(tmp.Name())
	tmp.Chmod(0o644)
	if err := write(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// isTerminal reports whether w is a terminal, where the progress line is
// rewritten in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
