//go:build linux

package clustertest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/auth"
	"github.com/heraldpush/herald/internal/nginxtest"
	"github.com/heraldpush/herald/internal/redistest"
)

// startNginx runs deploy/nginx/cluster.conf with its listen port and
// upstream servers replaced, and returns nginx's base URL. nginx's log is
// shown when the test fails.
func startNginx(t *testing.T, upstreams []*node) string {
	t.Helper()
	conf := nginxtest.ReadConf(t, filepath.Join("..", "..", "deploy", "nginx", "cluster.conf"))
	addr := nginxtest.FreeAddr(t)
	conf = nginxtest.Edit(t, conf, "listen 8080;", "listen "+addr+";")
	for i, n := range upstreams {
		conf = nginxtest.Edit(t, conf, fmt.Sprintf("server 127.0.0.1:%d ", 8081+i), "server "+strings.TrimPrefix(n.base, "http://")+" ")
	}
	srv := nginxtest.Start(t, conf, addr)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("nginx log:\n%s", srv.Logs())
		}
	})
	return srv.URL
}

// TestNginx runs the shipped nginx configuration in front of three nodes:
// subscribers and a publisher go through nginx only; one node is killed
// mid-stream, and the subscribers it served reconnect through nginx,
// landing on the others, with nothing lost or repeated.
func TestNginx(t *testing.T) {
	srv := redistest.Start(t)
	prefix := fmt.Sprintf("nginx:%d:", time.Now().UnixNano())
	transport := srv.URL() + "?" + url.Values{"prefix": {prefix}}.Encode()
	var nodes []*node
	for i := range 3 {
		nodes = append(nodes, startNode(t, fmt.Sprintf("node%d", i), transport))
	}
	lb := &node{t: t, name: "nginx", base: startNginx(t, nodes), done: make(chan struct{})}
	client := newClient(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})

	subTok := mustToken(t, auth.TokenSpec{Subscribe: []string{"*"}})
	pubTok := mustToken(t, auth.TokenSpec{Publish: []string{"*"}})
	// The reference listens on node0 directly, which is not killed.
	ref := newSubscriber("node0/ref", subTok, topics, nodes[0])
	subs := []*subscriber{ref}
	sets := [][]string{topics, topics[:1], topics[1:], topics, topics[2:], topics}
	for i, set := range sets {
		subs = append(subs, newSubscriber(fmt.Sprintf("nginx/sub%d", i), subTok, set, lb))
	}
	for _, s := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.run(ctx, client)
		}()
		select {
		case <-s.connected:
		case <-time.After(waitLimit):
			t.Fatalf("subscriber %s could not connect within %v", s.name, waitLimit)
		}
	}
	tm := &topicMap{m: map[string]string{}}
	pubs := []*publisher{
		{name: "p0", nodes: []*node{lb}, topics: topics, token: pubTok},
		{name: "p1", nodes: []*node{lb}, topics: rotate(topics, 1), token: pubTok},
	}
	pubDone := make(chan struct{})
	var pwg sync.WaitGroup
	for _, p := range pubs {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			p.run(ctx, t, client, tm, 400, time.Millisecond)
		}()
	}
	go func() {
		pwg.Wait()
		close(pubDone)
	}()
	for {
		a0, _, _ := pubs[0].counts()
		a1, _, _ := pubs[1].counts()
		if a0+a1 >= 250 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	nodes[1].kill()
	select {
	case <-pubDone:
	case <-time.After(2 * waitLimit):
		t.Fatalf("publishers did not finish")
	}
	if status, err := publish(ctx, client, lb, pubTok, "fence", topics); err != nil || status != http.StatusOK {
		t.Fatalf("publishing the fence through nginx: %d, %v", status, err)
	}
	tm.set("fence", anyTopic)
	for _, s := range subs {
		s.waitFor(t, "fence")
	}
	verify(t, ref, subs, pubs, tm)
	moved := 0
	for _, s := range subs[1:] {
		if _, r, _ := s.snapshot(); r > 0 {
			moved++
		}
	}
	if moved == 0 {
		t.Errorf("no subscriber behind nginx was on the killed node; the test proved nothing")
	}
	t.Logf("%d of %d subscribers behind nginx were on the killed node and resumed elsewhere", moved, len(subs)-1)
}
