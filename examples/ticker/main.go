// Command ticker is the article's first example on Herald: a stream that
// sends one event a second, each with "id: n" and "event: tick", and a page
// that shows them with the browser's EventSource. Stop the server and start
// it again, or cut the network, and the page resumes where it was: the
// browser sends Last-Event-ID and the hub replays what it missed.
//
//	go run ./examples/ticker          # then open http://localhost:8080/
//	curl -N 'http://localhost:8080/.well-known/mercure?topic=ticks'
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/heraldpush/herald"
)

// Topic is the topic the ticks are published on.
const Topic = "ticks"

//go:embed index.html
var indexHTML []byte

func main() {
	addr := flag.String("addr", "localhost:8080", "address to listen on")
	every := flag.Duration("every", time.Second, "time between ticks")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("ticker: open http://%s/ (stream: curl -N 'http://%s/.well-known/mercure?topic=%s')\n", ln.Addr(), ln.Addr(), Topic)
	if err := Serve(ctx, ln, *every); err != nil {
		log.Fatal(err)
	}
}

// Serve runs the ticker on ln until ctx is done: the hub, the goroutine
// that publishes a tick every interval, and the page.
func Serve(ctx context.Context, ln net.Listener, every time.Duration) error {
	// Ticks are public, so subscribers need no token. No authorizer means
	// nobody can publish over HTTP: only this program publishes, in Go.
	hub := herald.New(herald.WithAnonymous(true))

	mux := http.NewServeMux()
	mux.Handle("/.well-known/mercure", hub)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(indexHTML)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	tickDone := make(chan struct{})
	go func() {
		defer close(tickDone)
		Tick(ctx, hub, every)
	}()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
	}
	<-tickDone
	// End the streams first (they are long-lived: Shutdown would wait for
	// them), then the server.
	closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if cerr := hub.Close(closeCtx); cerr != nil && err == nil {
		err = cerr
	}
	if serr := srv.Shutdown(closeCtx); serr != nil && err == nil {
		err = serr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Tick publishes "tick" events numbered 1, 2, 3… on Topic, one every
// interval, until ctx is done. The number is the event's id, so a client
// that reconnects with Last-Event-ID: 41 gets 42 onwards.
func Tick(ctx context.Context, hub *herald.Hub, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			err := hub.Publish(ctx, &herald.Update{
				ID:     strconv.Itoa(n),
				Type:   "tick",
				Topics: []string{Topic},
				Data:   now.UTC().Format(time.RFC3339Nano),
			})
			if err != nil && ctx.Err() == nil {
				log.Printf("ticker: publish %d: %v", n, err)
			}
		}
	}
}
