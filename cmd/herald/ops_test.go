package main

// Tests of herald serve's operations side: configuration layers, logs,
// metrics after scripted scenarios, and limits. Each test runs the real
// command in-process on a free loopback port.

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/heraldpush/herald/auth"
	"github.com/heraldpush/herald/internal/redistest"
)

// opsKey signs the tokens of these tests.
const opsKey = "herald-ops-test-key-not-a-secret"

const opsTopic = "https://example.com/ops"

func opsNoLeaks(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

func opsToken(t testing.TB, spec auth.TokenSpec) string {
	t.Helper()
	tok, err := auth.SignHMAC([]byte(opsKey), spec)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// opsServer is herald serve running in this process.
type opsServer struct {
	base    string // scheme://host:port
	metrics string // the metrics base URL
	stdout  *syncBuffer
	stderr  *syncBuffer
	stop    func() int

	pubToken   string // one token, so that --publish-rate sees one publisher
	otherToken string // a second publisher's
}

var listeningRE = regexp.MustCompile(`Herald is listening on (\S+)/\.well-known/mercure`)
var metricsRE = regexp.MustCompile(`msg="metrics listening" addr=(\S+)`)

// startOps runs herald serve with args (after --addr 127.0.0.1:0 and
// --jwt-key) and the environment environ, and stops it when the test ends.
func startOps(t *testing.T, environ map[string]string, args ...string) *opsServer {
	t.Helper()
	s := &opsServer{stdout: &syncBuffer{}, stderr: &syncBuffer{},
		pubToken:   opsToken(t, auth.TokenSpec{Publish: []string{"*"}, Subject: "publisher"}),
		otherToken: opsToken(t, auth.TokenSpec{Publish: []string{"*"}, Subject: "other-publisher"}),
	}
	e := &env{stdout: s.stdout, stderr: s.stderr, getenv: func(k string) string { return environ[k] }}
	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int, 1)
	full := append([]string{"serve", "--addr", "127.0.0.1:0", "--jwt-key", opsKey}, args...)
	go func() { code <- run(ctx, e, full) }()
	var once sync.Once
	exit := -1
	s.stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case exit = <-code:
			case <-time.After(30 * time.Second):
				t.Errorf("herald serve did not stop; log:\n%s", s.stderr)
			}
		})
		return exit
	}
	t.Cleanup(func() { s.stop() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := listeningRE.FindStringSubmatch(s.stdout.String()); m != nil {
			s.base = m[1]
			break
		}
		select {
		case c := <-code:
			t.Fatalf("herald serve exited with %d:\n%s", c, s.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("herald serve did not start; log:\n%s", s.stderr)
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.metrics = s.base
	if m := metricsRE.FindStringSubmatch(s.stderr.String()); m != nil {
		s.metrics = "http://" + m[1]
	}
	return s
}

func (s *opsServer) hub() string { return s.base + "/.well-known/mercure" }

// opsClient is an HTTP client for one test: its idle connections are
// closed at the end so that they do not count against connection limits
// or leak goroutines.
func opsClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr} // no Timeout: it would cut streams
}

// scrape reads /metrics into "name{labels}" -> value, on a connection of
// its own that it closes.
func (s *opsServer) scrape(t *testing.T) map[string]float64 {
	t.Helper()
	// Certificates are checked elsewhere; this only reads the numbers.
	tr := &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	c := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	resp, err := c.Get(s.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out
}

// waitMetric waits until the metric satisfies ok.
func (s *opsServer) waitMetric(t *testing.T, name string, ok func(float64) bool) float64 {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		v := s.scrape(t)[name]
		if ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v, still not as expected", name, v)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func eq(want float64) func(float64) bool { return func(v float64) bool { return v == want } }

// publish posts an update with a publisher token and returns the status.
func (s *opsServer) publish(t *testing.T, c *http.Client, id, data string) int {
	t.Helper()
	return s.publishAs(t, c, s.pubToken, id, data)
}

// publishAs posts an update on client c with token and returns the status.
// An empty id lets the hub choose one.
func (s *opsServer) publishAs(t *testing.T, c *http.Client, token, id, data string) int {
	t.Helper()
	form := url.Values{"topic": {opsTopic}, "data": {data}}
	if id != "" {
		form.Set("id", id)
	}
	req, _ := http.NewRequest("POST", s.hub(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// opsStream is a subscription read on its own goroutine.
type opsStream struct {
	resp   *http.Response
	cancel func()
	ids    chan string
}

// subscribe opens a stream to opsTopic with header lines such as
// "Authorization: Bearer ...".
func (s *opsServer) subscribe(t *testing.T, c *http.Client, headers ...string) *opsStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", s.hub()+"?topic="+url.QueryEscape(opsTopic), nil)
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Add(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	st := &opsStream{resp: resp, cancel: cancel, ids: make(chan string, 4096)}
	t.Cleanup(st.close)
	go func() {
		defer close(st.ids)
		br := bufio.NewReader(resp.Body)
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if strings.HasPrefix(l, "id: ") {
				st.ids <- strings.TrimSpace(l[4:])
			}
		}
	}()
	return st
}

func (st *opsStream) close() {
	st.cancel()
	st.resp.Body.Close()
}

func (st *opsStream) expect(t *testing.T, id string) {
	t.Helper()
	for {
		select {
		case got, ok := <-st.ids:
			if !ok {
				t.Fatalf("stream ended before %s", id)
			}
			if got == id {
				return
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("timed out waiting for %s", id)
		}
	}
}

// ---- configuration ----

func TestServeConfigPrecedence(t *testing.T) {
	opsNoLeaks(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "herald.yaml")
	os.WriteFile(file, []byte(`# production settings
heartbeat: 30s
history-size: 500
max-connections: 100
cors-origins:
  - https://app.example
  - https://admin.example
transport: redis://herald:s3cr3t-passw0rd@redis.internal:6379/0
jwt-key: file-secret-value
`), 0o600)
	out, errOut := &syncBuffer{}, &syncBuffer{}
	environ := map[string]string{
		"HERALD_CONFIG":          file,
		"HERALD_HISTORY_SIZE":    "700",
		"HERALD_MAX_CONNECTIONS": "200",
		"HERALD_DASHBOARD":       "full",
	}
	e := &env{stdout: out, stderr: errOut, getenv: func(k string) string { return environ[k] }}
	code := run(context.Background(), e, []string{"serve", "--print-config", "--max-connections", "300", "--log-format", "json"})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	text := out.String()
	for _, want := range []string{
		"heartbeat: 30s # " + file + ":2",
		"history-size: 700 # env HERALD_HISTORY_SIZE",
		"max-connections: 300 # flag --max-connections",
		"dashboard: full # env HERALD_DASHBOARD",
		"log-format: json # flag --log-format",
		"cors-origins: ['https://app.example', 'https://admin.example'] # " + file + ":5",
		"transport: redis://herald:xxxxx@redis.internal:6379/0 # " + file + ":8",
		"jwt-key: '********' # " + file + ":9",
		"write-timeout: 5s # default",
		"config: " + file + " # env HERALD_CONFIG",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("--print-config lacks %q", want)
		}
	}
	for _, secret := range []string{"s3cr3t-passw0rd", "file-secret-value"} {
		if strings.Contains(text, secret) {
			t.Errorf("--print-config shows the secret %q", secret)
		}
	}
	if t.Failed() {
		t.Log(text)
	}
}

func TestServeBadConfig(t *testing.T) {
	opsNoLeaks(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name, file string
		env        map[string]string
		want       string
	}{
		{"unknown key", "addr: 127.0.0.1:0\nmax-conections: 5\n", nil, "herald.yaml:2: max-conections: unknown key (did you mean max-connections?)"},
		{"bad value", "heartbeat: 15s\nmax-connections: lots\n", nil, `herald.yaml:2: max-connections: invalid value "lots": expected an integer`},
		{"bad choice", "dashboard: maybe\n", nil, `herald.yaml:1: dashboard: invalid value "maybe": expected one of off, read-only, full`},
		{"bad proxy", "trusted-proxies: [10.0.0.0/8, proxy.local]\n", nil, `herald.yaml:1: trusted-proxies: invalid value "proxy.local"`},
		{"bad env", "", map[string]string{"HERALD_PUBLISH_RATE": "fast"}, `HERALD_PUBLISH_RATE: invalid value "fast" for publish-rate: expected a number`},
		{"yaml syntax", "heartbeat: [15s\n", nil, "herald.yaml: yaml: line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(dir, "herald.yaml")
			os.WriteFile(file, []byte(tc.file), 0o600)
			errOut := &syncBuffer{}
			environ := map[string]string{"HERALD_CONFIG": file}
			for k, v := range tc.env {
				environ[k] = v
			}
			e := &env{stdout: io.Discard, stderr: errOut, getenv: func(k string) string { return environ[k] }}
			if code := run(context.Background(), e, []string{"serve"}); code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if !strings.Contains(errOut.String(), tc.want) {
				t.Errorf("error output %q lacks %q", errOut, tc.want)
			}
		})
	}
}

func TestServeConfigFileRuns(t *testing.T) {
	// A file's settings reach the running server, and the server starts
	// with them.
	opsNoLeaks(t)
	file := filepath.Join(t.TempDir(), "herald.yaml")
	os.WriteFile(file, []byte("anonymous: true\nmax-selectors: 2\ndashboard: off\n"), 0o600)
	s := startOps(t, nil, "--config", file)
	c := opsClient(t)
	resp, err := c.Get(s.hub() + "?topic=a&topic=b&topic=c")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), "too many topic selectors") {
		t.Errorf("three selectors with max-selectors 2 from the file: %d %s", resp.StatusCode, body)
	}
	resp, err = c.Get(s.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(body), "dashboard/app.js") {
		t.Error("dashboard served though the file turns it off")
	}
}

// ---- logs ----

func TestServeLogsNoTokens(t *testing.T) {
	opsNoLeaks(t)
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			s := startOps(t, nil, "--log-level", "debug", "--log-format", format, "--access-log", "--anonymous")
			c := opsClient(t)
			good := opsToken(t, auth.TokenSpec{Subscribe: []string{"*"}, Publish: []string{"*"}})
			expired := opsToken(t, auth.TokenSpec{Subscribe: []string{"*"}, TTL: time.Second, Now: time.Now().Add(-time.Hour)})
			forged := good[:len(good)-4] + "AAAA"
			secrets := []string{good, expired, forged, "cookie-secret-" + format}
			for _, tok := range []string{good, expired, forged} {
				// Header, query parameter and cookie; subscribe and publish.
				for _, req := range []*http.Request{
					mustRequest(t, "GET", s.hub()+"?topic=x", "", "Authorization", "Bearer "+tok),
					mustRequest(t, "GET", s.hub()+"?topic=x&authorization="+url.QueryEscape(tok), "", "", ""),
					mustRequest(t, "GET", s.hub()+"?topic=x", "", "Cookie", "mercureAuthorization="+tok+"; other=cookie-secret-"+format),
					mustRequest(t, "POST", s.hub(), "topic=x&data=y", "Authorization", "Bearer "+tok),
					mustRequest(t, "POST", s.hub(), "topic=x&data=y", "Cookie", "mercureAuthorization="+tok),
					mustRequest(t, "POST", s.hub()+"?authorization="+url.QueryEscape(tok), "topic=x&data=y", "", ""),
				} {
					ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
					resp, err := c.Do(req.WithContext(ctx))
					if err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
					cancel()
				}
			}
			s.stop()
			log := s.stderr.String()
			if !strings.Contains(log, "path=/.well-known/mercure") && !strings.Contains(log, `"path":"/.well-known/mercure"`) {
				t.Fatalf("no access log lines:\n%s", log)
			}
			for _, secret := range secrets {
				if strings.Contains(log, secret) {
					t.Errorf("the log contains a token or cookie:\n%s", log)
				}
			}
			// Not even a part of one: the signature is the secret part.
			for _, tok := range []string{good, expired} {
				sig := tok[strings.LastIndexByte(tok, '.')+1:]
				if strings.Contains(log, sig) {
					t.Errorf("the log contains a token signature")
				}
			}
		})
	}
}

func mustRequest(t *testing.T, method, u, body, hk, hv string) *http.Request {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if hk != "" {
		req.Header.Set(hk, hv)
	}
	return req
}

// ---- metrics after scripted scenarios ----

func TestMetricsSlowSubscriber(t *testing.T) {
	opsNoLeaks(t)
	s := startOps(t, nil, "--anonymous", "--queue-bytes", "262144", "--write-timeout", "120s")
	c := opsClient(t)
	good := s.subscribe(t, c)
	// The slow subscriber never reads, through a small receive buffer.
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return serr
	}}
	slow, err := d.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fmt.Fprintf(slow, "GET /.well-known/mercure?topic=%s HTTP/1.1\r\nHost: herald\r\n\r\n", url.QueryEscape(opsTopic))
	s.waitMetric(t, "herald_subscribers", eq(2))
	before := s.scrape(t)

	data := strings.Repeat("x", 64<<10)
	published := 0
	for s.scrape(t)[`herald_disconnects_total{reason="slow"}`] == 0 {
		// Small bursts, each read by the good subscriber before the
		// next: only the one that never reads falls behind.
		for range 4 {
			published++
			if code := s.publish(t, c, fmt.Sprint("u", published), data); code != 200 {
				t.Fatalf("publish %d: %d", published, code)
			}
		}
		good.expect(t, fmt.Sprint("u", published))
		if published > 2000 {
			t.Fatal("the slow subscriber was never disconnected")
		}
	}
	after := s.scrape(t)
	t.Logf("slow subscriber dropped after %d updates of 64 KiB", published)
	for name, want := range map[string]float64{
		`herald_disconnects_total{reason="slow"}`:          1,
		`herald_disconnects_total{reason="client_gone"}`:   0,
		`herald_disconnects_total{reason="write_timeout"}`: 0,
		`herald_updates_published_total{result="ok"}`:      float64(published),
		"herald_publish_duration_seconds_count":            float64(published),
	} {
		if got := after[name] - before[name]; got != want {
			t.Errorf("%s moved by %v, want %v", name, got, want)
		}
	}
	if after["herald_subscribers"] != 1 || after["herald_connects_total"] != 2 {
		t.Errorf("subscribers %v, connects %v; want 1 and 2", after["herald_subscribers"], after["herald_connects_total"])
	}
	// The good subscriber got every update, the slow one some.
	if got := after["herald_updates_delivered_total"]; got < float64(published) || got >= float64(2*published) {
		t.Errorf("delivered %v for %d updates to one full and one partial subscriber", got, published)
	}
}

func TestMetricsRedisOutage(t *testing.T) {
	opsNoLeaks(t)
	rs := redistest.Start(t)
	s := startOps(t, nil, "--anonymous", "--transport", rs.URL())
	c := opsClient(t)
	st := s.subscribe(t, c)
	s.waitMetric(t, "herald_subscribers", eq(1))
	if code := s.publish(t, c, "before", "x"); code != 200 {
		t.Fatalf("publish before the outage: %d", code)
	}
	st.expect(t, "before")
	before := s.scrape(t)
	if before["herald_transport_up"] != 1 {
		t.Errorf("herald_transport_up = %v before the outage", before["herald_transport_up"])
	}

	rs.Kill()
	const failures = 3
	for i := range failures {
		if code := s.publish(t, c, fmt.Sprint("during", i), "x"); code != http.StatusServiceUnavailable {
			t.Fatalf("publish during the outage: %d, want 503", code)
		}
	}
	during := s.scrape(t)
	for name, want := range map[string]float64{
		`herald_updates_published_total{result="unavailable"}`:                 failures,
		`herald_updates_published_total{result="ok"}`:                          0,
		`herald_transport_operations_total{op="publish",result="unavailable"}`: failures,
		`herald_publish_duration_seconds_count`:                                failures,
	} {
		if got := during[name] - before[name]; got != want {
			t.Errorf("during the outage %s moved by %v, want %v", name, got, want)
		}
	}
	if during["herald_transport_up"] != 0 {
		t.Errorf("herald_transport_up = %v during the outage", during["herald_transport_up"])
	}

	rs.Restart()
	deadline := time.Now().Add(30 * time.Second)
	for s.publish(t, c, "after", "x") != 200 {
		if time.Now().After(deadline) {
			t.Fatal("publishing did not recover after Redis came back")
		}
		time.Sleep(100 * time.Millisecond)
	}
	st.expect(t, "after")
	if up := s.scrape(t)["herald_transport_up"]; up != 1 {
		t.Errorf("herald_transport_up = %v after the outage", up)
	}
}

func TestMetricsExpiredToken(t *testing.T) {
	opsNoLeaks(t)
	s := startOps(t, nil)
	c := opsClient(t)
	tok := opsToken(t, auth.TokenSpec{Subscribe: []string{"*"}, TTL: 2 * time.Second})
	st := s.subscribe(t, c, "Authorization: Bearer "+tok)
	if st.resp.StatusCode != 200 {
		t.Fatalf("subscribe: %s", st.resp.Status)
	}
	s.waitMetric(t, "herald_subscribers", eq(1))
	s.waitMetric(t, `herald_disconnects_total{reason="token_expired"}`, eq(1))
	m := s.scrape(t)
	for name, want := range map[string]float64{
		"herald_subscribers":                             0,
		"herald_subscriptions":                           0,
		"herald_connects_total":                          1,
		`herald_disconnects_total{reason="client_gone"}`: 0,
	} {
		if m[name] != want {
			t.Errorf("%s = %v, want %v", name, m[name], want)
		}
	}
	// The stream was ended by the server.
	select {
	case _, ok := <-st.ids:
		for ok {
			_, ok = <-st.ids
		}
	case <-time.After(10 * time.Second):
		t.Error("the stream stayed open after its token expired")
	}
	// A stream with an already expired token is refused and not counted
	// as a connect.
	old := opsToken(t, auth.TokenSpec{Subscribe: []string{"*"}, TTL: time.Second, Now: time.Now().Add(-time.Minute)})
	st2 := s.subscribe(t, c, "Authorization: Bearer "+old)
	if st2.resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("expired token: %s", st2.resp.Status)
	}
	if got := s.scrape(t)["herald_connects_total"]; got != 1 {
		t.Errorf("herald_connects_total = %v after a refused stream", got)
	}
}

func TestMetricsSeparateAddress(t *testing.T) {
	opsNoLeaks(t)
	s := startOps(t, nil, "--metrics-addr", "127.0.0.1:0")
	if s.metrics == s.base {
		t.Fatal("no separate metrics address in the log")
	}
	c := opsClient(t)
	resp, err := c.Get(s.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("/metrics on the main address: %d, want 404", resp.StatusCode)
	}
	m := s.scrape(t)
	for _, name := range []string{"go_goroutines", "process_open_fds", "herald_subscribers", "herald_connections"} {
		if _, ok := m[name]; !ok {
			t.Errorf("metric %s missing", name)
		}
	}
}

var pprofRE = regexp.MustCompile(`msg="pprof listening" addr=(\S+)`)

func TestPprofSeparateAddress(t *testing.T) {
	opsNoLeaks(t)
	s := startOps(t, nil, "--anonymous", "--pprof-addr", "127.0.0.1:0")
	m := pprofRE.FindStringSubmatch(s.stderr.String())
	if m == nil {
		t.Fatalf("no pprof address in the log:\n%s", s.stderr)
	}
	c := opsClient(t)
	for _, tc := range []struct {
		url  string
		want int
	}{
		{"http://" + m[1] + "/debug/pprof/goroutine?debug=1", 200},
		{"http://" + m[1] + "/debug/pprof/cmdline", 200},
		{s.base + "/debug/pprof/goroutine?debug=1", 404}, // never on the public address
	} {
		resp, err := c.Get(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET %s: %d, want %d", tc.url, resp.StatusCode, tc.want)
		}
	}
}

// ---- limits ----

// rawGet sends a plain HTTP/1.1 request on a new connection and returns the
// response head.
func rawGet(t *testing.T, base, path string, headers ...string) *http.Response {
	t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: herald\r\n%s\r\n", path, strings.Join(append(headers, ""), "\r\n"))
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestServeLimits(t *testing.T) {
	opsNoLeaks(t)
	streamPath := "/.well-known/mercure?topic=" + url.QueryEscape(opsTopic)
	for _, tc := range []struct {
		name  string
		args  []string
		check func(t *testing.T, s *opsServer, c *http.Client)
	}{
		{"max-connections", []string{"--max-connections", "2"}, func(t *testing.T, s *opsServer, c *http.Client) {
			// The test's stream and an idle keep-alive connection hold
			// the two.
			holdIdle(t, s, c)
			resp := rawGet(t, s.base, streamPath)
			if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
				t.Errorf("third connection: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
			}
			s.waitMetric(t, `herald_rejected_total{limit="connections"}`, eq(1))
			releaseIdle(t, s, c)
		}},
		{"max-connections-per-ip", []string{"--max-connections-per-ip", "2"}, func(t *testing.T, s *opsServer, c *http.Client) {
			holdIdle(t, s, c)
			resp := rawGet(t, s.base, streamPath)
			if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
				t.Errorf("third connection from 127.0.0.1: %d", resp.StatusCode)
			}
			s.waitMetric(t, `herald_rejected_total{limit="connections_per_ip"}`, eq(1))
			releaseIdle(t, s, c)
		}},
		{"max-connections-per-ip behind a proxy", []string{"--max-connections-per-ip", "1", "--trusted-proxies", "127.0.0.0/8"}, func(t *testing.T, s *opsServer, c *http.Client) {
			a := rawGet(t, s.base, streamPath, "X-Forwarded-For: 198.51.100.1")
			b := rawGet(t, s.base, streamPath, "X-Forwarded-For: 198.51.100.1")
			d := rawGet(t, s.base, streamPath, "X-Forwarded-For: 198.51.100.2")
			if a.StatusCode != 200 || b.StatusCode != 503 || d.StatusCode != 200 {
				t.Errorf("proxied streams: %d %d %d, want 200 503 200", a.StatusCode, b.StatusCode, d.StatusCode)
			}
		}},
		{"publish-rate", []string{"--publish-rate", "0.2", "--publish-burst", "2"}, func(t *testing.T, s *opsServer, c *http.Client) {
			// One token: two at once, then one every 5 s. (The check
			// publishes afterwards with another token, another bucket.)
			codes := fmt.Sprint(s.publish(t, c, "", "a"), s.publish(t, c, "", "b"), s.publish(t, c, "", "c"))
			if codes != "200 200 429" {
				t.Errorf("publishes: %s, want 200 200 429", codes)
			}
			s.waitMetric(t, `herald_rejected_total{limit="publish_rate"}`, eq(1))
		}},
		{"max-publish-size", []string{"--max-publish-size", "1000"}, func(t *testing.T, s *opsServer, c *http.Client) {
			if code := s.publish(t, c, "", strings.Repeat("x", 2000)); code != http.StatusRequestEntityTooLarge {
				t.Errorf("large publish: %d, want 413", code)
			}
		}},
		{"max-selectors", []string{"--max-selectors", "3"}, func(t *testing.T, s *opsServer, c *http.Client) {
			resp := rawGet(t, s.base, "/.well-known/mercure?topic=a&topic=b&topic=c&topic=d")
			if resp.StatusCode != 400 {
				t.Errorf("four selectors: %d, want 400", resp.StatusCode)
			}
		}},
		{"read-header-timeout", []string{"--read-header-timeout", "300ms"}, func(t *testing.T, s *opsServer, c *http.Client) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			io.WriteString(conn, "GET / HTTP/1.1\r\nHost: her") // and nothing more
			start := time.Now()
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			io.Copy(io.Discard, conn) // until the server closes
			if time.Since(start) > 5*time.Second {
				t.Errorf("a slow header was kept %v", time.Since(start))
			}
		}},
		{"idle-timeout", []string{"--idle-timeout", "300ms"}, func(t *testing.T, s *opsServer, c *http.Client) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: herald\r\n\r\n")
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			start := time.Now()
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := br.ReadByte(); err != io.EOF {
				t.Errorf("idle connection: %v, want EOF from the server", err)
			}
			if time.Since(start) > 5*time.Second {
				t.Errorf("an idle connection was kept %v", time.Since(start))
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Metrics on an address of their own: scraping must not take
			// one of the connections the limits count.
			s := startOps(t, nil, append([]string{"--anonymous", "--metrics-addr", "127.0.0.1:0"}, tc.args...)...)
			c := opsClient(t)
			st := s.subscribe(t, c)
			s.waitMetric(t, "herald_subscribers", eq(1))
			tc.check(t, s, c)
			// The stream opened before is untouched.
			pc := opsClient(t)
			if code := s.publishAs(t, pc, s.otherToken, "after-limit", "x"); code != 200 {
				t.Fatalf("publish after the limit: %d", code)
			}
			st.expect(t, "after-limit")
		})
	}
}

// holdIdle leaves an idle keep-alive connection of c open.
func holdIdle(t *testing.T, s *opsServer, c *http.Client) {
	t.Helper()
	resp, err := c.Get(s.base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	s.waitMetric(t, "herald_connections", eq(2))
}

// releaseIdle closes c's idle connections and waits until only the
// test's stream is left.
func releaseIdle(t *testing.T, s *opsServer, c *http.Client) {
	t.Helper()
	c.Transport.(*http.Transport).CloseIdleConnections()
	s.waitMetric(t, "herald_connections", eq(1))
}

func TestServePortInUse(t *testing.T) {
	// A start that fails leaves nothing running behind it.
	opsNoLeaks(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, args := range [][]string{
		{"--addr", busy.Addr().String()},
		{"--addr", "127.0.0.1:0", "--metrics-addr", busy.Addr().String()},
	} {
		out := &syncBuffer{}
		e := &env{stdout: out, stderr: out, getenv: func(string) string { return "" }}
		if code := run(context.Background(), e, append([]string{"serve", "--jwt-key", opsKey}, args...)); code != 1 || !strings.Contains(out.String(), "address already in use") {
			t.Errorf("%v: exit %d: %s", args, code, out)
		}
	}
}
