// Package nginxtest runs a real nginx (the Debian package's /usr/sbin/nginx)
// for tests: from a complete nginx.conf rendered into the test's temporary
// directory, on a loopback port chosen at run time, in the foreground
// (daemon off) as the current user, with its pid file, logs and temporary
// files in that directory. It is stopped when the test ends.
//
// The configuration is a real file (deploy/nginx/herald.conf) edited with
// Edit, so that the tests run what users deploy. When nginx is missing the
// test is skipped with a loud reason, or fails when the environment
// variable CI is "true".
package nginxtest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/testbin"
)

// Binary returns the path of nginx, or "" when there is none.
func Binary() string {
	return testbin.Find([]string{"nginx"}, "/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")
}

// Require skips the test, or fails it under CI=true, when nginx is not
// installed, and returns its path otherwise.
func Require(t testing.TB) string {
	t.Helper()
	return testbin.Require(t, Binary(), "nginx is not installed (apt-get install nginx): the tests through nginx did NOT run")
}

// FreeAddr returns a loopback address with a port that was free a moment
// ago, for a listen directive.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// ReadConf returns the text of a configuration file.
func ReadConf(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Edit replaces the first old in conf with new, and fails the test when
// conf does not hold old: a test must notice when the file it edits
// changes under it.
func Edit(t testing.TB, conf, old, new string) string {
	t.Helper()
	if !strings.Contains(conf, old) {
		t.Fatalf("nginxtest: the configuration no longer contains %q: update the test with the file", old)
	}
	return strings.Replace(conf, old, new, 1)
}

// A Server is an nginx process owned by a test.
type Server struct {
	// Addr is the address nginx listens on (from the listen directive the
	// caller wrote), and URL is "http://" + Addr.
	Addr, URL string
	// Dir holds the configuration, logs, pid file and temporary files.
	Dir string

	cmd      *exec.Cmd
	done     chan struct{}
	stopOnce sync.Once
}

// startTimeout bounds how long nginx may take to listen.
const startTimeout = 15 * time.Second

// Start writes conf (a complete nginx.conf, whose server listens on addr)
// into a temporary directory and runs nginx on it until the test ends.
// The harness adds what a test needs: daemon off, its own pid file and
// error log, temporary paths inside the directory, and, when the test runs
// as root, workers that stay root (so they can use the directory).
func Start(t testing.TB, conf, addr string) *Server {
	t.Helper()
	bin := Require(t)
	dir := t.TempDir()
	var paths strings.Builder
	for _, p := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&paths, "    %s_temp_path %s;\n", p, filepath.Join(dir, p))
	}
	conf = Edit(t, conf, "http {\n", "http {\n"+paths.String())
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "error.log")
	// One process (master_process off): nothing is left behind if the
	// test binary dies, since Pdeathsig below reaches the only process.
	global := fmt.Sprintf("daemon off; master_process off; pid %s; error_log %s info;",
		filepath.Join(dir, "nginx.pid"), logPath)
	if os.Geteuid() == 0 {
		// As root nginx would switch its workers to "nobody", who cannot
		// write to the test's directory. Stay the current user.
		if u, err := user.Current(); err == nil {
			global += " user " + u.Username + ";"
		}
	}
	cmd := exec.Command(bin, "-p", dir, "-c", confPath, "-e", logPath, "-g", global)
	out, err := os.Create(filepath.Join(dir, "nginx.out"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	// If the test binary dies, nginx must not outlive it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		out.Close()
		t.Fatalf("nginxtest: start %s: %v", bin, err)
	}
	s := &Server{Addr: addr, URL: "http://" + addr, Dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		out.Close()
		close(s.done)
	}()
	t.Cleanup(s.Stop)

	deadline := time.Now().Add(startTimeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return s
		}
		select {
		case <-s.done:
			t.Fatalf("nginxtest: nginx exited at startup:\n%s", s.Logs())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginxtest: nginx does not listen on %s after %v:\n%s", addr, startTimeout, s.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop shuts nginx down (SIGTERM, nginx's fast shutdown: a graceful one
// would wait for every open stream), or kills it after 10 s; idempotent.
// Start registers it with t.Cleanup.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
}

// Logs returns nginx's error log and output, for failure messages.
func (s *Server) Logs() string {
	var b strings.Builder
	for _, name := range []string{"error.log", "nginx.out"} {
		data, err := os.ReadFile(filepath.Join(s.Dir, name))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(&b, "(%s: %v)\n", name, err)
		}
		if len(data) > 16<<10 {
			data = data[len(data)-16<<10:]
		}
		b.Write(data)
	}
	return b.String()
}
