package certreload

import (
	"os"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/testcert"
)

func cn(r *Reloader) string { return r.Certificate().Leaf.Subject.CommonName }

// touch moves the files' modification time forward, so that a change is
// seen even on a file system with coarse timestamps.
func touch(t *testing.T, at time.Time, files ...string) {
	for _, f := range files {
		if err := os.Chtimes(f, at, at); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := testcert.Write(t, dir, "first", "localhost")
	r, err := New(certFile, keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cn(r) != "first" {
		t.Fatalf("cn = %s", cn(r))
	}
	if r.Check() {
		t.Error("Check reloaded unchanged files")
	}

	testcert.Write(t, dir, "second", "localhost")
	touch(t, time.Now().Add(time.Minute), certFile, keyFile)
	if !r.Check() || cn(r) != "second" {
		t.Fatalf("after a renewal: cn = %s", cn(r))
	}
	got, _ := r.GetCertificate(nil)
	if got.Leaf.Subject.CommonName != "second" {
		t.Error("GetCertificate serves the old certificate")
	}

	// A half-written renewal keeps the current certificate.
	if err := os.WriteFile(keyFile, []byte("-----BEGIN PRIVATE KEY-----\ngarbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	touch(t, time.Now().Add(2*time.Minute), keyFile)
	if r.Check() || cn(r) != "second" {
		t.Fatalf("a broken key replaced the certificate: %s", cn(r))
	}
	if err := r.Reload(); err == nil {
		t.Error("Reload of a broken pair succeeded")
	}
	// Once the pair is whole again it is picked up.
	testcert.Write(t, dir, "third", "localhost")
	touch(t, time.Now().Add(3*time.Minute), certFile, keyFile)
	if !r.Check() || cn(r) != "third" {
		t.Fatalf("after the fix: cn = %s", cn(r))
	}
}

func TestNewFails(t *testing.T) {
	if _, err := New("/nonexistent/cert.pem", "/nonexistent/key.pem", nil); err == nil {
		t.Error("New with missing files succeeded")
	}
}
