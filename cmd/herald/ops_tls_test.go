package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/heraldpush/herald/internal/browsertest"
	"github.com/heraldpush/herald/internal/testcert"
)

// tlsClient trusts the certificate in certFile and speaks HTTP/2.
func tlsClient(t *testing.T, certFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// servedCN returns the common name of the certificate a new TLS
// connection to addr is served.
func servedCN(t *testing.T, addr string) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
}

func waitCN(t *testing.T, addr, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for servedCN(t, addr) != want {
		if time.Now().After(deadline) {
			t.Fatalf("the server still serves %q, want %q", servedCN(t, addr), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestServeTLSReloadKeepsStreams(t *testing.T) {
	opsNoLeaks(t)
	dir := t.TempDir()
	certFile, keyFile := testcert.Write(t, dir, "first", "127.0.0.1")
	s := startOps(t, nil, "--anonymous", "--tls-cert", certFile, "--tls-key", keyFile, "--tls-reload-interval", "50ms")
	if !strings.HasPrefix(s.base, "https://") {
		t.Fatalf("base %s", s.base)
	}
	addr := strings.TrimPrefix(s.base, "https://")
	c := tlsClient(t, certFile)
	st := s.subscribe(t, c)
	if st.resp.ProtoMajor != 2 {
		t.Fatalf("stream over %s, want HTTP/2", st.resp.Proto)
	}
	if got := st.resp.Header.Get("Connection"); got != "" {
		t.Errorf("Connection: %q on HTTP/2", got)
	}
	s.waitMetric(t, "herald_subscribers", eq(1))

	// A renewal on disk is picked up by polling.
	testcert.Write(t, dir, "second", "127.0.0.1")
	future := time.Now().Add(time.Minute)
	os.Chtimes(certFile, future, future)
	os.Chtimes(keyFile, future, future)
	waitCN(t, addr, "second")

	// SIGHUP reloads at once.
	testcert.Write(t, dir, "third", "127.0.0.1")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitCN(t, addr, "third")
	if !strings.Contains(s.stderr.String(), "tls certificate reloaded") {
		t.Errorf("no reload in the log:\n%s", s.stderr)
	}

	// The stream opened under the first certificate is still there.
	pc := tlsClient(t, certFile) // the first certificate's pool: the old connection's
	pc.Transport.(*http.Transport).TLSClientConfig.InsecureSkipVerify = true
	if code := s.publish(t, pc, "after-reload", "x"); code != 200 {
		t.Fatalf("publish: %d", code)
	}
	st.expect(t, "after-reload")
	if got := s.scrape(t)[`herald_disconnects_total{reason="client_gone"}`]; got != 0 {
		t.Errorf("%v streams dropped by the reloads", got)
	}
}

func TestServeH2C(t *testing.T) {
	opsNoLeaks(t)
	s := startOps(t, nil, "--anonymous", "--h2c")
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &p}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	st := s.subscribe(t, c)
	if st.resp.ProtoMajor != 2 {
		t.Fatalf("stream over %s, want HTTP/2 without TLS", st.resp.Proto)
	}
	if code := s.publish(t, c, "h2c", "x"); code != 200 {
		t.Fatalf("publish over h2c: %d", code)
	}
	st.expect(t, "h2c")
	// HTTP/1.1 still works on the same port, and is still taken off
	// net/http.
	h1 := opsClient(t)
	st1 := s.subscribe(t, h1)
	if st1.resp.ProtoMajor != 1 {
		t.Fatalf("HTTP/1.1 client got %s", st1.resp.Proto)
	}
	if code := s.publish(t, h1, "h1", "x"); code != 200 {
		t.Fatal(code)
	}
	st1.expect(t, "h1")
}

// TestServeHTTP2Browser opens 200 EventSource streams from one Chromium
// page to one HTTPS origin. Over HTTP/1.1 a browser holds at most six
// connections per origin and the seventh stream would wait forever; over
// HTTP/2 they share one connection.
func TestServeHTTP2Browser(t *testing.T) {
	opsNoLeaks(t)
	const streams = 200
	certFile, keyFile := testcert.Write(t, t.TempDir(), "herald-test", "127.0.0.1")
	s := startOps(t, nil, "--anonymous", "--tls-cert", certFile, "--tls-key", keyFile, "--metrics-addr", "127.0.0.1:0")
	ctx := browsertest.New(t, browsertest.WithFlag("ignore-certificate-errors", true))
	if err := chromedp.Do(ctx, chromedp.Navigate(s.base+"/healthz")); err != nil {
		t.Fatal(err)
	}
	proto, err := chromedp.Run(ctx, chromedp.Evaluate[string](`performance.getEntriesByType("navigation")[0].nextHopProtocol`))
	if err != nil {
		t.Fatal(err)
	}
	if proto != "h2" {
		t.Fatalf("the page was loaded over %q, want h2", proto)
	}
	script := fmt.Sprintf(`(() => {
		window.opened = 0; window.errors = 0; window.got = new Array(%[1]d).fill(0);
		window.streams = [];
		for (let i = 0; i < %[1]d; i++) {
			const es = new EventSource("/.well-known/mercure?topic=" + encodeURIComponent(%[2]q));
			es.onopen = () => { window.opened++; };
			es.onerror = () => { window.errors++; };
			es.onmessage = () => { window.got[i]++; };
			window.streams.push(es);
		}
		return true;
	})()`, streams, opsTopic)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](script)); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, ctx, 60*time.Second, fmt.Sprintf("window.opened === %d", streams))
	s.waitMetric(t, "herald_subscribers", eq(streams))
	c := tlsClient(t, certFile)
	for i := range 3 {
		if code := s.publish(t, c, fmt.Sprint("b", i), "hello"); code != 200 {
			t.Fatalf("publish: %d", code)
		}
	}
	browsertest.WaitJS(t, ctx, 60*time.Second, "window.got.every(n => n === 3)")
	errs, _ := chromedp.Run(ctx, chromedp.Evaluate[int]("window.errors"))
	if errs != 0 {
		t.Errorf("%d EventSource errors", errs)
	}
	m := s.scrape(t)
	// All the page's streams share one connection (plus the publisher's).
	if conns := m["herald_connections"]; conns > 3 {
		t.Errorf("%v connections for %d streams: not multiplexed", conns, streams)
	}
	t.Logf("%d streams over HTTP/2: %v subscribers, %v connections", streams, m["herald_subscribers"], m["herald_connections"])
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.streams.forEach(es => es.close()), true`)); err != nil {
		t.Fatal(err)
	}
	s.waitMetric(t, "herald_subscribers", eq(0))
}

// TestServeHTTP2ClientGone checks that an HTTP/2 stream's end is noticed
// when the client cancels it (no hijacking on HTTP/2).
func TestServeHTTP2ClientGone(t *testing.T) {
	opsNoLeaks(t)
	certFile, keyFile := testcert.Write(t, t.TempDir(), "herald-test", "127.0.0.1")
	s := startOps(t, nil, "--anonymous", "--tls-cert", certFile, "--tls-key", keyFile)
	c := tlsClient(t, certFile)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", s.hub()+"?topic="+url.QueryEscape(opsTopic), nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(resp.Body).ReadString('\n')
	if line != ":\n" {
		t.Errorf("first line %q", line)
	}
	s.waitMetric(t, "herald_subscribers", eq(1))
	cancel()
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	s.waitMetric(t, `herald_disconnects_total{reason="client_gone"}`, eq(1))
	s.waitMetric(t, "herald_subscribers", eq(0))
}

func TestServeTLSFlagErrors(t *testing.T) {
	opsNoLeaks(t)
	dir := t.TempDir()
	certFile, keyFile := testcert.Write(t, dir, "x", "127.0.0.1")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls-cert", certFile}, "--tls-cert and --tls-key go together"},
		{[]string{"--tls-cert", certFile, "--tls-key", certFile}, "tls: loading"},
		{[]string{"--acme-domains", "example.com"}, "--acme-domains needs --acme-cache"},
		{[]string{"--acme-domains", "example.com", "--acme-cache", dir, "--tls-cert", certFile, "--tls-key", keyFile}, "either --tls-cert/--tls-key or --acme-domains"},
	} {
		out := &syncBuffer{}
		e := &env{stdout: out, stderr: out, getenv: func(string) string { return "" }}
		code := run(context.Background(), e, append([]string{"serve", "--addr", "127.0.0.1:0"}, tc.args...))
		if code == 0 || !strings.Contains(out.String(), tc.want) {
			t.Errorf("%v: exit %d, output %q; want an error with %q", tc.args, code, out, tc.want)
		}
	}
}

func TestServeTLSMaxConnections(t *testing.T) {
	// Connections over the limit are counted under TLS too, and answered
	// after the handshake.
	opsNoLeaks(t)
	certFile, keyFile := testcert.Write(t, t.TempDir(), "herald-test", "127.0.0.1")
	s := startOps(t, nil, "--anonymous", "--tls-cert", certFile, "--tls-key", keyFile, "--max-connections", "1", "--metrics-addr", "127.0.0.1:0")
	c := tlsClient(t, certFile)
	st := s.subscribe(t, c)
	s.waitMetric(t, "herald_subscribers", eq(1))
	other := tlsClient(t, certFile) // a second connection
	resp, err := other.Get(s.base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("second TLS connection: %d", resp.StatusCode)
	}
	// The first connection still carries requests and its stream.
	if code := s.publish(t, c, "over-tls", "x"); code != 200 {
		t.Fatalf("publish on the first connection: %d", code)
	}
	st.expect(t, "over-tls")
}
