// Command peer-r3labs serves the Mercure-style benchmark endpoint with
// github.com/r3labs/sse/v2: its Server with the library's defaults
// (AutoReplay on, an unbounded event log; a 1024-event buffer per stream
// and per subscriber).
//
// What is added only so that the endpoint can be served: AutoStream (a
// topic's stream is created by its first subscriber), the topic query
// parameter mapped to the library's "stream" parameter, and a comment
// published to every topic every -heartbeat (the library has no
// heartbeat).
package main

import (
	"context"
	"net/http"
	"time"

	"github.com/r3labs/sse/v2"

	"github.com/heraldpush/herald/bench/internal/peer"
)

func main() {
	peer.Main("peer-r3labs", 15*time.Second, func() (peer.Broker, error) {
		srv := sse.New()
		srv.AutoStream = true
		return &broker{srv: srv}, nil
	})
}

type broker struct{ srv *sse.Server }

func (b *broker) Subscribe(w http.ResponseWriter, r *http.Request, topic string) {
	q := r.URL.Query()
	q.Set("stream", topic)
	r2 := r.Clone(r.Context())
	r2.URL.RawQuery = q.Encode()
	b.srv.ServeHTTP(w, r2)
}

func (b *broker) Publish(topic, data string) error {
	// Publish drops an update for a stream nobody created yet, as the
	// library does.
	b.srv.Publish(topic, &sse.Event{Data: []byte(data)})
	return nil
}

func (b *broker) Heartbeat(topics []string) {
	for _, t := range topics {
		b.srv.Publish(t, &sse.Event{Comment: []byte("heartbeat")})
	}
}

func (b *broker) Shutdown(ctx context.Context) error {
	b.srv.Close()
	return nil
}
