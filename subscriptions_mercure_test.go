package herald

import (
	"io"
	"log/slog"
	"testing"
	"time"
)

// TestSubscriptionEventsNeverBlock: a full event queue drops and counts
// instead of blocking the caller, which may be a shard goroutine.
func TestSubscriptionEventsNeverBlock(t *testing.T) {
	h := &Hub{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	r := &subscriptionRegistry{hub: h, queue: make(chan *Update, 2), conns: make(map[*subConn]struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 10; i++ {
			r.enqueue(&Update{Topics: []string{"t"}})
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("enqueue blocked on a full queue")
	}
	if got := r.dropped.Load(); got != 8 {
		t.Errorf("dropped %d, want 8", got)
	}
}

func TestExpandVar(t *testing.T) {
	for in, want := range map[string]string{
		"https://example.com/{selector}": "https%3A%2F%2Fexample.com%2F%7Bselector%7D",
		"urn:uuid:bb3de268":              "urn%3Auuid%3Abb3de268",
		"a%2Fb":                          "a%252Fb", // encoded exactly once: '%' itself is encoded
		"plain-._~":                      "plain-._~",
		"é":                              "%C3%A9",
	} {
		if got := expandVar(in); got != want {
			t.Errorf("expandVar(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestInHubNamespace(t *testing.T) {
	const hub = "https://hub.example/.well-known/mercure"
	const path = "/.well-known/mercure"
	for topic, want := range map[string]bool{
		"/.well-known/mercure":                             true,
		"/.well-known/mercure/":                            true,
		"/.well-known/mercure/subscriptions/a/b":           true,
		"https://x.example/.well-known/mercure/s":          true,
		"ws://x.example/.well-known/mercure":               true,
		"/.well-known/%6Dercure/x":                         true,
		"/.well-known/%6dercure/x":                         true,
		"/.WELL-KNOWN/mercure/x":                           false, // paths are case-sensitive
		"/x/../.well-known/mercure/y":                      true,
		"/x/%2e%2e/.well-known/mercure/y":                  true,
		"mercure/x":                                        true, // relative to the hub URL
		"/.well-known/mercurex":                            false,
		"/.well-known/mercure%2Fx":                         false, // %2F is reserved: not decoded
		"https://example.com/books/1":                      false,
		"urn:uuid:1":                                       false,
		"just-a-string":                                    false,
		"https://[::1":                                     false, // does not parse: not in it
		"https://hub.example/.well-known/mercure?q=1#frag": true,
		"https://hub.example/a?/.well-known/mercure/x":     false,
		"?query":    true, // resolves to the hub URL itself
		"#fragment": true,
		"https://hub.example/.well-known/mercure": true,
		"https://hub.example/.well-known/MERCURE": false,
		"/.well-known/mercur%65/x":                true,
	} {
		if got := inHubNamespace(topic, hub, path); got != want {
			t.Errorf("inHubNamespace(%q) = %v, want %v", topic, got, want)
		}
	}
	// A hub on another path reserves that path.
	if !inHubNamespace("/hub/x", "https://h.example/hub", "/hub") || inHubNamespace("/.well-known/mercure/x", "https://h.example/hub", "/hub") {
		t.Error("custom hub path")
	}
}

func TestQuoteSafe(t *testing.T) {
	if got := quoteSafe("a \"b\" \\ c\r\n"); got != "a 'b' ' c" {
		t.Errorf("%q", got)
	}
}
