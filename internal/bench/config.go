package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os/exec"
	"strings"
	"time"
)

// Scenario names a benchmark.
type Scenario string

// The scenarios.
const (
	// Idle connects subscribers and publishes nothing: server memory per
	// subscriber, and server CPU per heartbeat over a window.
	Idle Scenario = "idle"
	// Fanout publishes a fixed number of updates as fast as the hub
	// acknowledges them: deliveries per server CPU-second.
	Fanout Scenario = "fanout"
	// Latency publishes at a steady low rate: delivery latency.
	Latency Scenario = "latency"
	// Overload publishes at a rate the hub is not expected to sustain:
	// deliveries per second reached, loss, memory.
	Overload Scenario = "overload"
)

// Scenarios lists every scenario.
var Scenarios = []Scenario{Idle, Fanout, Latency, Overload}

// ParseScenario returns the scenario named s.
func ParseScenario(s string) (Scenario, error) {
	for _, sc := range Scenarios {
		if string(sc) == s {
			return sc, nil
		}
	}
	return "", fmt.Errorf("unknown scenario %q (want idle, fanout, latency or overload)", s)
}

// Config configures a run. Zero values take the scenario's defaults (see
// Defaults).
type Config struct {
	Scenario Scenario

	// Hub is the hub's URL, such as http://127.0.0.1:8080/.well-known/mercure.
	Hub string
	// Topic is the one topic every subscriber subscribes to and every
	// update is published to.
	Topic string
	// Token authorizes publishing (Authorization: Bearer). Empty: none.
	Token string
	// SubToken authorizes subscribing; empty with Anonymous false means
	// Token is used.
	SubToken string
	// Anonymous subscribes without a token.
	Anonymous bool

	Subscribers int
	Publishers  int
	// Updates is the number of updates the fanout scenario publishes, in
	// all (split evenly between publishers).
	Updates int
	// Rate is the total publishing rate in updates per second; 0 in the
	// fanout scenario means as fast as the hub acknowledges.
	Rate float64
	// Duration is how long the latency and overload scenarios publish,
	// and the idle scenario's measuring window.
	Duration time.Duration
	// Payload is the size of each update's data in bytes (at least 64).
	Payload int

	// Sources are the local addresses subscribers connect from, in turn;
	// empty: let the kernel choose.
	Sources []netip.Addr
	// Workers is the number of worker processes that hold the
	// subscribers: 0 chooses from the file limit (1 = this process only).
	Workers int

	// PID is the server's process id, to sample its CPU and memory; 0:
	// none.
	PID int
	// PIDSettle is how long the idle scenario waits after the last
	// subscriber connected before it samples the server's memory.
	PIDSettle time.Duration

	ConnectConcurrency int           // connections set up at once, per process
	ConnectTimeout     time.Duration // to get a subscribe response
	DrainTimeout       time.Duration // how long to wait for missing deliveries once publishing is over
	WarmupTimeout      time.Duration // how long to wait for every subscriber to be live
	NoWarmup           bool          // skip the warm-up (then subscribers count as live once the response headers arrive)
	NoReconnect        bool          // do not reopen streams the hub ends
	ReadBuffer         int           // bytes per subscriber read (default 4096)
	// LatencyAtRead measures each delivery's latency to when the load
	// generator read it. By default (on Linux) it is measured to when its
	// bytes reached the subscriber's socket (the kernel's receive
	// timestamp), so that the load generator's own queueing, on cores it
	// shares with the server, is not counted against the server.
	LatencyAtRead bool
	// Engine is how subscribers read their streams: EngineEpoll (the
	// default on Linux, far less CPU per read) or EngineGoroutine (one
	// goroutine per stream, the default elsewhere).
	Engine Engine
	// Readers is the epoll engine's number of reader threads per process
	// (0: one per usable core, at most 2).
	Readers int

	// Progress receives the live progress line; nil: none.
	Progress io.Writer
	// ProgressTTY rewrites one line with \r (a terminal); otherwise a
	// line is printed every ProgressEvery.
	ProgressTTY   bool
	ProgressEvery time.Duration

	// WorkerCommand returns the command that runs a worker: a process that
	// calls ServeWorker on its standard input and output. nil: this
	// executable with the arguments "bench --worker".
	WorkerCommand func(ctx context.Context) (*exec.Cmd, error)
	// WorkerStderr receives the workers' standard error; nil: discarded.
	WorkerStderr io.Writer
}

// Defaults returns c with every zero field set to its scenario's default:
//
//	idle:     1000 subscribers, a 30 s window, 5 s settle
//	fanout:   1000 subscribers, 4 publishers, 20000 updates, no rate limit
//	latency: 10000 subscribers, 1 publisher, 2 updates/s for 30 s
//	overload: 10000 subscribers, 4 publishers, 50 updates/s for 30 s
func (c Config) Defaults() Config {
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	defD := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	switch c.Scenario {
	case Idle:
		def(&c.Subscribers, 1000)
		def(&c.Publishers, 1)
		defD(&c.Duration, 30*time.Second)
		defD(&c.PIDSettle, 5*time.Second)
	case Fanout:
		def(&c.Subscribers, 1000)
		def(&c.Publishers, 4)
		def(&c.Updates, 20000)
	case Latency:
		def(&c.Subscribers, 10000)
		def(&c.Publishers, 1)
		if c.Rate == 0 {
			c.Rate = 2
		}
		defD(&c.Duration, 30*time.Second)
	case Overload:
		def(&c.Subscribers, 10000)
		def(&c.Publishers, 4)
		if c.Rate == 0 {
			c.Rate = 50
		}
		defD(&c.Duration, 30*time.Second)
	}
	if c.Topic == "" {
		c.Topic = "https://example.com/herald-bench"
	}
	def(&c.Payload, 100)
	def(&c.ConnectConcurrency, 100)
	def(&c.ReadBuffer, 4096)
	if c.Engine == "" {
		c.Engine = Engines()[0]
	}
	defD(&c.ConnectTimeout, 10*time.Second)
	defD(&c.DrainTimeout, 10*time.Second)
	defD(&c.WarmupTimeout, 60*time.Second)
	defD(&c.ProgressEvery, 5*time.Second)
	return c
}

// Validate reports what is wrong with c (after Defaults).
func (c *Config) Validate() error {
	var errs []error
	if _, err := ParseScenario(string(c.Scenario)); err != nil {
		errs = append(errs, err)
	}
	if c.Hub == "" {
		errs = append(errs, errors.New("no hub URL (--hub)"))
	} else if _, err := newTarget(c.Hub, c.Topic, ""); err != nil {
		errs = append(errs, err)
	}
	if c.Subscribers < 1 {
		errs = append(errs, fmt.Errorf("subscribers must be at least 1, not %d", c.Subscribers))
	}
	if c.Publishers < 1 || c.Publishers > 1024 {
		errs = append(errs, fmt.Errorf("publishers must be between 1 and 1024, not %d", c.Publishers))
	}
	if c.Scenario == Fanout && c.Updates < c.Publishers {
		errs = append(errs, fmt.Errorf("updates (%d) must be at least the number of publishers (%d)", c.Updates, c.Publishers))
	}
	if c.Rate < 0 {
		errs = append(errs, fmt.Errorf("rate must not be negative, not %g", c.Rate))
	}
	if (c.Scenario == Latency || c.Scenario == Overload) && c.Rate == 0 {
		errs = append(errs, fmt.Errorf("the %s scenario needs a rate", c.Scenario))
	}
	if c.Duration < 0 {
		errs = append(errs, fmt.Errorf("duration must not be negative, not %v", c.Duration))
	}
	if c.Payload < minPayload || c.Payload > 1<<20 {
		errs = append(errs, fmt.Errorf("payload must be between %d and %d bytes, not %d", minPayload, 1<<20, c.Payload))
	}
	if c.Workers < 0 || c.Workers > 64 {
		errs = append(errs, fmt.Errorf("workers must be between 0 (automatic) and 64, not %d", c.Workers))
	}
	if c.PID < 0 {
		errs = append(errs, fmt.Errorf("invalid server pid %d", c.PID))
	}
	if _, err := ParseEngine(string(c.Engine)); err != nil {
		errs = append(errs, err)
	}
	if c.Readers < 0 || c.Readers > maxReaders {
		errs = append(errs, fmt.Errorf("readers must be between 0 (automatic) and %d, not %d", maxReaders, c.Readers))
	}
	if c.ReadBuffer < 512 || c.ReadBuffer > 1<<20 {
		errs = append(errs, fmt.Errorf("read buffer must be between 512 bytes and 1 MiB, not %d", c.ReadBuffer))
	}
	return errors.Join(errs...)
}

// subscriberToken is the token subscribers send.
func (c *Config) subscriberToken() string {
	switch {
	case c.Anonymous:
		return ""
	case c.SubToken != "":
		return c.SubToken
	}
	return c.Token
}

// maxSources bounds a source address range.
const maxSources = 1 << 16

// ParseSources parses a list of source addresses: comma-separated
// addresses and inclusive ranges such as 127.0.0.1-127.0.0.40.
func ParseSources(s string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := netip.ParseAddr(strings.TrimSpace(lo))
		if err != nil {
			return nil, fmt.Errorf("source address %q: %w", part, err)
		}
		if !isRange {
			out = append(out, a)
			continue
		}
		b, err := netip.ParseAddr(strings.TrimSpace(hi))
		if err != nil {
			return nil, fmt.Errorf("source range %q: %w", part, err)
		}
		if a.Is4() != b.Is4() || b.Less(a) {
			return nil, fmt.Errorf("source range %q: the end must follow the start in the same family", part)
		}
		for x := a; ; x = x.Next() {
			if len(out) >= maxSources {
				return nil, fmt.Errorf("source range %q: more than %d addresses", part, maxSources)
			}
			out = append(out, x)
			if x == b {
				break
			}
		}
	}
	if len(out) > maxSources {
		return nil, fmt.Errorf("more than %d source addresses", maxSources)
	}
	return out, nil
}

func parseSourceList(list []string) ([]netip.Addr, error) {
	out := make([]netip.Addr, 0, len(list))
	for _, s := range list {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("source address %q: %w", s, err)
		}
		out = append(out, a)
	}
	return out, nil
}

func formatSources(addrs []netip.Addr) []string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return out
}
