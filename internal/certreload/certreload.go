// Package certreload serves a TLS certificate from files that may be
// replaced while the server runs (a renewal by certbot or cert-manager):
// the pair is reloaded when either file changes, or on demand (SIGHUP).
// New handshakes use the new certificate; open connections keep theirs, so
// nothing is dropped. A pair that fails to load (a half-written renewal)
// leaves the previous certificate in place and is retried.
package certreload

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// A Reloader holds the current certificate of a certificate and key file
// pair.
type Reloader struct {
	certFile, keyFile string
	log               *slog.Logger

	cert atomic.Pointer[tls.Certificate]

	mu     sync.Mutex // serializes loads
	stamp  fileStamp  // of the pair last loaded
	failed fileStamp  // of the pair that last failed, to log a failure once
}

// fileStamp identifies a version of the pair by modification time and size.
type fileStamp struct {
	certMod, keyMod   time.Time
	certSize, keySize int64
}

// New loads the pair and returns a Reloader serving it.
func New(certFile, keyFile string, log *slog.Logger) (*Reloader, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Reloader{certFile: certFile, keyFile: keyFile, log: log}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Reloader) stampNow() (fileStamp, error) {
	ci, err := os.Stat(r.certFile)
	if err != nil {
		return fileStamp{}, fmt.Errorf("tls certificate: %w", err)
	}
	ki, err := os.Stat(r.keyFile)
	if err != nil {
		return fileStamp{}, fmt.Errorf("tls key: %w", err)
	}
	return fileStamp{ci.ModTime(), ki.ModTime(), ci.Size(), ki.Size()}, nil
}

// Reload loads the pair now. On error the previous certificate stays.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := r.stampNow()
	if err != nil {
		return err
	}
	return r.loadLocked(st)
}

func (r *Reloader) loadLocked(st fileStamp) error {
	pair, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		r.failed = st
		return fmt.Errorf("tls: loading %s and %s: %w", r.certFile, r.keyFile, err)
	}
	if pair.Leaf == nil && len(pair.Certificate) > 0 {
		pair.Leaf, _ = x509.ParseCertificate(pair.Certificate[0])
	}
	first := r.cert.Load() == nil
	r.cert.Store(&pair)
	r.stamp, r.failed = st, fileStamp{}
	if !first {
		attrs := []any{"cert", r.certFile}
		if pair.Leaf != nil {
			attrs = append(attrs, "subject", pair.Leaf.Subject.String(), "not_after", pair.Leaf.NotAfter)
		}
		r.log.Info("tls certificate reloaded", attrs...)
	}
	return nil
}

// Certificate returns the current certificate.
func (r *Reloader) Certificate() *tls.Certificate { return r.cert.Load() }

// GetCertificate is for tls.Config.GetCertificate.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cert.Load(), nil
}

// Check reloads the pair if either file changed since the last load, and
// reports whether it did. A failure is logged once per version of the
// files.
func (r *Reloader) Check() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := r.stampNow()
	if err != nil {
		if st != r.failed {
			r.log.Warn("tls certificate files unreadable; keeping the current certificate", "err", err)
			r.failed = st
		}
		return false
	}
	if st == r.stamp || st == r.failed {
		return false
	}
	if err := r.loadLocked(st); err != nil {
		r.log.Warn("tls certificate files changed but do not load; keeping the current certificate until they do", "err", err)
		return false
	}
	return true
}

// Watch checks the files every interval until ctx is done.
func (r *Reloader) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.Check()
		}
	}
}
