// Command peer-gosse serves the Mercure-style benchmark endpoint with
// github.com/tmaxmax/go-sse: its Server with the default provider, Joe
// (one goroutine that writes every published message to every subscriber
// in turn), no replayer.
//
// Two things are added only so that the endpoint can be served: the
// response headers are flushed when a session starts (go-sse sends them
// with the first message, and a client waits for them), and a comment is
// published to every topic every -heartbeat (go-sse has no heartbeat).
package main

import (
	"context"
	"net/http"
	"time"

	sse "github.com/tmaxmax/go-sse"

	"github.com/heraldpush/herald/bench/internal/peer"
)

func main() {
	peer.Main("peer-gosse", 15*time.Second, func() (peer.Broker, error) {
		b := &broker{srv: &sse.Server{}}
		b.srv.OnSession = func(w http.ResponseWriter, r *http.Request) ([]string, bool) {
			// Send the headers now, so that the client knows it is
			// subscribed (EventSource's open event).
			w.Header().Set("Content-Type", "text/event-stream")
			w.Header().Set("Cache-Control", "no-cache")
			w.WriteHeader(http.StatusOK)
			if err := http.NewResponseController(w).Flush(); err != nil {
				return nil, false
			}
			return []string{r.URL.Query().Get("topic")}, true
		}
		return b, nil
	})
}

type broker struct{ srv *sse.Server }

func (b *broker) Subscribe(w http.ResponseWriter, r *http.Request, topic string) {
	b.srv.ServeHTTP(w, r)
}

func (b *broker) Publish(topic, data string) error {
	m := &sse.Message{}
	m.AppendData(data)
	return b.srv.Publish(m, topic)
}

func (b *broker) Heartbeat(topics []string) {
	if len(topics) == 0 {
		return
	}
	m := &sse.Message{}
	m.AppendComment("heartbeat")
	b.srv.Publish(m, topics...)
}

func (b *broker) Shutdown(ctx context.Context) error { return b.srv.Shutdown(ctx) }
