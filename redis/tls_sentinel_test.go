package redis

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/redistest"
	"github.com/heraldpush/herald/internal/testcert"
)

// testPKI writes a CA, a server certificate for 127.0.0.1 and a client
// certificate, all made up for the test, and returns their paths.
type testPKI struct{ ca, serverCert, serverKey, clientCert, clientKey string }

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	ca := testcert.NewCA(t, t.TempDir())
	p := testPKI{ca: ca.File}
	p.serverCert, p.serverKey = ca.Issue("server", x509.ExtKeyUsageServerAuth, "127.0.0.1")
	p.clientCert, p.clientKey = ca.Issue("client", x509.ExtKeyUsageClientAuth, "127.0.0.1")
	return p
}

// TestTLS runs the transport over rediss:// against a redis-server that
// requires a client certificate.
func TestTLS(t *testing.T) {
	pki := newTestPKI(t)
	tlsPort := redistest.FreePort(t)
	srv := redistest.Start(t,
		"--tls-port", strconv.Itoa(tlsPort),
		"--tls-cert-file", pki.serverCert, "--tls-key-file", pki.serverKey,
		"--tls-ca-cert-file", pki.ca, "--tls-auth-clients", "yes")
	_ = srv
	base := fmt.Sprintf("rediss://127.0.0.1:%d/0?", tlsPort)
	q := url.Values{"ca": {pki.ca}, "cert": {pki.clientCert}, "key": {pki.clientKey}, "prefix": {newPrefix(t)}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	a, err := Open(ctx, base+q.Encode(), Config{})
	if err != nil {
		t.Fatalf("Open over TLS: %v", err)
	}
	defer a.Close()
	b, err := Open(ctx, base+q.Encode(), Config{})
	if err != nil {
		t.Fatalf("Open over TLS: %v", err)
	}
	defer b.Close()
	s := listen(t, b, "node b")
	mustPublish(t, a, "tls-0")
	mustPublish(t, a, "tls-1")
	s.waitFor([]string{"tls-0", "tls-1"})

	// Without the CA the server's certificate is not trusted.
	noCA := url.Values{"cert": {pki.clientCert}, "key": {pki.clientKey}}
	if tr, err := Open(ctx, base+noCA.Encode(), Config{}); err == nil {
		tr.Close()
		t.Error("Open trusted a certificate from an unknown CA")
	}
	// insecure_skip_verify accepts it (for tests only).
	skip := url.Values{"cert": {pki.clientCert}, "key": {pki.clientKey}, "insecure_skip_verify": {"true"}, "prefix": {newPrefix(t)}}
	tr, err := Open(ctx, base+skip.Encode(), Config{})
	if err != nil {
		t.Fatalf("Open with insecure_skip_verify: %v", err)
	}
	tr.Close()
	// Without a client certificate the server refuses.
	if tr, err := Open(ctx, base+url.Values{"ca": {pki.ca}}.Encode(), Config{}); err == nil {
		tr.Close()
		t.Error("Open succeeded without the client certificate the server requires")
	}
}

// TestSentinelFailover runs two nodes on a master and a replica behind a
// Sentinel, kills the master, and checks that publishing resumes on the
// promoted replica and that both nodes keep receiving, in order.
func TestSentinelFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("a failover takes a few seconds")
	}
	master := redistest.Start(t)
	replica := redistest.Start(t, "--replicaof", "127.0.0.1", strconv.Itoa(master.Port()))
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	rc := goredis.NewClient(&goredis.Options{Addr: replica.Addr(), Protocol: 2})
	defer rc.Close()
	waitUntil(t, "the replica is in sync", func() bool {
		info, err := rc.Info(ctx, "replication").Result()
		return err == nil && strings.Contains(info, "master_link_status:up")
	})
	sentinel := redistest.StartSentinel(t, "herald", master)
	sc := goredis.NewSentinelClient(&goredis.Options{Addr: sentinel.Addr(), Protocol: 2})
	defer sc.Close()
	waitUntil(t, "the sentinel knows the replica", func() bool {
		rs, err := sc.Replicas(ctx, "herald").Result()
		return err == nil && len(rs) == 1
	})

	u := fmt.Sprintf("redis+sentinel://%s/0?master=herald&prefix=%s&timeout=500ms&ping_interval=200ms",
		sentinel.Addr(), url.QueryEscape(newPrefix(t)))
	a, err := Open(ctx, u, Config{})
	if err != nil {
		t.Fatalf("Open(%s): %v", u, err)
	}
	defer a.Close()
	b, err := Open(ctx, u, Config{})
	if err != nil {
		t.Fatalf("Open(%s): %v", u, err)
	}
	defer b.Close()
	sa, sb := listen(t, a, "node a"), listen(t, b, "node b")
	before := idRange("before", 0, 20)
	var last uint64
	for _, id := range before {
		last = mustPublish(t, a, id).Seq
	}
	// Replication is asynchronous: wait until the replica has it all, so
	// that the check below is about the transport, not about Redis's
	// replication lag.
	mc := goredis.NewClient(&goredis.Options{Addr: master.Addr(), Protocol: 2})
	if n, err := mc.Do(ctx, "WAIT", 1, 5000).Int(); err != nil || n != 1 {
		t.Fatalf("WAIT for the replica: %d, %v", n, err)
	}
	mc.Close()

	master.Kill()
	start := time.Now()
	refused := 0
	for {
		pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
		u := newUpdate("after-0")
		err := a.Publish(pctx, u)
		pcancel()
		if err == nil {
			if u.Seq <= last {
				t.Errorf("Seq %d after the failover; want more than %d", u.Seq, last)
			}
			break
		}
		if !errors.Is(err, herald.ErrUnavailable) {
			t.Fatalf("Publish during the failover: %v; want an error wrapping ErrUnavailable", err)
		}
		refused++
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("publishing resumed %v after the master died (%d publishes refused meanwhile)", time.Since(start).Round(time.Millisecond), refused)
	after := append([]string{"after-0"}, idRange("after", 1, 20)...)
	for _, id := range after[1:] {
		mustPublish(t, b, id)
	}
	want := append(before, after...)
	for _, s := range []*sink{sa, sb} {
		s.waitFor(want)
		s.checkOnce(want)
	}
	got := ids(allHistory(t, b))
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("history on the promoted replica: %q; want %q", got, want)
	}
}
