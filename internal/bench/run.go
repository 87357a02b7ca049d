package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Result is everything a run measured. It is written as the JSON result.
type Result struct {
	Scenario Scenario  `json:"scenario"`
	Hub      string    `json:"hub"`
	Topic    string    `json:"topic"`
	Started  time.Time `json:"started"`
	Settings Settings  `json:"settings"`

	ConnectSeconds float64 `json:"connect_seconds"` // to open every stream
	PublishSeconds float64 `json:"publish_seconds"` // publishing, or the idle window
	DrainSeconds   float64 `json:"drain_seconds"`   // after publishing, until the last delivery

	Subscribers    GroupStats    `json:"subscribers"`
	Publish        PublishStats  `json:"publish"`
	Delivery       DeliveryStats `json:"delivery"`
	Latency        LatencyStats  `json:"latency"`
	PublishLatency LatencyStats  `json:"publish_latency"`
	Server         *ServerStats  `json:"server,omitempty"`
	Client         ClientStats   `json:"client"`
	Timeline       []Sample      `json:"timeline"`

	Errors []string `json:"errors,omitempty"` // distinct errors seen, first few
	Notes  []string `json:"notes,omitempty"`  // caveats about this run
}

// Settings are the parameters a run used.
type Settings struct {
	Subscribers int     `json:"subscribers"`
	Publishers  int     `json:"publishers"`
	Updates     int     `json:"updates,omitempty"`
	Rate        float64 `json:"rate,omitempty"`
	Duration    float64 `json:"duration_seconds,omitempty"`
	Payload     int     `json:"payload_bytes"`
	Workers     int     `json:"workers"`
	Sources     int     `json:"sources"`
	FileLimit   uint64  `json:"file_limit"`
	// LatencyTo says where delivery latency ends: "arrival" (the kernel's
	// receive timestamp on the subscriber's socket, where available) or
	// "read" (when the load generator read the bytes).
	LatencyTo string `json:"latency_to"`
	Anonymous bool   `json:"anonymous"`
	// Engine is how the subscribers read their streams: "epoll" or
	// "goroutine".
	Engine Engine `json:"engine"`
}

// PublishStats describes the publishing side.
type PublishStats struct {
	Acknowledged int64   `json:"acknowledged"` // updates the hub accepted
	Rejected     int64   `json:"rejected"`     // 429/503 answers (retried)
	Errors       int64   `json:"errors"`       // network errors (retried)
	Late         int64   `json:"late"`         // paced sends that started an interval late
	TargetRate   float64 `json:"target_rate,omitempty"`
	Rate         float64 `json:"rate"` // acknowledged per second
}

// DeliveryStats is the delivery accounting, exact by sequence number.
type DeliveryStats struct {
	Expected         int64   `json:"expected"` // subscribers that got a stream × acknowledged updates
	Received         int64   `json:"received"` // unique
	Lost             int64   `json:"lost"`
	Duplicated       int64   `json:"duplicated"`
	Reordered        int64   `json:"reordered"`
	Extra            int64   `json:"extra"`
	LossySubscribers int64   `json:"lossy_subscribers"`
	PerSecond        float64 `json:"per_second"` // received / (publish + drain time)
	// EventsPerRead is the mean number of events one read returned on the
	// client: above 1 under load, it shows the hub writing several
	// events at once (coalescing), or the client falling behind.
	EventsPerRead float64 `json:"events_per_read"`
	// Heartbeats counts comment lines and non-benchmark events (such as
	// pings) received in the idle window.
	Heartbeats          int64   `json:"heartbeats,omitempty"`
	HeartbeatsPerSecond float64 `json:"heartbeats_per_second,omitempty"`
}

// ServerStats are the server's own counters, from /proc.
type ServerStats struct {
	PID int `json:"pid"`
	// CPUSeconds is the server's user + system time over the measured
	// window: publishing and draining, or the idle window.
	CPUSeconds float64 `json:"cpu_seconds"`
	CPUPercent float64 `json:"cpu_percent"` // of one core, over the window

	RSSBefore int64 `json:"rss_before_bytes"` // before the subscribers connected
	RSSAfter  int64 `json:"rss_after_bytes"`  // connected (idle: settled)
	RSSEnd    int64 `json:"rss_end_bytes"`    // at the end of the run
	RSSMax    int64 `json:"rss_max_bytes"`    // the highest sampled
	RSSPeak   int64 `json:"rss_peak_bytes"`   // VmHWM at the end: the peak since the server started
	Threads   int   `json:"threads"`

	// KiBPerSubscriber is (RSSAfter − RSSBefore) / subscribers.
	KiBPerSubscriber float64 `json:"kib_per_subscriber"`
	// RSSKiBPerSubscriber is RSSAfter / subscribers.
	RSSKiBPerSubscriber float64 `json:"rss_kib_per_subscriber"`

	// Machine-wide TCP socket memory (both ends, loopback), which no RSS
	// shows.
	SockstatBefore Sockstat `json:"sockstat_before"`
	SockstatAfter  Sockstat `json:"sockstat_after"`

	DeliveriesPerCPUSecond float64 `json:"deliveries_per_cpu_second,omitempty"`
	CPUPerHeartbeatMicros  float64 `json:"cpu_per_heartbeat_us,omitempty"`
}

// ClientStats are the load generator's own CPU and memory over the window.
type ClientStats struct {
	Processes  int     `json:"processes"`
	CPUSeconds float64 `json:"cpu_seconds"`
	CPUPercent float64 `json:"cpu_percent"`
	RSS        int64   `json:"rss_bytes"`
	// CPUPerDeliveryMicros is the client's CPU time over the window (its
	// publishers' included) per delivery received; CPUPerReadMicros is
	// the same per read of stream bytes in the window. They tell how much
	// of the cores the load generator took from the server it measures.
	CPUPerDeliveryMicros float64 `json:"cpu_per_delivery_us,omitempty"`
	CPUPerReadMicros     float64 `json:"cpu_per_read_us,omitempty"`
}

// Sample is one point of the run's timeline, taken every second.
type Sample struct {
	T          float64 `json:"t"` // seconds since the start
	Phase      string  `json:"phase"`
	Live       int64   `json:"live"`
	Received   int64   `json:"received"`
	Published  int64   `json:"published"`
	PerSecond  float64 `json:"per_second"` // deliveries per second since the previous sample
	ServerCPU  float64 `json:"server_cpu_percent,omitempty"`
	ServerRSS  int64   `json:"server_rss_bytes,omitempty"`
	ClientCPU  float64 `json:"client_cpu_percent,omitempty"`
	Rejections int64   `json:"rejected,omitempty"`
}

// fileReserve is how many descriptors a process keeps for everything
// but subscribers.
const fileReserve = 128

// Run runs one benchmark and returns what it measured. It fails only when
// the run could not be made (a bad configuration, a hub that refuses the
// token); what the hub got wrong is in the result.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg = cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, run: rand.Uint32(), start: time.Now()}
	return r.do(ctx)
}

type runner struct {
	cfg   Config
	run   uint32
	start time.Time
	res   *Result

	groups []groupHandle
	pubs   []*publisher
	pubLat *latencyRecorder

	phase atomic.Value // string

	mu       sync.Mutex
	timeline []Sample
	rssMax   int64
}

func (r *runner) do(ctx context.Context) (*Result, error) {
	cfg := &r.cfg
	res := &Result{
		Scenario: cfg.Scenario,
		Hub:      cfg.Hub,
		Topic:    cfg.Topic,
		Started:  r.start,
		Settings: Settings{
			Subscribers: cfg.Subscribers,
			Publishers:  cfg.Publishers,
			Payload:     cfg.Payload,
			Sources:     len(cfg.Sources),
			Anonymous:   cfg.Anonymous,
			LatencyTo:   "arrival",
			Engine:      cfg.Engine,
		},
	}
	if cfg.LatencyAtRead || runtime.GOOS != "linux" {
		res.Settings.LatencyTo = "read"
	}
	r.res = res
	switch cfg.Scenario {
	case Fanout:
		res.Settings.Updates = cfg.Updates
		res.Settings.Rate = cfg.Rate
	case Latency, Overload:
		res.Settings.Rate = cfg.Rate
		res.Settings.Duration = cfg.Duration.Seconds()
	case Idle:
		res.Settings.Duration = cfg.Duration.Seconds()
	}
	r.phase.Store("starting")

	limit, _, err := RaiseFileLimit()
	if err != nil {
		limit = 1024
		res.Notes = append(res.Notes, "could not read the file limit: "+err.Error())
	}
	res.Settings.FileLimit = limit
	perProc := int(limit) - fileReserve
	if perProc < 1 {
		perProc = 1
	}
	workers := cfg.Workers
	if workers == 0 {
		workers = (cfg.Subscribers + perProc - 1) / perProc
	}
	if workers <= 1 && cfg.Subscribers > perProc {
		return nil, fmt.Errorf("%d subscribers do not fit in one process with a file limit of %d: use --workers %d (or more)",
			cfg.Subscribers, limit, (cfg.Subscribers+perProc-1)/perProc)
	}
	if workers > 1 && (cfg.Subscribers+workers-1)/workers > perProc {
		return nil, fmt.Errorf("%d subscribers over %d workers exceed the file limit of %d per process: use --workers %d",
			cfg.Subscribers, workers, limit, (cfg.Subscribers+perProc-1)/perProc)
	}
	res.Settings.Workers = workers

	var before ProcSample
	var sockBefore Sockstat
	if cfg.PID > 0 {
		if before, err = ReadProc(cfg.PID); err != nil {
			return nil, fmt.Errorf("--pid: %w", err)
		}
		sockBefore, _ = ReadSockstat()
		r.rssMax = before.RSS
	}

	client := newPublishClient(cfg.Publishers)
	defer client.CloseIdleConnections()
	r.pubLat = newLatencyRecorder(4)
	for i := 0; i < cfg.Publishers; i++ {
		r.pubs = append(r.pubs, newPublisher(i, cfg, r.run, client, r.pubLat))
	}

	if err := r.startGroups(ctx, workers); err != nil {
		return nil, err
	}
	closed := false
	defer func() {
		if !closed {
			r.closeGroups()
		}
	}()

	// Sample and print progress until the run is over.
	sctx, stopSampler := context.WithCancel(ctx)
	samplerDone := make(chan struct{})
	go func() {
		defer close(samplerDone)
		r.sample(sctx)
	}()
	defer func() {
		stopSampler()
		<-samplerDone
	}()

	// Connect.
	r.phase.Store("connect")
	if err := r.waitConnected(ctx); err != nil {
		return nil, err
	}
	res.ConnectSeconds = time.Since(r.start).Seconds()
	st := r.stats()
	if st.Connected == 0 {
		return nil, fmt.Errorf("no subscriber could connect to %s: %v", cfg.Hub, r.errors())
	}
	if st.Failed > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d of %d subscribers could not connect", st.Failed, cfg.Subscribers))
	}

	server := &ServerStats{PID: cfg.PID, RSSBefore: before.RSS, SockstatBefore: sockBefore}
	var w0, w1 ProcSample // server at the window's start and end
	var c0, c1 time.Duration
	var t0, t1, t2 time.Time
	var hb0, reads0 int64

	switch cfg.Scenario {
	case Idle:
		r.phase.Store("settle")
		if err := sleep(ctx, cfg.PIDSettle); err != nil {
			return nil, err
		}
		if cfg.PID > 0 {
			after, err := ReadProc(cfg.PID)
			if err != nil {
				return nil, err
			}
			server.RSSAfter = after.RSS
			server.SockstatAfter, _ = ReadSockstat()
			w0 = after
		}
		st := r.stats()
		hb0 = st.Comments + st.Other
		reads0 = st.Reads
		c0 = r.clientCPU()
		t0 = time.Now()
		r.phase.Store("idle")
		if err := sleep(ctx, cfg.Duration); err != nil {
			return nil, err
		}
		t1, t2 = time.Now(), time.Now()
	default:
		if !cfg.NoWarmup {
			r.phase.Store("warm-up")
			if err := r.warmup(ctx); err != nil {
				return nil, err
			}
		}
		if cfg.PID > 0 {
			if w0, err = ReadProc(cfg.PID); err != nil {
				return nil, err
			}
			server.RSSAfter = w0.RSS
			server.SockstatAfter, _ = ReadSockstat()
		}
		reads0 = r.stats().Reads
		c0 = r.clientCPU()
		t0 = time.Now()
		r.phase.Store("publish")
		if err := r.publish(ctx); err != nil {
			return nil, err
		}
		t1 = time.Now()
		r.phase.Store("drain")
		if err := r.drain(ctx); err != nil {
			return nil, err
		}
		t2 = time.Now()
	}
	if cfg.PID > 0 {
		if w1, err = ReadProc(cfg.PID); err != nil {
			return nil, err
		}
	}
	c1 = r.clientCPU()
	st = r.stats()
	res.PublishSeconds = t1.Sub(t0).Seconds()
	res.DrainSeconds = t2.Sub(t1).Seconds()
	window := t2.Sub(t0).Seconds()

	// Final accounting.
	r.phase.Store("finish")
	expected := make([]uint64, len(r.pubs))
	var acked int64
	for i, p := range r.pubs {
		expected[i] = p.acked.Load()
		acked += int64(expected[i])
		res.Publish.Rejected += p.rejected.Load()
		res.Publish.Errors += p.errs.Load()
		res.Publish.Late += p.late.Load()
	}
	res.Publish.Acknowledged = acked
	res.Publish.TargetRate = cfg.Rate
	if res.PublishSeconds > 0 {
		res.Publish.Rate = float64(acked) / res.PublishSeconds
	}
	res.PublishLatency = summarize(r.pubLat.merged())

	fctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hist := newHistogram()
	d := &res.Delivery
	var errs []string
	for _, g := range r.groups {
		gr, err := g.finish(fctx, expected)
		if err != nil {
			return nil, err
		}
		h, err := decodeHistogram(gr.Histogram)
		if err != nil {
			return nil, err
		}
		hist.Merge(h)
		res.Subscribers.add(gr.Stats)
		d.Lost += gr.Lost
		d.Extra += gr.Extra
		d.LossySubscribers += gr.Lossy
		errs = append(errs, gr.Errors...)
	}
	closed = true
	r.closeGroups()
	res.Errors = dedupe(errs)

	fs := res.Subscribers
	d.Expected = fs.Connected * acked
	d.Received = fs.Events
	d.Duplicated = fs.Duplicates
	d.Reordered = fs.Reordered
	if window > 0 && cfg.Scenario != Idle {
		d.PerSecond = float64(d.Received) / window
	}
	if fs.Reads > 0 {
		d.EventsPerRead = float64(fs.Events+fs.Warmups+fs.Other) / float64(fs.Reads)
	}
	if cfg.Scenario == Idle {
		d.Heartbeats = st.Comments + st.Other - hb0
		if window > 0 {
			d.HeartbeatsPerSecond = float64(d.Heartbeats) / window
		}
	}
	res.Latency = summarize(hist)
	if res.Settings.LatencyTo == "arrival" && fs.Reads > 0 && fs.Stamped < fs.Reads*9/10 {
		res.Notes = append(res.Notes, fmt.Sprintf("only %d of %d reads carried a kernel receive time; the others are timed at the read", fs.Stamped, fs.Reads))
	}
	if fs.Stale > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d updates of earlier runs were received (replayed history) and ignored", fs.Stale))
	}
	if fs.Invalid > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d events carried malformed benchmark data", fs.Invalid))
	}

	res.Client.Processes = len(r.groups)
	if workers > 1 {
		res.Client.Processes++ // the parent
	}
	res.Client.CPUSeconds = (c1 - c0).Seconds()
	if window > 0 {
		res.Client.CPUPercent = 100 * res.Client.CPUSeconds / window
	}
	if cfg.Scenario != Idle && d.Received > 0 {
		res.Client.CPUPerDeliveryMicros = res.Client.CPUSeconds * 1e6 / float64(d.Received)
	}
	if n := st.Reads - reads0; n > 0 {
		res.Client.CPUPerReadMicros = res.Client.CPUSeconds * 1e6 / float64(n)
	}
	if self, err := ReadProc(os.Getpid()); err == nil {
		res.Client.RSS = self.RSS
	}

	if cfg.PID > 0 {
		server.CPUSeconds = (w1.CPU - w0.CPU).Seconds()
		if window > 0 {
			server.CPUPercent = 100 * server.CPUSeconds / window
		}
		server.RSSEnd = w1.RSS
		server.RSSPeak = w1.HWM
		server.Threads = w1.Threads
		r.mu.Lock()
		server.RSSMax = max(r.rssMax, w1.RSS, server.RSSAfter)
		r.mu.Unlock()
		if n := float64(fs.Connected); n > 0 {
			server.KiBPerSubscriber = float64(server.RSSAfter-server.RSSBefore) / n / 1024
			server.RSSKiBPerSubscriber = float64(server.RSSAfter) / n / 1024
		}
		if server.CPUSeconds > 0 && cfg.Scenario != Idle {
			server.DeliveriesPerCPUSecond = float64(d.Received) / server.CPUSeconds
		}
		if cfg.Scenario == Idle && d.Heartbeats > 0 {
			server.CPUPerHeartbeatMicros = server.CPUSeconds * 1e6 / float64(d.Heartbeats)
		}
		if cfg.Scenario == Idle && server.CPUSeconds < 0.5 {
			res.Notes = append(res.Notes, fmt.Sprintf("the server used only %.2f s of CPU in the window (10 ms resolution): lengthen --duration or shorten the hub's heartbeat for a finer CPU per heartbeat", server.CPUSeconds))
		}
		res.Server = server
	}
	if cfg.Scenario == Idle && d.Heartbeats == 0 {
		res.Notes = append(res.Notes, "no heartbeat arrived in the window: the hub's heartbeat interval may be longer than --duration")
	}
	r.phase.Store("done")
	stopSampler()
	<-samplerDone
	r.mu.Lock()
	res.Timeline = r.timeline
	r.mu.Unlock()
	return res, nil
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] && len(out) < 2*maxErrors {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// startGroups starts the subscriber groups: here, or in workers.
func (r *runner) startGroups(ctx context.Context, workers int) error {
	cfg := &r.cfg
	spec := groupSpec{
		Hub:                cfg.Hub,
		Topic:              cfg.Topic,
		Token:              cfg.subscriberToken(),
		Sources:            formatSources(cfg.Sources),
		Publishers:         cfg.Publishers,
		Run:                r.run,
		ConnectConcurrency: cfg.ConnectConcurrency,
		ConnectTimeout:     cfg.ConnectTimeout,
		Reconnect:          !cfg.NoReconnect,
		ReadBuffer:         cfg.ReadBuffer,
		ArrivalTime:        !cfg.LatencyAtRead,
		Engine:             cfg.Engine,
		Readers:            cfg.Readers,
	}
	if workers <= 1 {
		spec.Count = cfg.Subscribers
		g, err := newGroup(ctx, spec)
		if err != nil {
			return err
		}
		g.start()
		r.groups = []groupHandle{localGroup{g}}
		return nil
	}
	first := 0
	for i := 0; i < workers; i++ {
		s := spec
		s.First = first
		s.Count = cfg.Subscribers / workers
		if i < cfg.Subscribers%workers {
			s.Count++
		}
		first += s.Count
		w, err := startWorker(ctx, cfg, s)
		if err != nil {
			r.closeGroups()
			return err
		}
		r.groups = append(r.groups, w)
	}
	return nil
}

func (r *runner) closeGroups() {
	var wg sync.WaitGroup
	for _, g := range r.groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.close()
		}()
	}
	wg.Wait()
}

func (r *runner) stats() GroupStats {
	var st GroupStats
	for _, g := range r.groups {
		st.add(g.stats())
	}
	return st
}

func (r *runner) groupErr() error {
	for _, g := range r.groups {
		if err := g.err(); err != nil {
			return err
		}
	}
	return nil
}

func (r *runner) errors() []string {
	var out []string
	for _, g := range r.groups {
		if l, ok := g.(localGroup); ok {
			out = append(out, l.g.errors()...)
		}
	}
	return out
}

// pollEvery is how often the runner checks on its subscribers.
const pollEvery = 50 * time.Millisecond

// waitFor polls cond until it holds, a worker fails or ctx ends.
func (r *runner) waitFor(ctx context.Context, cond func(GroupStats) bool) error {
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		if err := r.groupErr(); err != nil {
			return err
		}
		if cond(r.stats()) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// waitConnected waits until every subscriber has a stream or gave up.
func (r *runner) waitConnected(ctx context.Context) error {
	n := int64(r.cfg.Subscribers)
	// Worker stats arrive a little later than the workers start.
	return r.waitFor(ctx, func(st GroupStats) bool {
		return st.Subscribers == n && st.Connected+st.Failed >= n
	})
}

// warmup publishes warm-up updates until every connected subscriber has
// received one: a hub may send the response headers before it has
// registered the subscriber, and an update published in between would
// count as lost.
func (r *runner) warmup(ctx context.Context) error {
	wctx, cancel := context.WithTimeout(ctx, r.cfg.WarmupTimeout)
	defer cancel()
	p := r.pubs[0]
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		if err := r.groupErr(); err != nil {
			return err
		}
		st := r.stats()
		if st.Ready >= st.Connected {
			return nil
		}
		if err := p.warmup(wctx); err != nil {
			return err
		}
		select {
		case <-wctx.Done():
			if ctx.Err() != nil {
				return ctx.Err()
			}
			st := r.stats()
			r.res.Notes = append(r.res.Notes, fmt.Sprintf("%d of %d connected subscribers received no warm-up update within %v; their misses count as losses", st.Connected-st.Ready, st.Connected, r.cfg.WarmupTimeout))
			return nil
		case <-t.C:
		}
	}
}

// publish runs the publishers until their work is done.
func (r *runner) publish(ctx context.Context) error {
	cfg := &r.cfg
	eg, ectx := newTaskGroup(ctx)
	switch cfg.Scenario {
	case Fanout:
		if cfg.Rate > 0 {
			// A fixed count at a fixed rate.
			n := len(r.pubs)
			interval := time.Duration(float64(n) / cfg.Rate * float64(time.Second))
			for i, p := range r.pubs {
				count := cfg.Updates / n
				if i < cfg.Updates%n {
					count++
				}
				eg.Go(func() error {
					return p.publishPacedCount(ectx, interval, time.Duration(i)*interval/time.Duration(n), count)
				})
			}
			break
		}
		for i, p := range r.pubs {
			count := cfg.Updates / len(r.pubs)
			if i < cfg.Updates%len(r.pubs) {
				count++
			}
			eg.Go(func() error { return p.publishCount(ectx, count) })
		}
	default:
		until := time.Now().Add(cfg.Duration)
		n := len(r.pubs)
		interval := time.Duration(float64(n) / cfg.Rate * float64(time.Second))
		for i, p := range r.pubs {
			eg.Go(func() error {
				return p.publishPaced(ectx, interval, time.Duration(i)*interval/time.Duration(n), until)
			})
		}
	}
	return eg.Wait()
}

// drain waits until every connected subscriber has every acknowledged
// update, or until deliveries stop progressing for DrainTimeout.
func (r *runner) drain(ctx context.Context) error {
	var acked int64
	for _, p := range r.pubs {
		acked += int64(p.acked.Load())
	}
	last := int64(-1)
	lastChange := time.Now()
	return r.waitFor(ctx, func(st GroupStats) bool {
		if st.Events >= st.Connected*acked {
			return true
		}
		if st.Events != last {
			last, lastChange = st.Events, time.Now()
			return false
		}
		return time.Since(lastChange) >= r.cfg.DrainTimeout
	})
}

// clientCPU is the CPU time of this process and its workers.
func (r *runner) clientCPU() time.Duration {
	var total time.Duration
	pids := map[int]bool{os.Getpid(): true}
	for _, g := range r.groups {
		pids[g.pid()] = true
	}
	for pid := range pids {
		if s, err := ReadProc(pid); err == nil {
			total += s.CPU
		}
	}
	return total
}

// sample records the timeline every second and prints progress.
func (r *runner) sample(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var prev Sample
	var prevServer ProcSample
	var prevClient time.Duration
	prevAt := time.Now()
	lastPrint := time.Time{}
	for {
		var now time.Time
		final := false
		select {
		case <-ctx.Done():
			now, final = time.Now(), true
		case now = <-t.C:
		}
		{
			st := r.stats()
			s := Sample{
				T:        round(now.Sub(r.start).Seconds(), 3),
				Phase:    r.phase.Load().(string),
				Live:     st.Live,
				Received: st.Events,
			}
			for _, p := range r.pubs {
				s.Published += int64(p.acked.Load())
				s.Rejections += p.rejected.Load()
			}
			dt := now.Sub(prevAt).Seconds()
			if dt > 0 {
				s.PerSecond = round(float64(s.Received-prev.Received)/dt, 1)
			}
			if r.cfg.PID > 0 {
				if ps, err := ReadProc(r.cfg.PID); err == nil {
					// A CPU share over less than half a second (the final
					// sample) is mostly the 10 ms tick's noise.
					if !prevServer.At.IsZero() && ps.At.Sub(prevServer.At) >= 500*time.Millisecond {
						s.ServerCPU = round(100*(ps.CPU-prevServer.CPU).Seconds()/ps.At.Sub(prevServer.At).Seconds(), 1)
					}
					s.ServerRSS = ps.RSS
					prevServer = ps
					r.mu.Lock()
					r.rssMax = max(r.rssMax, ps.RSS)
					r.mu.Unlock()
				}
			}
			c := r.clientCPU()
			if prevClient > 0 && dt >= 0.5 {
				s.ClientCPU = round(100*(c-prevClient).Seconds()/dt, 1)
			}
			prevClient = c
			prev, prevAt = s, now
			if !final {
				r.mu.Lock()
				r.timeline = append(r.timeline, s)
				r.mu.Unlock()
			}
			if r.cfg.Progress != nil && (final || r.cfg.ProgressTTY || now.Sub(lastPrint) >= r.cfg.ProgressEvery) {
				lastPrint = now
				line := progressLine(r.cfg.Scenario, s, st, int64(r.cfg.Subscribers))
				switch {
				case r.cfg.ProgressTTY && final:
					fmt.Fprintf(r.cfg.Progress, "\r\033[K%s\n", line)
				case r.cfg.ProgressTTY:
					fmt.Fprintf(r.cfg.Progress, "\r\033[K%s", line)
				default:
					fmt.Fprintln(r.cfg.Progress, line)
				}
			}
			if final {
				return
			}
		}
	}
}

func progressLine(sc Scenario, s Sample, st GroupStats, n int64) string {
	live, what := s.Live, "live"
	if s.Phase == "done" {
		live, what = st.Connected, "connected"
	}
	line := fmt.Sprintf("[%s %5.0fs] %-8s subs %d/%d %s", sc, s.T, s.Phase, live, n, what)
	if st.Failed > 0 {
		line += fmt.Sprintf(" (%d failed)", st.Failed)
	}
	if sc == Idle {
		line += fmt.Sprintf("  heartbeats %d", st.Comments+st.Other)
	} else {
		line += fmt.Sprintf("  published %d  received %s (%s/s)", s.Published, si(float64(s.Received)), si(s.PerSecond))
		if st.Duplicates > 0 {
			line += fmt.Sprintf("  dup %d", st.Duplicates)
		}
		if s.Rejections > 0 {
			line += fmt.Sprintf("  rejected %d", s.Rejections)
		}
	}
	if st.Reconnects > 0 {
		line += fmt.Sprintf("  reconnects %d", st.Reconnects)
	}
	if s.ServerRSS > 0 {
		line += fmt.Sprintf("  server cpu %.0f%% rss %s", s.ServerCPU, bytesText(s.ServerRSS))
	}
	if s.ClientCPU > 0 {
		line += fmt.Sprintf("  client cpu %.0f%%", s.ClientCPU)
	}
	return line
}

// si formats x with a k/M/G suffix.
func si(x float64) string {
	switch {
	case x >= 1e9:
		return fmt.Sprintf("%.2fG", x/1e9)
	case x >= 1e6:
		return fmt.Sprintf("%.2fM", x/1e6)
	case x >= 1e4:
		return fmt.Sprintf("%.1fk", x/1e3)
	}
	return fmt.Sprintf("%.0f", x)
}

func bytesText(b int64) string {
	switch {
	case b < 0:
		return "-" + bytesText(-b)
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}

// taskGroup runs functions and keeps the first error; the first error
// cancels the others' context.
type taskGroup struct {
	wg     sync.WaitGroup
	once   sync.Once
	err    error
	cancel context.CancelFunc
}

func newTaskGroup(ctx context.Context) (*taskGroup, context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	return &taskGroup{cancel: cancel}, ctx
}

func (t *taskGroup) Go(f func() error) {
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		if err := f(); err != nil && !errors.Is(err, context.Canceled) {
			t.once.Do(func() {
				t.err = err
				t.cancel()
			})
		}
	}()
}

func (t *taskGroup) Wait() error {
	t.wg.Wait()
	t.cancel()
	return t.err
}
