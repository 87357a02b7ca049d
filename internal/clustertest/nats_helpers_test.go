package clustertest

// Helpers of the NATS cluster test. Every name carries a nats prefix so
// that they never collide with the helpers of the other cluster tests in
// this package.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldpush/herald/sse"
)

// natsBuildHerald builds the herald binary into the test's temp dir.
func natsBuildHerald(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "herald")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/heraldpush/herald/cmd/herald")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go build herald: %v\n%s", err, out)
	}
	return bin
}

// natsLockedBuffer is a bytes.Buffer safe for a writer goroutine and a
// reader.
type natsLockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *natsLockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *natsLockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A natsNode is one herald serve process.
type natsNode struct {
	name   string
	cmd    *exec.Cmd
	base   string // http://127.0.0.1:port
	stderr *natsLockedBuffer
	exited chan struct{}
}

// natsStartNode starts herald serve on a free port and waits until it is
// ready. The process is stopped when the test ends; its log is shown if
// the test failed.
func natsStartNode(t *testing.T, bin, name string, args ...string) *natsNode {
	t.Helper()
	n := &natsNode{name: name, stderr: &natsLockedBuffer{}, exited: make(chan struct{})}
	n.cmd = exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	n.cmd.Stderr = n.stderr
	stdout, err := n.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		const prefix = "Herald is listening on "
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, prefix) {
				select {
				case addr <- strings.TrimSuffix(strings.TrimPrefix(line, prefix), "/.well-known/mercure"):
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		_ = n.cmd.Wait()
		close(n.exited)
	}()
	t.Cleanup(func() {
		n.stop()
		if t.Failed() {
			t.Logf("log of %s:\n%s", name, n.stderr.String())
		}
	})
	select {
	case n.base = <-addr:
	case <-n.exited:
		t.Fatalf("%s exited at startup:\n%s", name, n.stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not print its address within 30s:\n%s", name, n.stderr.String())
	}
	natsWaitReady(t, n)
	return n
}

// natsWaitReady polls /readyz until the node answers 200.
func natsWaitReady(t *testing.T, n *natsNode) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(n.base + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within 30s (last: %v):\n%s", n.name, err, n.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// natsWaitReadyz polls /readyz until it answers want.
func natsWaitReadyz(t *testing.T, n *natsNode, want int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	last := 0
	for {
		resp, err := http.Get(n.base + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			last = resp.StatusCode
			if last == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: /readyz answered %d (err %v) for 30s; want %d", n.name, last, err, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (n *natsNode) kill() {
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.exited
}

// stop ends the process: SIGTERM, then SIGKILL if it lingers.
func (n *natsNode) stop() {
	select {
	case <-n.exited:
		return
	default:
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(10 * time.Second):
		n.kill()
	}
}

// natsPublish posts one update with a publisher token. It returns the
// HTTP status, or an error when no answer came.
func natsPublish(ctx context.Context, client *http.Client, base, token, id, topic, data string) (int, error) {
	form := url.Values{"topic": {topic}, "id": {id}, "data": {data}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/.well-known/mercure", strings.NewReader(form.Encode()))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK && string(body) != id {
		return resp.StatusCode, fmt.Errorf("publish answered id %q; want %q", body, id)
	}
	return resp.StatusCode, nil
}

// natsStream opens a subscription and returns its decoder. lastID, when
// set, is sent as Last-Event-ID.
func natsStream(ctx context.Context, client *http.Client, base, token, lastID string, topics []string) (*http.Response, *sse.Decoder, error) {
	q := url.Values{"topic": topics}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/.well-known/mercure?"+q.Encode(), nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, nil, fmt.Errorf("subscribe: status %d: %s", resp.StatusCode, bytes.TrimSpace(body))
	}
	return resp, sse.NewDecoder(resp.Body), nil
}

var errNATSNoNode = errors.New("no live node")
