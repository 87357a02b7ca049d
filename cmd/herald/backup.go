package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/heraldpush/herald"
)

const backupUsage = `Usage: herald backup (--socket /run/herald/admin.sock | --from /var/lib/herald/herald.db) --out FILE

Copies Herald's bolt history file consistently. Flags:
`

// runBackup copies a bolt:// history file, either from a running herald
// serve through its admin socket (online: publishing goes on) or straight
// from the file of a stopped one.
func runBackup(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "backup", backupUsage)
	var socket, from, out string
	fs.StringVar(&socket, "socket", "", "admin socket of a running herald serve (its --admin-socket): back up while it runs")
	fs.StringVar(&from, "from", "", "bolt history file of a stopped herald serve")
	fs.StringVar(&out, "out", "", "file to write the copy to (written beside it first, checked, then renamed); - for standard output")
	if err := fs.Parse(args); err != nil {
		return parseExit(err)
	}
	if err := applyEnv(fs, e.getenv); err != nil {
		fmt.Fprintln(e.stderr, "herald backup:", err)
		return 2
	}
	if (socket == "") == (from == "") || out == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	var copyTo func(io.Writer) (int64, error)
	if socket != "" {
		copyTo = func(w io.Writer) (int64, error) { return backupFromSocket(ctx, socket, w) }
	} else {
		copyTo = func(w io.Writer) (int64, error) { return backupFromFile(from, w) }
	}
	start := time.Now()
	n, err := writeBackup(out, copyTo)
	if err != nil {
		fmt.Fprintln(e.stderr, "herald backup:", err)
		return 1
	}
	if out != "-" {
		fmt.Fprintf(e.stdout, "backed up %d bytes to %s in %v\n", n, out, time.Since(start).Round(time.Millisecond))
	}
	return 0
}

// writeBackup writes the copy to a temporary file beside out, syncs it,
// checks that it is a sound bbolt file, and renames it to out.
func writeBackup(out string, copyTo func(io.Writer) (int64, error)) (int64, error) {
	if out == "-" {
		return copyTo(os.Stdout)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*.tmp")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	n, err := copyTo(tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, err
	}
	if err := checkBolt(tmp.Name()); err != nil {
		return n, fmt.Errorf("the copy does not check out, %s left unchanged: %w", out, err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return n, err
	}
	return n, nil
}

// checkBolt opens a bbolt file read-only and checks its consistency.
func checkBolt(path string) error {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return err
	}
	defer db.Close()
	return db.View(func(tx *bbolt.Tx) error {
		var first error
		for err := range tx.Check() { // drain: the checker stops when read to the end
			if first == nil {
				first = err
			}
		}
		return first
	})
}

// backupFromFile copies the file of a stopped server. A running server
// holds the file's lock; the error then says to use its socket.
func backupFromFile(path string, w io.Writer) (int64, error) {
	if _, err := os.Stat(path); err != nil {
		return 0, err
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
	if errors.Is(err, berrors.ErrTimeout) {
		return 0, fmt.Errorf("%s is in use by a running herald serve: back it up through its admin socket (--socket)", path)
	}
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()
	var n int64
	err = db.View(func(tx *bbolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// backupFromSocket asks a running server for a copy.
func backupFromSocket(ctx context.Context, socket string, w io.Writer) (int64, error) {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://herald/backup", nil)
	if err != nil {
		return 0, err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return 0, fmt.Errorf("admin socket %s: %w", socket, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return 0, fmt.Errorf("admin socket %s: %s: %s", socket, resp.Status, msg)
	}
	n, err := io.Copy(w, resp.Body)
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = fmt.Errorf("the copy was cut short: %d of %d bytes", n, resp.ContentLength)
	}
	return n, err
}

// adminHandler serves the admin socket: /backup streams a copy of a bolt
// history file (the transport must be an io.WriterTo).
func adminHandler(hub *herald.Hub, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /backup", func(w http.ResponseWriter, r *http.Request) {
		t := hub.Transport()
		for {
			u, ok := t.(interface{ Unwrap() herald.Transport })
			if !ok {
				break
			}
			t = u.Unwrap()
		}
		wt, ok := t.(io.WriterTo)
		if !ok {
			http.Error(w, "this transport keeps no local file to back up (only bolt:// does; back up Redis or NATS with their own tools)", http.StatusNotImplemented)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		start := time.Now()
		n, err := wt.WriteTo(w)
		if err != nil {
			// The status is gone; the client sees a short copy and its
			// check fails.
			log.Error("backup failed", "err", err, "bytes", n)
			return
		}
		log.Info("backup written", "bytes", n, "took", time.Since(start))
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "ok node=%s\n", hub.NodeID())
	})
	return mux
}

// listenAdmin listens on a Unix socket that only this user may use. A
// stale socket left by a crash is replaced; one that answers is not.
func listenAdmin(path string) (net.Listener, error) {
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("--admin-socket %s: another server is listening on it", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("--admin-socket %s: %w", path, err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("--admin-socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("--admin-socket %s: %w", path, err)
	}
	return ln, nil
}
