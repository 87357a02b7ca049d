//go:build linux

package clustertest

// Helpers of the NATS cluster test, which runs its nodes with the
// package's harness (harness_test.go).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/heraldpush/herald/sse"
)

// waitReadyz polls the node's /readyz until it answers want.
func waitReadyz(t *testing.T, n *node, want int) {
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
			t.Fatalf("%s: /readyz answered %d (err %v) for 30s; want %d:\n%s", n.name, last, err, want, n.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
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
