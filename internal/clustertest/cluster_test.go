//go:build linux

package clustertest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/auth"
	"github.com/heraldpush/herald/internal/redistest"
)

var topics = []string{
	"https://example.com/cluster/0",
	"https://example.com/cluster/1",
	"https://example.com/cluster/2",
}

// A cluster is three herald processes on one Redis, with subscribers
// spread over every node and a publisher on every node.
type cluster struct {
	t      *testing.T
	redis  *redistest.Server
	nodes  []*node
	subs   []*subscriber
	pubs   []*publisher
	ref    *subscriber
	tm     *topicMap
	client *http.Client
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	pubTok string
}

func newCluster(t *testing.T, srv *redistest.Server) *cluster {
	prefix := fmt.Sprintf("cluster:%s:%d:", t.Name(), time.Now().UnixNano())
	transport := srv.URL() + "?" + url.Values{"prefix": {prefix}, "ping_interval": {"500ms"}, "timeout": {"1s"}}.Encode()
	c := &cluster{t: t, redis: srv, tm: &topicMap{m: map[string]string{}}, client: newClient(t)}
	for i := range 3 {
		c.nodes = append(c.nodes, startNode(t, fmt.Sprintf("node%d", i), transport))
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	t.Cleanup(c.close)
	subTok := mustToken(t, auth.TokenSpec{Subscribe: []string{"*"}})
	c.pubTok = mustToken(t, auth.TokenSpec{Publish: []string{"*"}})
	sets := [][]string{topics, topics[:1], topics[1:], topics[2:]}
	for i, home := range c.nodes {
		order := []*node{home, c.nodes[(i+1)%3], c.nodes[(i+2)%3]}
		for j, set := range sets {
			s := newSubscriber(fmt.Sprintf("%s/sub%d", home.name, j), subTok, set, order...)
			c.subs = append(c.subs, s)
		}
		c.pubs = append(c.pubs, &publisher{name: fmt.Sprintf("p%d", i), nodes: order, topics: rotate(topics, i), token: c.pubTok})
	}
	c.ref = c.subs[0] // node0, every topic; node0 is never killed
	for _, s := range c.subs {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			s.run(c.ctx, c.client)
		}()
	}
	for _, s := range c.subs {
		select {
		case <-s.connected:
		case <-time.After(waitLimit):
			t.Fatalf("subscriber %s could not connect within %v", s.name, waitLimit)
		}
	}
	return c
}

func rotate(s []string, k int) []string {
	k %= len(s)
	return append(append([]string(nil), s[k:]...), s[:k]...)
}

func (c *cluster) close() {
	c.cancel()
	c.wg.Wait()
}

// publishAll runs every publisher for count updates and returns a channel
// closed when all are done.
func (c *cluster) publishAll(count int, pause time.Duration) <-chan struct{} {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, p := range c.pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.run(c.ctx, c.t, c.client, c.tm, count, pause)
		}()
	}
	go func() {
		wg.Wait()
		close(done)
	}()
	return done
}

func (c *cluster) accepted() int {
	n := 0
	for _, p := range c.pubs {
		a, _, _ := p.counts()
		n += a
	}
	return n
}

func (c *cluster) waitAccepted(n int) {
	deadline := time.Now().Add(waitLimit)
	for c.accepted() < n {
		if time.Now().After(deadline) {
			c.t.Fatalf("fewer than %d updates accepted within %v", n, waitLimit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// finish publishes the fence on every topic through a live node, waits
// until every subscriber has it (and with it everything published before),
// and verifies the sequences.
func (c *cluster) finish(done <-chan struct{}) {
	t := c.t
	select {
	case <-done:
	case <-time.After(2 * waitLimit):
		t.Fatalf("publishers did not finish within %v", 2*waitLimit)
	}
	var status int
	var err error
	for range 50 {
		status, err = publish(c.ctx, c.client, c.nodes[0], c.pubTok, "fence", topics)
		if err == nil && status == http.StatusOK {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil || status != http.StatusOK {
		t.Fatalf("publishing the fence: %d, %v", status, err)
	}
	c.tm.set("fence", anyTopic)
	for _, s := range c.subs {
		s.waitFor(t, "fence")
	}
	verify(t, c.ref, c.subs, c.pubs, c.tm)
}

// TestKillNode is the acceptance test of clustering: three herald
// processes on one Redis, subscribers on every node, publishers on every
// node; one node is killed with SIGKILL mid-stream, and its subscribers
// resume on the others with their Last-Event-ID. Every subscriber must end
// with exactly the updates it matches, once each, in the same order as
// every other subscriber.
func TestKillNode(t *testing.T) {
	srv := redistest.Start(t)
	c := newCluster(t, srv)
	start := time.Now()
	done := c.publishAll(500, 0)
	c.waitAccepted(400)
	c.nodes[2].kill()
	killedAt := c.accepted()
	c.finish(done)

	moved := 0
	for _, s := range c.subs[8:] { // node2's subscribers
		_, reconnects, _ := s.snapshot()
		if reconnects == 0 {
			t.Errorf("subscriber %s of the killed node never reconnected", s.name)
		}
		moved++
	}
	for _, p := range c.pubs {
		a, u, r := p.counts()
		t.Logf("publisher %s: accepted %d, uncertain %d (503: %d)", p.name, a, u, r)
	}
	t.Logf("node2 killed after %d accepted updates; %d subscribers moved; run took %v", killedAt, moved, time.Since(start).Round(time.Millisecond))
}

// TestRedisRestart kills Redis (SIGKILL) while three nodes publish and
// stream, and starts it again. Redis runs with appendfsync always, so an
// update answered 200 is on disk. No update answered 200 may be lost, and
// none may arrive twice: the nodes resubscribe and fill the gap from the
// stream.
func TestRedisRestart(t *testing.T) {
	srv := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	c := newCluster(t, srv)
	done := c.publishAll(600, time.Millisecond)
	c.waitAccepted(300)
	srv.Kill()
	down := time.Now()
	for _, n := range c.nodes {
		waitReady(t, c.client, n, false)
	}
	time.Sleep(500 * time.Millisecond)
	srv.Restart()
	for _, n := range c.nodes {
		waitReady(t, c.client, n, true)
	}
	t.Logf("Redis killed, restarted, and every node ready again after %v", time.Since(down).Round(time.Millisecond))
	c.finish(done)
	refused := 0
	for _, p := range c.pubs {
		a, u, r := p.counts()
		refused += r
		t.Logf("publisher %s: accepted %d, uncertain %d (503: %d)", p.name, a, u, r)
	}
	if refused == 0 {
		t.Errorf("no publish was refused: the outage did not happen while publishing")
	}
}

// waitReady waits until the node's /readyz answers 200 (ready) or 503.
func waitReady(t *testing.T, client *http.Client, n *node, ready bool) {
	t.Helper()
	want := http.StatusServiceUnavailable
	if ready {
		want = http.StatusOK
	}
	deadline := time.Now().Add(waitLimit)
	for {
		resp, err := client.Get(n.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s: /readyz did not answer %d within %v", n.name, want, waitLimit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
