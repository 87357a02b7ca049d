package nats

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/natstest"
	"github.com/heraldpush/herald/internal/testcert"
)

// testCA makes a CA and a server certificate for 127.0.0.1, and returns
// the server's TLS config and the CA's PEM file.
func testCA(t *testing.T) (*tls.Config, string) {
	t.Helper()
	ca := testcert.NewCA(t, t.TempDir())
	cert, err := tls.LoadX509KeyPair(ca.Issue("server", x509.ExtKeyUsageServerAuth, "127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, ca.File
}

// TestTLSAndAuth opens the transport from tls:// URLs against a server
// that requires TLS and a password.
func TestTLSAndAuth(t *testing.T) {
	serverTLS, caFile := testCA(t)
	srv := natstest.StartWith(t, func(o *server.Options) {
		o.TLSConfig = serverTLS
		o.TLSTimeout = 5
		o.Username, o.Password = "herald", "s3cret"
	})
	ctx := context.Background()
	base := Config{Logger: testLogger(), Timeout: 2 * time.Second}
	good := fmt.Sprintf("tls://herald:s3cret@127.0.0.1:%d?stream=tls&prefix=tls&tls_ca=%s", srv.Port(), caFile)
	cfg, err := ParseURL(good, base)
	if err != nil {
		t.Fatal(err)
	}
	tr := open(t, cfg)
	u := upd("over-tls")
	if err := tr.Publish(ctx, u); err != nil {
		t.Fatalf("Publish over TLS: %v", err)
	}
	p, err := tr.History(ctx, herald.HistoryQuery{AfterID: herald.EarliestID})
	if err != nil || len(p.Updates) != 1 || p.Updates[0].ID != "over-tls" {
		t.Fatalf("History over TLS = %+v, %v", p, err)
	}
	// The same with the credentials as options and nats://...?tls=true.
	cfg, err = ParseURL(fmt.Sprintf("nats://127.0.0.1:%d?stream=tls&prefix=tls&tls=true&tls_ca=%s&user=herald&pass=s3cret", srv.Port(), caFile), base)
	if err != nil {
		t.Fatal(err)
	}
	open(t, cfg)

	for name, raw := range map[string]string{
		"wrong password": fmt.Sprintf("tls://herald:wrong@127.0.0.1:%d?stream=tls&prefix=tls&tls_ca=%s", srv.Port(), caFile),
		"unknown CA":     fmt.Sprintf("tls://herald:s3cret@127.0.0.1:%d?stream=tls&prefix=tls", srv.Port()),
		"no TLS":         fmt.Sprintf("nats://herald:s3cret@127.0.0.1:%d?stream=tls&prefix=tls", srv.Port()),
	} {
		cfg, err := ParseURL(raw, base)
		if err != nil {
			t.Fatalf("%s: ParseURL: %v", name, err)
		}
		if tr, err := Open(ctx, cfg); err == nil {
			tr.Close()
			t.Errorf("%s: Open succeeded", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}
