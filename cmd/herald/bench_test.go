package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/auth"
	"github.com/heraldpush/herald/internal/bench"
	"github.com/heraldpush/herald/internal/hubtest"
	"github.com/heraldpush/herald/internal/testbin"
)

// benchHub serves an in-process Herald hub for herald bench to measure.
func benchHub(t *testing.T, opts ...herald.Option) string {
	t.Helper()
	hub := herald.New(opts...)
	mux := http.NewServeMux()
	mux.Handle("/.well-known/mercure", hub)
	return hubtest.Serve(t, mux, hub.Close).URL + "/.well-known/mercure"
}

func runBenchCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	code = run(ctx, e, append([]string{"bench"}, args...))
	return code, out.String(), errb.String()
}

func TestBenchUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{nil, "which scenario"},
		{[]string{"sideways"}, "unknown scenario"},
		{[]string{"fanout", "--sources", "127.0.0.9-127.0.0.1"}, "source range"},
		{[]string{"fanout", "--plot", "x.png"}, "HTML page"},
		{[]string{"fanout", "--jwt-key", "k", "--token", "t"}, "either --jwt-key"},
		{[]string{"fanout", "--hub", "https://example.com/hub"}, "only http://"},
		{[]string{"fanout", "--payload", "8"}, "payload must be"},
		{[]string{"fanout", "extra"}, "unexpected argument"},
		{[]string{"--no-such-flag"}, "not defined"},
	}
	for _, c := range cases {
		code, _, stderr := runBenchCmd(t, c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("bench %q: exit %d, stderr %q; want 2 and %q", c.args, code, stderr, c.want)
		}
	}
	if code, _, stderr := runBenchCmd(t, "-h"); code != 0 || !strings.Contains(stderr, "Scenarios") {
		t.Errorf("bench -h: exit %d, %q", code, stderr)
	}
}

func TestBenchFlagsToConfig(t *testing.T) {
	f := benchFlags{hub: "http://127.0.0.1:1/hub", topic: "t", jwtKey: "k", sources: "127.0.0.1-127.0.0.4", pid: 42, workers: 3}
	cfg, err := f.config("latency")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Scenario != bench.Latency || cfg.Subscribers != 10000 || cfg.Rate != 2 || len(cfg.Sources) != 4 || cfg.PID != 42 || cfg.Workers != 3 {
		t.Fatalf("config %+v", cfg)
	}
	// The minted tokens verify with the key and carry the right claims.
	v, err := auth.New(auth.Config{PublisherKeys: []auth.Key{auth.HMACKey([]byte("k"))}, SubscriberKeys: []auth.Key{auth.HMACKey([]byte("k"))}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		tok    string
		action herald.Action
	}{{cfg.Token, herald.ActionPublish}, {cfg.SubToken, herald.ActionSubscribe}} {
		r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:1/hub", nil)
		r.Header.Set("Authorization", "Bearer "+c.tok)
		if _, err := v.Authorize(r, c.action); err != nil {
			t.Errorf("minted token refused for %v: %v", c.action, err)
		}
	}
}

// TestBenchFanout runs the command end to end against an in-process hub,
// with the JSON result and the plot.
func TestBenchFanout(t *testing.T) {
	// Registered first, the leak check runs after the hub's cleanup.
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	hub := benchHub(t, herald.WithAnonymous(true), herald.WithPublishWithoutToken(true))
	dir := t.TempDir()
	jsonFile, plotFile := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.html")
	code, stdout, stderr := runBenchCmd(t, "fanout", "--hub", hub, "--anonymous", "--subscribers", "10",
		"--publishers", "2", "--updates", "100", "--pid", itoa(os.Getpid()), "--json", jsonFile, "--plot", plotFile,
		"--sources", "127.0.0.1-127.0.0.2")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"herald bench fanout", "lost 0, duplicated 0", "deliveries per server CPU-second", "latency      p50"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "[fanout") {
		t.Errorf("no progress line on stderr: %q", stderr)
	}
	var res bench.Result
	b, err := os.ReadFile(jsonFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if res.Delivery.Received != 1000 || res.Delivery.Lost != 0 || res.Delivery.Duplicated != 0 || res.Latency.Count != 1000 {
		t.Errorf("result %+v %+v", res.Delivery, res.Latency)
	}
	page, err := os.ReadFile(plotFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(page, []byte("<svg")) {
		t.Error("the plot has no SVG")
	}
}

// TestBenchWorkersBinary builds herald and runs "herald bench --workers 2",
// which re-executes the binary as two workers.
func TestBenchWorkersBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	goBin := testbin.Require(t, testbin.Find([]string{"go"}), "no go command on PATH to build herald: the workers test did NOT run")
	// Registered first, the leak check runs after the hub's cleanup.
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	exe := filepath.Join(t.TempDir(), "herald")
	build := exec.Command(goBin, "build", "-o", exe, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	hub := benchHub(t, herald.WithAnonymous(true), herald.WithPublishWithoutToken(true))
	jsonFile := filepath.Join(t.TempDir(), "r.json")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "bench", "latency", "--hub", hub, "--anonymous", "--subscribers", "30",
		"--workers", "2", "--rate", "20", "--duration", "1s", "--json", jsonFile)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("herald bench: %v\n%s", err, out)
	}
	var res bench.Result
	b, err := os.ReadFile(jsonFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	d := res.Delivery
	if res.Settings.Workers != 2 || res.Subscribers.Connected != 30 || d.Received != 30*res.Publish.Acknowledged || d.Lost != 0 || d.Duplicated != 0 {
		t.Fatalf("workers %d connected %d delivery %+v\n%s", res.Settings.Workers, res.Subscribers.Connected, d, out)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
