// Package natstest runs a NATS server with JetStream inside the test
// process, for the tests of the nats transport and the cluster tests.
//
// The server is the real nats-server (the Go module), not a mock: it
// listens on a free 127.0.0.1 port, keeps its JetStream store in a
// temporary directory of the test, and can be shut down and restarted on
// the same port and store to test outages.
package natstest

import (
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// readyTimeout bounds how long Start and Restart wait for the server to
// accept connections. JetStream recovers its store before it is ready, so
// a restart after many messages takes a moment on a slow machine.
const readyTimeout = 30 * time.Second

// A Server is an embedded nats-server with JetStream enabled. Its methods
// are safe for concurrent use.
type Server struct {
	t        testing.TB
	storeDir string
	name     string
	cluster  string // cluster name; "" for a standalone server

	mu          sync.Mutex
	srv         *server.Server // nil while shut down
	port        int            // chosen at the first start, kept across restarts
	clusterPort int            // likewise, for routes
	routes      []string       // route URLs of the other cluster members
	configure   func(*server.Options)
}

// Start starts a server on a free loopback port with a fresh store in
// t.TempDir(). It is shut down when the test ends. Set HERALD_NATS_LOG=1
// to see the server's log.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, nil)
}

// StartWith is Start with the server's options changed by configure
// (authentication, TLS, limits) before each start.
func StartWith(t testing.TB, configure func(*server.Options)) *Server {
	t.Helper()
	s := &Server{t: t, storeDir: t.TempDir(), name: "herald-natstest", configure: configure}
	if err := s.start(-1); err != nil {
		t.Fatalf("natstest: start: %v", err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

func (s *Server) options(port int) *server.Options {
	s.mu.Lock()
	defer s.mu.Unlock()
	opts := &server.Options{
		ServerName: s.name,
		Host:       "127.0.0.1",
		Port:       port,
		JetStream:  true,
		StoreDir:   s.storeDir,
		// Explicit limits: the defaults are computed from the machine's
		// memory and disk, which makes tests depend on the machine.
		JetStreamMaxMemory: 512 << 20,
		JetStreamMaxStore:  2 << 30,
		NoSigs:             true,
		NoLog:              os.Getenv("HERALD_NATS_LOG") == "",
	}
	if s.cluster != "" {
		opts.Cluster = server.ClusterOpts{Name: s.cluster, Host: "127.0.0.1", Port: -1}
		if s.clusterPort != 0 {
			opts.Cluster.Port = s.clusterPort
		}
		opts.Routes = server.RoutesFromStr(strings.Join(s.routes, ","))
	}
	if s.configure != nil {
		s.configure(opts)
	}
	return opts
}

func (s *Server) start(port int) error {
	opts := s.options(port)
	srv, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("new server: %w", err)
	}
	if !opts.NoLog {
		srv.ConfigureLogger()
	}
	srv.Start()
	if !srv.ReadyForConnections(readyTimeout) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return fmt.Errorf("not ready for connections within %v", readyTimeout)
	}
	addr, ok := srv.Addr().(*net.TCPAddr)
	if !ok {
		srv.Shutdown()
		srv.WaitForShutdown()
		return fmt.Errorf("unexpected listen address %v", srv.Addr())
	}
	s.mu.Lock()
	s.srv, s.port = srv, addr.Port
	if ca := srv.ClusterAddr(); ca != nil {
		s.clusterPort = ca.Port
	}
	s.mu.Unlock()
	return nil
}

// URL returns the client URL, nats://127.0.0.1:port. It stays the same
// across restarts.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("nats://127.0.0.1:%d", s.port)
}

// Port returns the server's client port.
func (s *Server) Port() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.port
}

// StoreDir returns the JetStream store directory.
func (s *Server) StoreDir() string { return s.storeDir }

// Running reports whether the server is up.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv != nil
}

// Shutdown stops the server and waits until it has stopped. Clients see
// their connections drop and start reconnecting. Shutting down a stopped
// server does nothing.
func (s *Server) Shutdown() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return
	}
	srv.Shutdown()
	srv.WaitForShutdown()
}

// Restart shuts the server down, if it is up, and starts it again on the
// same port and store directory: JetStream recovers its streams from disk
// and clients reconnect. The port was free a moment ago, so binding it
// again normally succeeds at once; Restart retries briefly in case the
// kernel has not released it yet. Call it from the test's goroutine: it
// fails the test if the server does not come back.
func (s *Server) Restart() {
	s.t.Helper()
	s.Shutdown()
	port := s.Port()
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err = s.start(port); err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("natstest: restart on port %d: %v", port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A Cluster is several embedded servers routed into one NATS cluster with
// clustered JetStream, for replicated streams and failover tests.
type Cluster struct {
	// Servers are the cluster's members, each stopped when the test ends.
	Servers []*Server
}

// StartCluster starts n servers (n >= 3 for a JetStream quorum that
// survives one loss) in one cluster and waits until JetStream has elected
// its meta leader. They are shut down when the test ends.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	c := &Cluster{}
	var routes []string
	for i := range n {
		s := &Server{t: t, storeDir: t.TempDir(), name: fmt.Sprintf("herald-natstest-%d", i), cluster: "herald-natstest"}
		s.routes = append([]string(nil), routes...)
		if err := s.start(-1); err != nil {
			t.Fatalf("natstest: start cluster server %d: %v", i, err)
		}
		t.Cleanup(s.Shutdown)
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", s.clusterPort))
		c.Servers = append(c.Servers, s)
	}
	// From now on every server routes to every other one, so that any of
	// them can be restarted alone.
	for i, s := range c.Servers {
		s.mu.Lock()
		s.routes = nil
		for j, r := range routes {
			if j != i {
				s.routes = append(s.routes, r)
			}
		}
		s.mu.Unlock()
	}
	c.WaitJetStream(t)
	return c
}

// URL returns the client URLs of every server, comma-separated, as
// nats.go accepts them.
func (c *Cluster) URL() string {
	urls := make([]string, len(c.Servers))
	for i, s := range c.Servers {
		urls[i] = s.URL()
	}
	return strings.Join(urls, ",")
}

// WaitJetStream waits until a running server is the JetStream meta leader
// and every running server is current with it.
func (c *Cluster) WaitJetStream(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(readyTimeout)
	for {
		leader, current := false, true
		for _, s := range c.Servers {
			s.mu.Lock()
			srv := s.srv
			s.mu.Unlock()
			if srv == nil {
				continue
			}
			leader = leader || srv.JetStreamIsLeader()
			current = current && srv.JetStreamIsCurrent()
		}
		if leader && current {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("natstest: no JetStream meta leader within %v", readyTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Server returns the server with the given name (as JetStream reports
// stream leaders), or nil.
func (c *Cluster) Server(name string) *Server {
	for _, s := range c.Servers {
		if s.name == name {
			return s
		}
	}
	return nil
}

// Name returns the server's name.
func (s *Server) Name() string { return s.name }
