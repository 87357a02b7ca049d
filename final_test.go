package herald_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/auth"
	"github.com/heraldpush/herald/internal/redistest"
	"github.com/heraldpush/herald/redis"
)

// Streams that end: a final update closes the streams whose every topic is
// finished, on every node of a cluster, and reconnects are answered 204 —
// also by a node that started after the final update was published.

// redisTransport opens a transport on srv with a prefix of its own; it is
// closed when the test ends (after the hubs using it, which close first).
func redisTransport(t *testing.T, srv *redistest.Server, prefix string) herald.Transport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr, err := redis.Open(ctx, srv.URL(), redis.Config{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// subscribeStatus opens a subscription and returns its status; a stream
// that opened is closed again.
func subscribeStatus(t *testing.T, hubURL, query string, header http.Header) int {
	t.Helper()
	s, status := openStream(t, hubURL+"?"+query, header)
	if s != nil {
		s.close()
	}
	return status
}

func TestFinalUpdateAcrossNodes(t *testing.T) {
	srv := redistest.Start(t)
	const prefix = "final-cluster:"
	a := newTestHub(t, herald.WithTransport(redisTransport(t, srv, prefix)), herald.WithNodeID("a"))
	b := newTestHub(t, herald.WithTransport(redisTransport(t, srv, prefix)), herald.WithNodeID("b"))

	login := "https://example.com/login/" + herald.NewID()
	q := "topic=" + url.QueryEscape(login)
	owner := bearer(mint(t, auth.TokenSpec{Subscribe: []string{login}}))

	onA := a.subscribe(t, q, owner)
	onB := b.subscribe(t, q, owner)
	mixedB := b.subscribe(t, q+"&topic=other", owner)
	pending := a.mustPublish(t, login, "pending", "private", "on", "type", "login")
	for _, s := range []*stream{onA, onB, mixedB} {
		if ev := s.next(t); ev.ID != pending || ev.Data != "pending" {
			t.Fatalf("got %+v, want the pending update", ev)
		}
	}

	// The final update is published on node A; the subscribers of node B
	// see it through Redis and their streams end there too.
	final := a.mustPublish(t, login, "approved", "private", "on", "type", "2fa-complete", "final", "on")
	for name, s := range map[string]*stream{"node A": onA, "node B": onB} {
		if ev := s.next(t); ev.ID != final || ev.Type != "2fa-complete" {
			t.Fatalf("%s: got %+v, want the final update", name, ev)
		}
		s.waitEnd(t, 10*time.Second)
	}
	if ev := mixedB.next(t); ev.ID != final {
		t.Fatalf("mixed: got %+v", ev)
	}
	mixedB.expectNone(t, 200*time.Millisecond) // "other" is not finished: still open

	// EventSource reconnects with the last id it saw: both nodes say 204.
	resume := http.Header{"Authorization": owner["Authorization"], "Last-Event-Id": {final}}
	for name, h := range map[string]*testHub{"node A": a, "node B": b} {
		if st := subscribeStatus(t, h.url, q, resume); st != http.StatusNoContent {
			t.Fatalf("%s: reconnect to a finished topic: %d, want 204", name, st)
		}
	}

	// A node that starts now never saw the final update live: it learns
	// it from the shared history.
	c := newTestHub(t, herald.WithTransport(redisTransport(t, srv, prefix)), herald.WithNodeID("c"))
	eventually(t, 10*time.Second, "the new node to answer 204", func() bool {
		return subscribeStatus(t, c.url, q, resume) == http.StatusNoContent
	})
}

func TestFinalUpdateReplayedEndsStream(t *testing.T) {
	// A client that resumes from before the final update gets the rest of
	// the history, the final update last, and then its stream ends — even
	// on a hub that has not marked the topic yet.
	tr := herald.NewMemoryTransport(herald.MemoryConfig{})
	t.Cleanup(func() { tr.Close() })
	a := newTestHub(t, herald.WithTransport(tr))
	login := "https://example.com/login/" + herald.NewID()
	q := "topic=" + url.QueryEscape(login)
	first := a.mustPublish(t, login, "pending")
	final := a.mustPublish(t, login, "approved", "type", "2fa-complete", "final", "on")
	// b shares the history but was not running when the final update
	// went out; its background history scan races this subscription.
	b := newTestHub(t, herald.WithTransport(tr))
	s, status := openStream(t, b.url+"?"+q, http.Header{"Last-Event-ID": {first}})
	if status == http.StatusNoContent {
		return // the hub already knew: also correct
	}
	if ev := s.next(t); ev.ID != final {
		t.Fatalf("got %+v, want the final update", ev)
	}
	s.waitEnd(t, 10*time.Second)
}

func TestFinishedTopicsExpire(t *testing.T) {
	srv := redistest.Start(t)
	const prefix = "final-ttl:"
	const ttl = 2 * time.Second
	a := newTestHub(t, herald.WithTransport(redisTransport(t, srv, prefix)), herald.WithFinishedTTL(ttl))
	login := "https://example.com/login/" + herald.NewID()
	q := "topic=" + url.QueryEscape(login)
	a.mustPublish(t, login, "approved", "final", "on")
	// Redis delivers to the publishing node too, a moment after the 200.
	eventually(t, ttl/2, "the final update to finish the topic", func() bool {
		return subscribeStatus(t, a.url, q, nil) == http.StatusNoContent
	})
	eventually(t, 10*time.Second, "the finished topic to expire", func() bool {
		return subscribeStatus(t, a.url, q, nil) == http.StatusOK
	})
	// A node started after the TTL does not resurrect the old final update
	// from history.
	b := newTestHub(t, herald.WithTransport(redisTransport(t, srv, prefix)), herald.WithFinishedTTL(ttl))
	time.Sleep(200 * time.Millisecond) // let its history scan run; 200 either way if correct
	if st := subscribeStatus(t, b.url, q, nil); st != http.StatusOK {
		t.Fatalf("new node after the TTL: %d, want 200", st)
	}
}
