package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/bolt"
)

// backupIDs opens a backup as a bolt transport and returns the ids of its
// history.
func backupIDs(t *testing.T, path string) []string {
	t.Helper()
	tr, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatalf("the backup does not open: %v", err)
	}
	defer tr.Close()
	page, err := tr.History(context.Background(), herald.HistoryQuery{AfterID: herald.EarliestID})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, u := range page.Updates {
		ids = append(ids, u.ID)
	}
	return ids
}

func TestBackup(t *testing.T) {
	opsNoLeaks(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "herald.db")
	sock := filepath.Join(dir, "admin.sock")
	s := startOps(t, nil, "--transport", "bolt://"+db, "--admin-socket", sock)
	c := opsClient(t)
	for i := range 20 {
		if code := s.publish(t, c, fmt.Sprint("b", i), "x"); code != 200 {
			t.Fatal(code)
		}
	}
	if st, err := os.Stat(sock); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("admin socket: %v, mode %v", err, st.Mode())
	}

	cli := func(args ...string) (int, string) {
		out := &syncBuffer{}
		code := run(context.Background(), &env{stdout: out, stderr: out, getenv: func(string) string { return "" }}, args)
		return code, out.String()
	}

	// Online, while the server runs and keeps publishing.
	online := filepath.Join(dir, "online.db")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 20 {
			s.publish(t, c, fmt.Sprint("during", i), "x")
		}
	}()
	code, out := cli("backup", "--socket", sock, "--out", online)
	<-done
	if code != 0 {
		t.Fatalf("online backup: %d %s", code, out)
	}
	ids := backupIDs(t, online)
	if len(ids) < 20 || ids[0] != "b0" || ids[19] != "b19" {
		t.Fatalf("online backup holds %v", ids)
	}

	// The file of a running server is locked: the error says what to do.
	code, out = cli("backup", "--from", db, "--out", filepath.Join(dir, "offline.db"))
	if code != 1 || !strings.Contains(out, "use") || !strings.Contains(out, "--socket") {
		t.Fatalf("offline backup of a running server's file: %d %s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "offline.db")); !os.IsNotExist(err) {
		t.Error("a failed backup left a file")
	}

	// Offline, once it stopped.
	if code := s.stop(); code != 0 {
		t.Fatalf("serve exit %d", code)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Error("the admin socket outlived the server")
	}
	offline := filepath.Join(dir, "offline.db")
	if code, out := cli("backup", "--from", db, "--out", offline); code != 0 {
		t.Fatalf("offline backup: %d %s", code, out)
	}
	if got := backupIDs(t, offline); len(got) != 40 {
		t.Errorf("offline backup holds %d updates, want 40", len(got))
	}
	// Usage errors.
	if code, _ := cli("backup", "--out", offline); code != 2 {
		t.Errorf("backup without a source: %d", code)
	}
}

func TestBackupNotBolt(t *testing.T) {
	opsNoLeaks(t)
	sock := filepath.Join(t.TempDir(), "admin.sock")
	startOps(t, nil, "--admin-socket", sock)
	out := &syncBuffer{}
	code := run(context.Background(), &env{stdout: out, stderr: out, getenv: func(string) string { return "" }},
		[]string{"backup", "--socket", sock, "--out", filepath.Join(t.TempDir(), "x.db")})
	if code != 1 || !strings.Contains(out.String(), "only bolt://") {
		t.Errorf("backup of a memory hub: %d %s", code, out)
	}
}
