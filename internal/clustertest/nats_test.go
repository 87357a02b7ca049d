//go:build linux

package clustertest

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/auth"
	"github.com/heraldpush/herald/internal/natstest"
	"github.com/heraldpush/herald/nats"
)

// TestNATSCluster is issue 4's acceptance test on NATS JetStream: three
// herald processes on one embedded nats-server, subscribers and publishers
// on every node; one node is killed with SIGKILL mid-stream and its
// subscribers resume on the others with Last-Event-ID. Every subscriber
// must receive exactly the stream's updates on its topics, in the stream's
// order: nothing lost, nothing twice.
func TestNATSCluster(t *testing.T) {
	natsRunCluster(t, func(t *testing.T, srv *natstest.Server, nodes []*node, kill func(int)) {
		kill(1)
	})
}

// TestNATSClusterOutage restarts the NATS server under the same load:
// publishes are refused (503) while it is down and retried by the
// publishers; once it is back, every node's consumer resumes and every
// subscriber, whose stream stayed open, gets every update once, in order.
func TestNATSClusterOutage(t *testing.T) {
	refused := natsRunCluster(t, func(t *testing.T, srv *natstest.Server, nodes []*node, kill func(int)) {
		srv.Shutdown()
		// Every node reports itself not ready while NATS is down...
		for _, n := range nodes {
			waitReadyz(t, n, http.StatusServiceUnavailable)
		}
		time.Sleep(300 * time.Millisecond)
		srv.Restart()
		// ...and ready again once it is back.
		for _, n := range nodes {
			waitReadyz(t, n, http.StatusOK)
		}
	})
	if refused == 0 && !t.Skipped() {
		t.Errorf("no publish was refused while NATS was down")
	}
}

// natsRunCluster starts three nodes with subscribers and publishers, calls
// disrupt once a third of the updates are acknowledged, and checks every
// subscriber's stream against the JetStream stream. It returns how many
// publish attempts were refused or failed (and retried).
func natsRunCluster(t *testing.T, disrupt func(t *testing.T, srv *natstest.Server, nodes []*node, kill func(node int))) int64 {
	if testing.Short() {
		t.Skip("builds herald and runs three processes")
	}
	var failedAttempts atomic.Int64
	const (
		perPublisher = 300
		subsPerNode  = 4
	)
	srv := natstest.Start(t)
	transport := srv.URL() + "?stream=herald_cluster&prefix=cluster"

	nodes := make([]*node, 3)
	for i := range nodes {
		nodes[i] = startNode(t, fmt.Sprintf("node%d", i), transport, "--log-level", "warn")
		waitReadyz(t, nodes[i], http.StatusOK)
	}
	var dead atomic.Int32 // index+1 of the killed node, 0 while all live
	// pick returns the first live node at or after i.
	pick := func(i int) (*node, int) {
		for k := range len(nodes) {
			j := (i + k) % len(nodes)
			if int(dead.Load()) != j+1 {
				return nodes[j], j
			}
		}
		return nil, -1
	}

	subToken := mustToken(t, auth.TokenSpec{Subscribe: []string{"*"}})
	pubToken := mustToken(t, auth.TokenSpec{Publish: []string{"*"}})
	topicA, topicB := "https://example.com/cluster/a", "https://example.com/cluster/b"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Subscribers: spread over the nodes, on topic a, topic b, or both.
	type subscriber struct {
		topics    []string
		node      int
		mu        sync.Mutex
		got       []string
		resumes   int
		lastErr   error
		ready     chan struct{}
		readyOnce sync.Once
		resumedOn []int
	}
	var subs []*subscriber
	var wg sync.WaitGroup
	for n := range nodes {
		for k := range subsPerNode {
			s := &subscriber{node: n, ready: make(chan struct{})}
			switch (n*subsPerNode + k) % 3 {
			case 0:
				s.topics = []string{topicA}
			case 1:
				s.topics = []string{topicB}
			default:
				s.topics = []string{topicA, topicB}
			}
			subs = append(subs, s)
			wg.Add(1)
			go func() {
				defer wg.Done()
				node, idx := nodes[s.node], s.node
				lastID := ""
				for ctx.Err() == nil {
					resp, dec, err := natsStream(ctx, client, node.base, subToken, lastID, s.topics)
					if err == nil {
						s.readyOnce.Do(func() { close(s.ready) })
						for {
							ev, err := dec.Next()
							if err != nil {
								break
							}
							s.mu.Lock()
							s.got = append(s.got, ev.ID)
							s.mu.Unlock()
							lastID = ev.ID
						}
						resp.Body.Close()
					} else {
						s.mu.Lock()
						s.lastErr = err
						s.mu.Unlock()
					}
					if ctx.Err() != nil {
						return
					}
					// The stream ended: its node died. Resume on the next
					// live one, as EventSource would behind a load
					// balancer.
					time.Sleep(20 * time.Millisecond)
					node, idx = pick(idx + 1)
					if node == nil {
						return
					}
					s.mu.Lock()
					s.resumes++
					s.resumedOn = append(s.resumedOn, idx)
					s.mu.Unlock()
				}
			}()
		}
	}
	for _, s := range subs {
		select {
		case <-s.ready:
		case <-time.After(30 * time.Second):
			t.Fatalf("a subscriber on node %d did not connect: %v", s.node, s.lastErr)
		}
	}

	// Publishers: one per node, moving to the next live node when theirs
	// fails, retrying the same id until it is answered 200.
	var acked atomic.Int64
	var pwg sync.WaitGroup
	pubErrs := make(chan error, len(nodes))
	start := time.Now()
	for p := range nodes {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			idx := p
			for i := range perPublisher {
				id := fmt.Sprintf("p%d-%04d", p, i)
				topic := topicA
				if i%2 == 1 {
					topic = topicB
				}
				deadline := time.Now().Add(30 * time.Second)
				for {
					node, j := pick(idx)
					if node == nil {
						pubErrs <- errNATSNoNode
						return
					}
					idx = j
					status, err := publish(ctx, client, node, pubToken, id, []string{topic})
					if err == nil && status == http.StatusOK {
						break
					}
					failedAttempts.Add(1)
					if time.Now().After(deadline) {
						pubErrs <- fmt.Errorf("publish %s: status %d, %v", id, status, err)
						return
					}
					idx++
					time.Sleep(20 * time.Millisecond)
				}
				acked.Add(1)
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}

	// Disrupt the cluster mid-stream.
	total := int64(perPublisher * len(nodes))
	for acked.Load() < total/3 {
		time.Sleep(time.Millisecond)
	}
	killed := -1
	disruptedAt := acked.Load()
	disrupt(t, srv, nodes, func(node int) {
		nodes[node].kill()
		dead.Store(int32(node + 1))
		killed = node
	})
	pwg.Wait()
	close(pubErrs)
	for err := range pubErrs {
		t.Fatal(err)
	}
	t.Logf("%d updates acknowledged in %v; disrupted after %d; %d publish attempts refused or failed and retried",
		acked.Load(), time.Since(start).Round(time.Millisecond), disruptedAt, failedAttempts.Load())

	// The reference order: the stream itself, read through the NATS
	// transport in this process.
	order := natsStreamOrder(t, srv.URL())
	topicOf := func(id string) string {
		var p, i int
		fmt.Sscanf(id, "p%d-%d", &p, &i)
		if i%2 == 1 {
			return topicB
		}
		return topicA
	}
	seen := map[string]bool{}
	for _, id := range order {
		if seen[id] {
			t.Errorf("the stream holds %q twice", id)
		}
		seen[id] = true
	}
	if len(seen) != int(total) {
		t.Fatalf("the stream holds %d distinct updates; want %d", len(seen), total)
	}

	// Every subscriber gets its share of the stream, once, in order.
	for i, s := range subs {
		var want []string
		for _, id := range order {
			if slices.Contains(s.topics, topicOf(id)) {
				want = append(want, id)
			}
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			s.mu.Lock()
			n := len(s.got)
			s.mu.Unlock()
			if n >= len(want) || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		s.mu.Lock()
		got := slices.Clone(s.got)
		resumes := s.resumes
		s.mu.Unlock()
		if s.node == killed && resumes == 0 {
			t.Errorf("subscriber %d on the killed node never resumed", i)
		}
		if !slices.Equal(got, want) {
			lost, dup := natsDiff(got, want)
			t.Errorf("subscriber %d (node %d, topics %d, %d resumes): got %d updates, want %d; lost %d %v, duplicated %d %v",
				i, s.node, len(s.topics), resumes, len(got), len(want), len(lost), natsFirst(lost), len(dup), natsFirst(dup))
		}
	}
	cancel()
	wg.Wait()
	return failedAttempts.Load()
}

// natsStreamOrder reads the whole stream, oldest first, and returns the
// update ids.
func natsStreamOrder(t *testing.T, url string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr, err := nats.Open(ctx, nats.Config{Servers: []string{url}, Stream: "herald_cluster", SubjectPrefix: "cluster"})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	var ids []string
	q := herald.HistoryQuery{AfterID: herald.EarliestID, Limit: 500}
	for {
		p, err := tr.History(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Updates) == 0 {
			return ids
		}
		for _, u := range p.Updates {
			ids = append(ids, u.ID)
		}
		q = herald.HistoryQuery{AfterSeq: p.Updates[len(p.Updates)-1].Seq, Limit: 500}
	}
}

// natsDiff returns the ids of want missing from got, and those got more
// than once.
func natsDiff(got, want []string) (lost, dup []string) {
	count := map[string]int{}
	for _, id := range got {
		count[id]++
		if count[id] == 2 {
			dup = append(dup, id)
		}
	}
	for _, id := range want {
		if count[id] == 0 {
			lost = append(lost, id)
		}
	}
	return lost, dup
}

func natsFirst(ids []string) []string {
	if len(ids) > 5 {
		return ids[:5]
	}
	return ids
}
