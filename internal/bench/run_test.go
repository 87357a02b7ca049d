package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/auth"
)

func TestMain(m *testing.M) {
	// Run as a bench worker when a test re-executes this binary.
	if os.Getenv(WorkerEnv) == "1" {
		if err := ServeWorker(context.Background(), os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "bench worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

const testKey = "herald-bench-test-key-not-a-secret"

// startHerald serves an in-process Herald hub over a real HTTP server.
func startHerald(t *testing.T, opts ...herald.Option) string {
	t.Helper()
	hub := herald.New(opts...)
	mux := http.NewServeMux()
	mux.Handle("/.well-known/mercure", hub)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := hub.Close(ctx); err != nil {
			t.Errorf("hub close: %v", err)
		}
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv.URL + "/.well-known/mercure"
}

func openHerald(t *testing.T, opts ...herald.Option) string {
	return startHerald(t, append([]herald.Option{herald.WithAnonymous(true), herald.WithPublishWithoutToken(true)}, opts...)...)
}

// tiny is a scenario scaled down to run in a second on a loaded machine.
func tiny(sc Scenario, hub string, engine Engine) Config {
	rate := 40.0
	if sc == Fanout {
		rate = 0 // as fast as the hub takes them
	}
	return Config{
		Scenario:      sc,
		Hub:           hub,
		Engine:        engine,
		Anonymous:     true,
		Subscribers:   20,
		Publishers:    2,
		Updates:       200,
		Rate:          rate,
		Duration:      time.Second,
		PID:           os.Getpid(), // the hub runs in this process
		PIDSettle:     100 * time.Millisecond,
		DrainTimeout:  5 * time.Second,
		WarmupTimeout: 10 * time.Second,
	}
}

func mustRun(t *testing.T, cfg Config) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Engine != "" && res.Settings.Engine != cfg.Engine {
		t.Errorf("engine %q, want %q", res.Settings.Engine, cfg.Engine)
	}
	var sum bytes.Buffer
	if err := WriteSummary(&sum, res); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", sum.String())
	return res
}

// checkExact asserts that every connected subscriber got every
// acknowledged update exactly once.
func checkExact(t *testing.T, res *Result) {
	t.Helper()
	d := res.Delivery
	if res.Subscribers.Connected != int64(res.Settings.Subscribers) {
		t.Errorf("connected %d of %d", res.Subscribers.Connected, res.Settings.Subscribers)
	}
	if res.Publish.Acknowledged == 0 {
		t.Fatal("nothing was published")
	}
	if d.Expected != res.Subscribers.Connected*res.Publish.Acknowledged {
		t.Errorf("expected %d, want %d × %d", d.Expected, res.Subscribers.Connected, res.Publish.Acknowledged)
	}
	if d.Received != d.Expected || d.Lost != 0 || d.Duplicated != 0 || d.Extra != 0 || d.LossySubscribers != 0 {
		t.Errorf("delivery not exact: %+v", d)
	}
	if res.Latency.Count != d.Received {
		t.Errorf("latency count %d, received %d", res.Latency.Count, d.Received)
	}
	if res.Settings.LatencyTo == "arrival" && res.Subscribers.Stamped == 0 {
		t.Errorf("latency to arrival, but no read carried a kernel receive time")
	}
	if res.Latency.P50 <= 0 || res.Latency.Max < res.Latency.P99 || res.Latency.P99 < res.Latency.P50 {
		t.Errorf("implausible latency %+v", res.Latency)
	}
}

func TestFanoutHerald(t *testing.T) {
	forEngines(t, func(t *testing.T, engine Engine) {
		res := mustRun(t, tiny(Fanout, openHerald(t), engine))
		checkExact(t, res)
		if res.Publish.Acknowledged != 200 {
			t.Errorf("acknowledged %d, want 200", res.Publish.Acknowledged)
		}
		sv := res.Server
		if sv == nil || sv.CPUSeconds < 0 || sv.RSSAfter <= 0 || sv.RSSMax < sv.RSSAfter {
			t.Fatalf("server stats: %+v", sv)
		}
		if sv.CPUSeconds > 0 && sv.DeliveriesPerCPUSecond <= 0 {
			t.Errorf("no deliveries per CPU-second: %+v", sv)
		}
		if res.Delivery.PerSecond <= 0 || res.Delivery.EventsPerRead <= 0 {
			t.Errorf("delivery rates: %+v", res.Delivery)
		}
	})
}

func TestFanoutPacedHerald(t *testing.T) {
	forEngines(t, func(t *testing.T, engine Engine) {
		cfg := tiny(Fanout, openHerald(t), engine)
		cfg.Updates, cfg.Rate = 30, 60
		res := mustRun(t, cfg)
		checkExact(t, res)
		if res.PublishSeconds < 0.3 {
			t.Errorf("30 updates at 60/s took %.2f s", res.PublishSeconds)
		}
	})
}

func TestLatencyHerald(t *testing.T) {
	forEngines(t, func(t *testing.T, engine Engine) {
		res := mustRun(t, tiny(Latency, openHerald(t), engine))
		checkExact(t, res)
		if len(res.Latency.CDF) == 0 {
			t.Error("no CDF")
		}
	})
}

func TestOverloadHerald(t *testing.T) {
	forEngines(t, func(t *testing.T, engine Engine) {
		cfg := tiny(Overload, openHerald(t), engine)
		cfg.Rate = 400
		res := mustRun(t, cfg)
		checkExact(t, res)
	})
}

func TestIdleHerald(t *testing.T) {
	forEngines(t, func(t *testing.T, engine Engine) {
		cfg := tiny(Idle, openHerald(t, herald.WithHeartbeat(50*time.Millisecond)), engine)
		res := mustRun(t, cfg)
		d := res.Delivery
		if d.Heartbeats < int64(cfg.Subscribers) {
			t.Errorf("%d heartbeats in %v from %d subscribers at a 50 ms interval", d.Heartbeats, cfg.Duration, cfg.Subscribers)
		}
		if d.Received != 0 || res.Publish.Acknowledged != 0 {
			t.Errorf("the idle scenario published: %+v %+v", d, res.Publish)
		}
		sv := res.Server
		if sv == nil || sv.RSSAfter <= 0 || sv.RSSKiBPerSubscriber <= 0 {
			t.Fatalf("server stats: %+v", sv)
		}
		if sv.CPUSeconds > 0 && sv.CPUPerHeartbeatMicros <= 0 {
			t.Errorf("no CPU per heartbeat: %+v", sv)
		}
	})
}

// TestWorkers spreads the subscribers over two worker processes (this
// test binary, re-executed) and merges their counts and histograms.
func TestWorkers(t *testing.T) {
	forEngines(t, func(t *testing.T, engine Engine) {
		cfg := tiny(Fanout, openHerald(t), engine)
		cfg.Workers = 2
		cfg.Subscribers = 21
		cfg.Sources = mustSources(t, "127.0.0.1-127.0.0.3")
		cfg.WorkerCommand = func(ctx context.Context) (*exec.Cmd, error) {
			return exec.CommandContext(ctx, os.Args[0]), nil
		}
		var stderr syncBuffer
		cfg.WorkerStderr = &stderr
		res := mustRun(t, cfg)
		checkExact(t, res)
		if res.Settings.Workers != 2 || res.Client.Processes != 3 {
			t.Errorf("workers %d, processes %d", res.Settings.Workers, res.Client.Processes)
		}
		if s := stderr.String(); s != "" {
			t.Errorf("workers wrote to stderr: %s", s)
		}
	})
}

func mustSources(t *testing.T, s string) []netip.Addr {
	t.Helper()
	a, err := ParseSources(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestTokens runs against a hub that requires tokens, and fails clearly
// with a wrong one.
func TestTokens(t *testing.T) {
	forEngines(t, func(t *testing.T, engine Engine) {
		v, err := auth.New(auth.Config{
			PublisherKeys:  []auth.Key{auth.HMACKey([]byte(testKey))},
			SubscriberKeys: []auth.Key{auth.HMACKey([]byte(testKey))},
		})
		if err != nil {
			t.Fatal(err)
		}
		hub := startHerald(t, herald.WithAuthorizer(v))
		pub, _ := auth.SignHMAC([]byte(testKey), auth.TokenSpec{Publish: []string{"*"}})
		sub, _ := auth.SignHMAC([]byte(testKey), auth.TokenSpec{Subscribe: []string{"*"}})
		cfg := tiny(Fanout, hub, engine)
		cfg.Anonymous = false
		cfg.Token, cfg.SubToken = pub, sub
		cfg.Updates = 20
		checkExact(t, mustRun(t, cfg))

		// Anonymous subscribers are refused by this hub.
		cfg.Anonymous = true
		cfg.Subscribers = 2
		_, err = Run(context.Background(), cfg)
		if err == nil || !strings.Contains(err.Error(), "401") {
			t.Fatalf("anonymous subscribers: %v, want a 401", err)
		}
		// A bad publisher token stops the run with the hub's answer.
		cfg.Anonymous = false
		cfg.Token = "not-a-token"
		_, err = Run(context.Background(), cfg)
		if err == nil || !strings.Contains(err.Error(), "401") {
			t.Fatalf("bad publisher token: %v, want a 401", err)
		}
	})
}

// faultyHub is a deliberately broken hub that does the damage of faults to
// its subscribers' streams. The accounting must find exactly that.
type faultyHub struct {
	mu   sync.Mutex
	subs []chan string
	n    int    // benchmark updates published
	held string // the update the third subscriber gets late
}

// faults is the damage both fake hubs do to subscriber i's copy of
// benchmark update n: the first subscriber loses every 7th, the second
// gets every 5th twice, the third gets every 11th after the next one
// (held carries it meanwhile). It returns what to send, in order.
func faults(i, n int, data string, held *string) []string {
	switch {
	case i == 0 && n%7 == 0:
		return nil
	case i == 1 && n%5 == 0:
		return []string{data, data}
	case i == 2 && n%11 == 0:
		*held = data
		return nil
	case i == 2 && *held != "":
		late := *held
		*held = ""
		return []string{data, late}
	}
	return []string{data}
}

func (f *faultyHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		ch := make(chan string, 4096)
		f.mu.Lock()
		f.subs = append(f.subs, ch)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		rc.Flush()
		for {
			select {
			case <-r.Context().Done():
				return
			case data := <-ch:
				fmt.Fprintf(w, "data: %s\n\n", data)
				rc.Flush()
			}
		}
	case http.MethodPost:
		r.ParseForm()
		data := r.PostForm.Get("data")
		f.mu.Lock()
		defer f.mu.Unlock()
		if !strings.HasPrefix(data, markUpdate) {
			for _, ch := range f.subs {
				ch <- data
			}
			return
		}
		f.n++
		n := f.n
		for i, ch := range f.subs {
			for _, d := range faults(i, n, data, &f.held) {
				ch <- d
			}
		}
	}
}

func TestAccountingFindsFaults(t *testing.T) {
	forEngines(t, func(t *testing.T, engine Engine) {
		f := &faultyHub{}
		srv := httptest.NewServer(f)
		defer func() {
			srv.CloseClientConnections()
			srv.Close()
		}()
		cfg := tiny(Fanout, srv.URL, engine)
		cfg.Publishers = 1
		cfg.Subscribers = 4
		cfg.Updates = 100
		cfg.DrainTimeout = 300 * time.Millisecond
		cfg.PID = 0
		cfg.ConnectConcurrency = 1 // subscribers register in order
		res := mustRun(t, cfg)
		d := res.Delivery
		want := DeliveryStats{
			Expected:         400,
			Received:         400 - 14,
			Lost:             14, // 7, 14, …, 98
			Duplicated:       20, // 5, 10, …, 100
			Reordered:        9,  // 11, 22, …, 99
			LossySubscribers: 1,
		}
		got := DeliveryStats{Expected: d.Expected, Received: d.Received, Lost: d.Lost, Duplicated: d.Duplicated, Reordered: d.Reordered, LossySubscribers: d.LossySubscribers}
		if got != want {
			t.Fatalf("accounting\n got %+v\nwant %+v", got, want)
		}
		if res.Server != nil {
			t.Errorf("server stats without a pid: %+v", res.Server)
		}
	})
}

func TestPlotAndJSON(t *testing.T) {
	forEngines(t, func(t *testing.T, engine Engine) {
		res := mustRun(t, tiny(Latency, openHerald(t), engine))
		var page bytes.Buffer
		if err := WritePlot(&page, res); err != nil {
			t.Fatal(err)
		}
		html := page.String()
		for _, want := range []string{"<!doctype html>", "<svg", "<polyline", "Delivery latency by percentile", "Throughput over time", "99.9%"} {
			if !strings.Contains(html, want) {
				t.Errorf("the plot lacks %q", want)
			}
		}
		if strings.Contains(html, "<script") || strings.Contains(html, "NaN") {
			t.Error("the plot has a script or NaN")
		}
		js, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		var back Result
		if err := json.Unmarshal(js, &back); err != nil {
			t.Fatal(err)
		}
		if back.Delivery != res.Delivery || back.Latency.P99 != res.Latency.P99 {
			t.Error("the JSON result does not round-trip")
		}
	})
}

// syncBuffer is a bytes.Buffer safe for the workers' stderr copier.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// forEngines runs f once with each subscriber engine this platform has.
func forEngines(t *testing.T, f func(t *testing.T, engine Engine)) {
	t.Helper()
	for _, e := range Engines() {
		t.Run(string(e), func(t *testing.T) { f(t, e) })
	}
}
