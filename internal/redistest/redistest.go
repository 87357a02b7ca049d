// Package redistest runs a real redis-server for tests: on a free loopback
// port, in a temporary directory of its own, stopped when the test ends.
//
// The binary is looked up on PATH (and in /usr/bin, /usr/local/bin). When
// it is missing the test is skipped with a loud reason, or fails when the
// environment variable CI is "true": in CI a missing server is a broken
// setup, not a reason to pass.
package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/testbin"
)

// A Server is a redis-server process owned by a test.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	args []string
	conf string // a Sentinel's configuration file; "" for a Redis server

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// startTimeout bounds how long a server may take to answer PING.
const startTimeout = 15 * time.Second

// Binary returns the path of redis-server, or "" when there is none.
func Binary() string {
	return testbin.Find([]string{"redis-server"}, "/usr/bin/redis-server", "/usr/local/bin/redis-server")
}

// Require skips the test, or fails it under CI=true, when redis-server is
// not installed, and returns its path otherwise.
func Require(t testing.TB) string {
	t.Helper()
	return testbin.Require(t, Binary(), "redis-server is not installed (apt-get install redis-server): the Redis tests did NOT run")
}

// Start runs a redis-server for the test, with persistence off unless args
// turn it on (e.g. "--appendonly", "yes", "--appendfsync", "always"). Extra
// args are passed to redis-server after the defaults, so they win. The
// server is killed when the test ends.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	s := &Server{t: t, bin: Require(t), dir: t.TempDir(), args: args}
	s.port = FreePort(t)
	t.Cleanup(s.Kill)
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	return s
}

// StartSentinel runs a Redis Sentinel that monitors master under the name
// master, with a quorum of one and short timeouts so that a failover takes
// a second or two. Extra args are passed to it as in Start.
func StartSentinel(t testing.TB, name string, master *Server, args ...string) *Server {
	t.Helper()
	s := &Server{t: t, bin: Require(t), dir: t.TempDir(), args: args}
	s.port = FreePort(t)
	s.conf = filepath.Join(s.dir, "sentinel.conf")
	conf := fmt.Sprintf("sentinel monitor %[1]s 127.0.0.1 %[2]d 1\n"+
		"sentinel down-after-milliseconds %[1]s 500\n"+
		"sentinel failover-timeout %[1]s 5000\n", name, master.Port())
	if err := os.WriteFile(s.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Kill)
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	return s
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// Port returns the server's port.
func (s *Server) Port() int { return s.port }

// Dir returns the server's working directory (AOF and RDB files).
func (s *Server) Dir() string { return s.dir }

// URL returns redis://127.0.0.1:port/0.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Log returns the end of the server's log, for failure messages.
func (s *Server) Log() string { return s.logTail() }

// Stop shuts the server down cleanly (SIGTERM: it writes its AOF or RDB
// first) and waits for it to exit.
func (s *Server) Stop() { s.signal(syscall.SIGTERM) }

// Kill stops the server with SIGKILL, as a crash would, and waits for it.
func (s *Server) Kill() { s.signal(syscall.SIGKILL) }

// Restart stops the server if it runs and starts it again on the same
// port and directory, so that clients reconnect to the same address and
// find what persistence kept.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		s.t.Fatal(err)
	}
}

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return nil
	}
	var args []string
	if s.conf != "" {
		args = []string{s.conf, "--sentinel"}
	}
	args = append(args,
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--daemonize", "no",
		"--protected-mode", "no",
		"--logfile", "",
	)
	if s.conf == "" {
		args = append(args, "--save", "", "--appendonly", "no", "--maxclients", "4096")
	}
	args = append(args, s.args...)
	log, err := os.OpenFile(filepath.Join(s.dir, "redis.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("redistest: %w", err)
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("redistest: start %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		log.Close()
		close(done)
	}()
	deadline := time.Now().Add(startTimeout)
	for {
		if err := ping(s.Addr()); err == nil {
			break
		} else if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("redistest: redis-server on %s did not answer PING within %v: %v\n%s", s.Addr(), startTimeout, err, s.logTail())
		}
		select {
		case <-done:
			return fmt.Errorf("redistest: redis-server exited at startup\n%s", s.logTail())
		case <-time.After(20 * time.Millisecond):
		}
	}
	s.cmd, s.done = cmd, done
	return nil
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// ping sends PING and expects +PONG, or -NOAUTH from a server that wants
// a password. A server loading its AOF answers -LOADING: not ready yet.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") && !strings.HasPrefix(line, "-NOAUTH") {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
