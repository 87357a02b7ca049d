//go:build linux

package clustertest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldpush/herald/auth"
	"github.com/heraldpush/herald/internal/redistest"
)

// nginxBinary returns nginx's path; without it the test fails under
// CI=true and is skipped, loudly, otherwise.
func nginxBinary(t *testing.T) string {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	const msg = "nginx is not installed (apt-get install nginx): the load-balancer test did NOT run"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip("SKIPPED: " + msg)
	return ""
}

// startNginx runs deploy/nginx/cluster.conf with its listen port and
// upstream servers replaced, and returns nginx's base URL.
func startNginx(t *testing.T, upstreams []*node) string {
	t.Helper()
	bin := nginxBinary(t)
	conf, err := os.ReadFile(filepath.Join("..", "..", "deploy", "nginx", "cluster.conf"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	text := string(conf)
	replace := func(old, new string) {
		t.Helper()
		if !strings.Contains(text, old) {
			t.Fatalf("deploy/nginx/cluster.conf no longer contains %q: update the test with the file", old)
		}
		text = strings.Replace(text, old, new, 1)
	}
	replace("listen 8080;", "listen "+addr+";")
	for i, n := range upstreams {
		replace(fmt.Sprintf("server 127.0.0.1:%d ", 8081+i), "server "+strings.TrimPrefix(n.base, "http://")+" ")
	}
	// Keep nginx's files in the test's directory, so that it runs without
	// root and leaves nothing behind.
	var paths strings.Builder
	for _, p := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&paths, "    %s_temp_path %s;\n", p, filepath.Join(dir, p))
	}
	replace("http {\n", "http {\n"+paths.String())
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "error.log")
	cmd := exec.Command(bin, "-p", dir, "-c", confPath, "-e", logPath,
		"-g", fmt.Sprintf("daemon off; pid %s; error_log %s warn;", filepath.Join(dir, "nginx.pid"), logPath))
	out, err := os.Create(filepath.Join(dir, "nginx.out"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		out.Close()
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	showLogs := func() string {
		a, _ := os.ReadFile(logPath)
		b, _ := os.ReadFile(filepath.Join(dir, "nginx.out"))
		return string(a) + string(b)
	}
	deadline := time.Now().Add(waitLimit)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-done:
			t.Fatalf("nginx exited at startup:\n%s", showLogs())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not listen within %v:\n%s", waitLimit, showLogs())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("nginx log:\n%s", showLogs())
		}
	})
	return "http://" + addr
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
