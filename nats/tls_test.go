package nats

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/natstest"
)

// testCA makes a CA and a server certificate for 127.0.0.1, and returns
// the server's TLS config and the CA's PEM file.
func testCA(t *testing.T) (*tls.Config, string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "herald test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		MinVersion:   tls.VersionTLS12,
	}
	return cfg, caFile
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
