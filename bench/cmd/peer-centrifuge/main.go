// Command peer-centrifuge serves the Mercure-style benchmark endpoint with
// the centrifuge library's SSE transport (the one Centrifugo uses), on a
// node with its default in-memory broker and default client settings
// (queue, 16 messages per write, server pings every 25 s).
//
// What is added only so that the endpoint can be served to a plain SSE
// client:
//   - a subscribe request (GET ?topic=T) is turned into the library's
//     connect command, and the connection is subscribed to T on the server
//     side (ConnectReply.Subscriptions), anonymously;
//   - pong checks are off (PongTimeout -1): a read-only client cannot
//     answer pings; pings themselves stay on, at the default interval,
//     and are this peer's heartbeats;
//   - published data is sent as a JSON string, as the library's JSON
//     protocol requires; the stream carries the library's own framing
//     ({"push":{"channel":…,"pub":{"data":"…"}}}), which herald bench reads
//     through.
package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/centrifugal/centrifuge"

	"github.com/heraldpush/herald/bench/internal/peer"
)

type topicKey struct{}

func main() {
	peer.Main("peer-centrifuge", 0, func() (peer.Broker, error) {
		node, err := centrifuge.New(centrifuge.Config{LogLevel: centrifuge.LogLevelError})
		if err != nil {
			return nil, err
		}
		node.OnConnecting(func(ctx context.Context, e centrifuge.ConnectEvent) (centrifuge.ConnectReply, error) {
			topic, _ := ctx.Value(topicKey{}).(string)
			return centrifuge.ConnectReply{
				Credentials:   &centrifuge.Credentials{UserID: ""},
				Subscriptions: map[string]centrifuge.SubscribeOptions{topic: {}},
			}, nil
		})
		node.OnConnect(func(client *centrifuge.Client) {})
		if err := node.Run(); err != nil {
			return nil, err
		}
		h := centrifuge.NewSSEHandler(node, centrifuge.SSEConfig{
			PingPongConfig: centrifuge.PingPongConfig{PongTimeout: -1},
		})
		return &broker{node: node, sse: h}, nil
	})
}

type broker struct {
	node *centrifuge.Node
	sse  *centrifuge.SSEHandler
}

// connectCommand is the library's connect command in its JSON protocol.
const connectCommand = `{"id":1,"connect":{}}`

func (b *broker) Subscribe(w http.ResponseWriter, r *http.Request, topic string) {
	ctx := context.WithValue(r.Context(), topicKey{}, topic)
	r2 := r.Clone(ctx)
	r2.URL.RawQuery = url.Values{"cf_connect": {connectCommand}}.Encode()
	b.sse.ServeHTTP(w, r2)
}

func (b *broker) Publish(topic, data string) error {
	js, err := json.Marshal(data)
	if err != nil {
		return err
	}
	_, err = b.node.Publish(topic, js)
	return err
}

func (b *broker) Shutdown(ctx context.Context) error { return b.node.Shutdown(ctx) }
