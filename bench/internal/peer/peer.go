// Package peer is the scaffolding shared by the peer servers: the same
// Mercure-style endpoint in front of each library, so that "herald bench"
// drives every one the same way.
//
//	GET  /.well-known/mercure?topic=T   subscribe to T (Server-Sent Events)
//	POST /.well-known/mercure           publish: form fields topic and data
//
// There is no authorization: peers are measured anonymously, and Herald
// is run with --anonymous --insecure-publish-without-token for the same
// comparison (or with tokens; verifying a JWT per publish is noise at
// these rates).
package peer

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"sync"
	"syscall"
	"time"
)

// Path is where every peer serves its endpoint.
const Path = "/.well-known/mercure"

// A Broker is one library behind the endpoint.
type Broker interface {
	// Subscribe serves an event stream of topic until the client goes
	// away.
	Subscribe(w http.ResponseWriter, r *http.Request, topic string)
	// Publish sends data to the subscribers of topic.
	Publish(topic, data string) error
	// Shutdown stops the broker.
	Shutdown(ctx context.Context) error
}

// A Heartbeater is a broker without heartbeats of its own: the scaffold
// calls Heartbeat with every topic that has had a subscriber, every
// -heartbeat.
type Heartbeater interface {
	Heartbeat(topics []string)
}

// Main runs a peer server: it parses -addr and -heartbeat, builds the
// broker and serves until SIGINT or SIGTERM.
func Main(name string, heartbeatDefault time.Duration, build func() (Broker, error)) {
	log.SetFlags(0)
	log.SetPrefix(name + ": ")
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	heartbeat := flag.Duration("heartbeat", heartbeatDefault, "keep-alive comment interval, for libraries that have none of their own (0 disables)")
	flag.Parse()
	b, err := build()
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Serve(ctx, *addr, *heartbeat, b, func(a string) {
		fmt.Printf("%s listening on http://%s%s (pid %d)\n", name, a, Path, os.Getpid())
	}); err != nil {
		log.Fatal(err)
	}
}

// Serve serves b on addr until ctx is done.
func Serve(ctx context.Context, addr string, heartbeat time.Duration, b Broker, ready func(addr string)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	h := NewHandler(b)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	if ready != nil {
		ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var wg sync.WaitGroup
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if hb, ok := b.(Heartbeater); ok && heartbeat > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(heartbeat)
			defer t.Stop()
			for {
				select {
				case <-hctx.Done():
					return
				case <-t.C:
					hb.Heartbeat(h.Topics())
				}
			}
		}()
	}
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	cancel()
	wg.Wait()
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	berr := b.Shutdown(sctx)
	srv.Close() // streams do not end by themselves: close rather than wait
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return berr
}

// Handler is the endpoint in front of a broker.
type Handler struct {
	b      Broker
	mu     sync.Mutex
	topics map[string]bool
}

// NewHandler returns the endpoint for b.
func NewHandler(b Broker) *Handler { return &Handler{b: b, topics: map[string]bool{}} }

// Topics returns every topic that has had a subscriber.
func (h *Handler) Topics() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.topics))
	for t := range h.topics {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// ServeHTTP serves Path: GET ?topic=T subscribes to T through the broker,
// POST with form fields topic (repeatable) and data publishes; anything
// else is refused.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != Path {
		http.NotFound(w, r)
		return
	}
	switch r.Method {
	case http.MethodGet:
		topic := r.URL.Query().Get("topic")
		if topic == "" {
			http.Error(w, "missing topic", http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.topics[topic] = true
		h.mu.Unlock()
		h.b.Subscribe(w, r, topic)
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "invalid form: "+err.Error(), http.StatusBadRequest)
			return
		}
		topics := r.PostForm["topic"]
		if len(topics) == 0 {
			http.Error(w, "missing topic", http.StatusBadRequest)
			return
		}
		data := r.PostForm.Get("data")
		for _, t := range topics {
			if err := h.b.Publish(t, data); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(w, "ok")
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "use GET to subscribe or POST to publish", http.StatusMethodNotAllowed)
	}
}
