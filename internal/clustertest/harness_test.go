//go:build linux

package clustertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/heraldpush/herald/auth"
	"github.com/heraldpush/herald/sse"
)

// jwtKey is the HMAC key every node shares. It is made up for these tests
// and protects nothing.
const jwtKey = "clustertest-fake-jwt-key-not-a-secret-0123456789"

// waitLimit bounds every wait for a condition.
const waitLimit = 30 * time.Second

// A node is one "herald serve" process.
type node struct {
	t       *testing.T
	name    string
	cmd     *exec.Cmd
	base    string // http://127.0.0.1:port
	done    chan struct{}
	logPath string
	dead    atomic.Bool
}

// lineWatcher is the process's stdout: it finds the line that tells where
// the node listens.
type lineWatcher struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	found chan string
	sent  bool
}

var listenLine = regexp.MustCompile(`listening on (http://[0-9.]+:[0-9]+)/`)

func (w *lineWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.sent {
		w.buf.Write(p)
		if m := listenLine.FindSubmatch(w.buf.Bytes()); m != nil {
			w.found <- string(m[1])
			w.sent = true
			w.buf = bytes.Buffer{}
		}
	}
	return len(p), nil
}

// startNode runs herald serve on a free loopback port with the shared key
// and the given transport URL.
func startNode(t *testing.T, name, transport string, extra ...string) *node {
	t.Helper()
	n := &node{t: t, name: name, done: make(chan struct{}), logPath: filepath.Join(t.TempDir(), name+".log")}
	logf, err := os.Create(n.logPath)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--transport", transport, "--jwt-key", jwtKey}, extra...)
	n.cmd = exec.Command(heraldBin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HERALD_") {
			n.cmd.Env = append(n.cmd.Env, kv)
		}
	}
	w := &lineWatcher{found: make(chan string, 1)}
	n.cmd.Stdout, n.cmd.Stderr = w, logf
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := n.cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		_ = n.cmd.Wait()
		logf.Close()
		close(n.done)
	}()
	t.Cleanup(n.stop)
	select {
	case n.base = <-w.found:
	case <-n.done:
		t.Fatalf("node %s exited at startup:\n%s", name, n.logTail())
	case <-time.After(waitLimit):
		t.Fatalf("node %s did not start within %v:\n%s", name, waitLimit, n.logTail())
	}
	return n
}

func (n *node) url() string { return n.base + "/.well-known/mercure" }

// kill ends the node with SIGKILL, as a crash would.
func (n *node) kill() {
	n.dead.Store(true)
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.done
}

// stop ends the node with SIGTERM (a graceful shutdown), or SIGKILL if it
// takes too long.
func (n *node) stop() {
	n.dead.Store(true)
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(20 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.done
	}
	if n.t.Failed() {
		n.t.Logf("log of node %s:\n%s", n.name, n.logTail())
	}
}

func (n *node) logTail() string {
	b, _ := os.ReadFile(n.logPath)
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}

func mustToken(t *testing.T, spec auth.TokenSpec) string {
	t.Helper()
	tok, err := auth.SignHMAC([]byte(jwtKey), spec)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// anyTopic marks an update published on every topic (the fence).
const anyTopic = "*"

// A subscriber is an SSE client that stays subscribed across node
// failures: when its stream ends it reconnects to the next node of its
// list with the Last-Event-ID it saw, as an EventSource behind a load
// balancer would.
type subscriber struct {
	name   string
	topics []string
	nodes  []*node
	token  string

	mu         sync.Mutex
	ids        []string
	lastID     string
	reconnects int
	problems   []string
	changed    chan struct{}
	connected  chan struct{}
	once       sync.Once
}

func newSubscriber(name, token string, topics []string, nodes ...*node) *subscriber {
	return &subscriber{name: name, token: token, topics: topics, nodes: nodes,
		changed: make(chan struct{}), connected: make(chan struct{})}
}

func (s *subscriber) problem(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.problems) < 20 {
		s.problems = append(s.problems, fmt.Sprintf(format, args...))
	}
}

func (s *subscriber) run(ctx context.Context, client *http.Client) {
	k := 0
	for ctx.Err() == nil {
		n := s.nodes[k%len(s.nodes)]
		if n.dead.Load() {
			k++
			continue
		}
		s.stream(ctx, client, n)
		if ctx.Err() != nil {
			return
		}
		// The stream ended: the node went away. Land on the next one.
		k++
		s.mu.Lock()
		s.reconnects++
		s.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (s *subscriber) stream(ctx context.Context, client *http.Client, n *node) {
	q := url.Values{"topic": s.topics}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.url()+"?"+q.Encode(), nil)
	if err != nil {
		s.problem("request: %v", err)
		return
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Accept", "text/event-stream")
	s.mu.Lock()
	last := s.lastID
	s.mu.Unlock()
	resume := last
	if resume == "" {
		// The first connection asks for the whole history of a fresh
		// backend, so that subscribing late cannot lose an update.
		resume = "earliest"
	}
	req.Header.Set("Last-Event-ID", resume)
	resp, err := client.Do(req)
	if err != nil {
		return // node down: try the next
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		if resp.StatusCode != http.StatusServiceUnavailable {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			s.problem("node %s answered %s: %s", n.name, resp.Status, body)
		}
		return
	}
	if got := resp.Header.Get("Last-Event-ID"); last != "" && got != last {
		s.problem("resuming after %q on node %s: the hub answered Last-Event-ID %q (the cursor was not found)", last, n.name, got)
	}
	s.once.Do(func() { close(s.connected) })
	dec := sse.NewDecoder(resp.Body)
	for {
		ev, err := dec.Next()
		if err != nil {
			return
		}
		if want := "data of " + ev.ID; ev.Data != want && ev.ID != "fence" {
			s.problem("event %q carries data %q; want %q", ev.ID, ev.Data, want)
		}
		s.mu.Lock()
		s.ids = append(s.ids, ev.ID)
		s.lastID = ev.ID
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
	}
}

// waitFor waits until the subscriber has received id.
func (s *subscriber) waitFor(t *testing.T, id string) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		s.mu.Lock()
		has := slices.Contains(s.ids, id)
		ch := s.changed
		n := len(s.ids)
		s.mu.Unlock()
		if has {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("subscriber %s did not receive %q within %v (it has %d updates)", s.name, id, waitLimit, n)
		}
	}
}

func (s *subscriber) snapshot() (ids []string, reconnects int, problems []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ids), s.reconnects, slices.Clone(s.problems)
}

// A publisher publishes over HTTP, one update at a time, to its node, and
// moves to the next node when its node fails. Each update has a fresh id:
// an update whose outcome is unknown (connection lost, 503) is never
// retried under the same id, so that a duplicate id in a stream always
// means a duplicate delivery.
type publisher struct {
	name   string
	nodes  []*node
	topics []string
	token  string

	mu        sync.Mutex
	accepted  []string // answered 200
	uncertain []string // not answered 200: may or may not be stored
	refused   int      // answered 503
}

// topicMap records the topic of every id published.
type topicMap struct {
	mu sync.Mutex
	m  map[string]string
}

func (tm *topicMap) set(id, topic string) {
	tm.mu.Lock()
	tm.m[id] = topic
	tm.mu.Unlock()
}

func (tm *topicMap) get(id string) (string, bool) {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	t, ok := tm.m[id]
	return t, ok
}

func publish(ctx context.Context, client *http.Client, n *node, token, id string, topics []string) (status int, err error) {
	form := url.Values{"topic": topics, "id": {id}, "data": {"data of " + id}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url(), strings.NewReader(form.Encode()))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode == http.StatusOK && string(body) != id {
		return resp.StatusCode, fmt.Errorf("publish answered id %q; want %q", body, id)
	}
	return resp.StatusCode, nil
}

// run publishes count updates, pausing between them.
func (p *publisher) run(ctx context.Context, t *testing.T, client *http.Client, tm *topicMap, count int, pause time.Duration) {
	k := 0
	for i := 0; i < count && ctx.Err() == nil; i++ {
		n := p.nodes[k%len(p.nodes)]
		if n.dead.Load() {
			k++
			i--
			continue
		}
		id := fmt.Sprintf("%s-%05d", p.name, i)
		topic := p.topics[i%len(p.topics)]
		tm.set(id, topic)
		status, err := publish(ctx, client, n, p.token, id, []string{topic})
		p.mu.Lock()
		switch {
		case err == nil && status == http.StatusOK:
			p.accepted = append(p.accepted, id)
		case err == nil && status == http.StatusServiceUnavailable:
			p.uncertain = append(p.uncertain, id)
			p.refused++
		case err == nil && (status == http.StatusBadGateway || status == http.StatusGatewayTimeout):
			// A load balancer lost the node while the request was on it.
			p.uncertain = append(p.uncertain, id)
		case err == nil:
			t.Errorf("publisher %s: %s answered %d", p.name, id, status)
		case errors.Is(err, context.Canceled):
		default:
			// The connection failed: the node is gone. Whether it stored
			// the update first is unknown.
			p.uncertain = append(p.uncertain, id)
			k++
		}
		p.mu.Unlock()
		if status == http.StatusServiceUnavailable {
			time.Sleep(20 * time.Millisecond)
		} else if pause > 0 {
			time.Sleep(pause)
		}
	}
}

func (p *publisher) counts() (accepted, uncertain, refused int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.accepted), len(p.uncertain), p.refused
}

// verify checks every subscriber's sequence against the reference
// subscriber's: the reference holds every accepted update exactly once,
// each publisher's updates in the order they were published, and nothing
// that was not published; every other subscriber holds exactly the
// reference's updates on its topics, in the same order. The fence, an
// update on every topic published last, must already have reached all.
func verify(t *testing.T, ref *subscriber, subs []*subscriber, pubs []*publisher, tm *topicMap) {
	t.Helper()
	refIDs, _, _ := ref.snapshot()
	accepted, uncertain := map[string]bool{}, map[string]bool{}
	for _, p := range pubs {
		p.mu.Lock()
		for _, id := range p.accepted {
			accepted[id] = true
		}
		for _, id := range p.uncertain {
			uncertain[id] = true
		}
		p.mu.Unlock()
	}
	seen := map[string]int{}
	lastOf := map[string]string{} // publisher -> last id seen
	for _, id := range refIDs {
		seen[id]++
		if id == "fence" {
			continue
		}
		if !accepted[id] && !uncertain[id] {
			t.Errorf("reference %s received %q, which nobody published", ref.name, id)
		}
		pub, _, _ := strings.Cut(id, "-")
		if prev := lastOf[pub]; prev != "" && id <= prev {
			t.Errorf("reference %s received %q after %q: out of publish order", ref.name, id, prev)
		}
		lastOf[pub] = id
	}
	lost, dup := 0, 0
	for id := range accepted {
		if seen[id] == 0 {
			lost++
			if lost <= 5 {
				t.Errorf("update %q was answered 200 but reference %s never received it", id, ref.name)
			}
		}
	}
	for id, n := range seen {
		if n > 1 {
			dup++
			if dup <= 5 {
				t.Errorf("reference %s received %q %d times", ref.name, id, n)
			}
		}
	}
	for _, s := range subs {
		if s == ref {
			continue
		}
		got, _, problems := s.snapshot()
		for _, p := range problems {
			t.Errorf("subscriber %s: %s", s.name, p)
		}
		var want []string
		for _, id := range refIDs {
			topic, _ := tm.get(id)
			if id == "fence" || slices.Contains(s.topics, topic) {
				want = append(want, id)
			}
		}
		if slices.Equal(got, want) {
			continue
		}
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		at := func(l []string) string {
			if i < len(l) {
				return l[i]
			}
			return "(end)"
		}
		t.Errorf("subscriber %s (topics %q): %d updates; want the reference's %d on its topics; first difference at %d: got %s, want %s",
			s.name, s.topics, len(got), len(want), i, at(got), at(want))
	}
	_, _, problems := ref.snapshot()
	for _, p := range problems {
		t.Errorf("reference %s: %s", ref.name, p)
	}
	t.Logf("accepted %d, uncertain %d; reference received %d; lost %d, duplicated %d", len(accepted), len(uncertain), len(refIDs), lost, dup)
}

// newClient returns an HTTP client for the test's streams and publishes.
func newClient(t *testing.T) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 64, ResponseHeaderTimeout: 10 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}
