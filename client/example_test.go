package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/auth"
	"github.com/heraldpush/herald/client"
	"github.com/heraldpush/herald/sse"
)

// Tail a topic of a Herald (or any Mercure) hub with a subscriber token,
// ranging over the events. The client reconnects by itself, with
// Last-Event-ID, until the loop ends.
func Example() {
	// A hub that requires tokens, as `herald serve` does.
	key := []byte("example-key-not-a-secret")
	verifier, _ := auth.New(auth.Config{SubscriberKeys: []auth.Key{auth.HMACKey(key)}})
	hub := herald.New(herald.WithAuthorizer(verifier))
	srv := httptest.NewServer(hub)
	defer srv.Close()
	defer hub.Close(context.Background())
	token, _ := auth.SignHMAC(key, auth.TokenSpec{Subscribe: []string{"https://example.com/books/{id}"}})

	c, err := client.New(srv.URL+"?topic="+url.QueryEscape("https://example.com/books/{id}"), &client.Options{
		Header:      http.Header{"Authorization": {"Bearer " + token}},
		ReadTimeout: 45 * time.Second, // three of Herald's 15 s heartbeats
	})
	if err != nil {
		panic(err)
	}
	c.OnOpen(func(*http.Response) {
		// Subscribed: publish two updates (from another service, usually).
		ctx := context.Background()
		hub.Publish(ctx, &herald.Update{ID: "1", Topics: []string{"https://example.com/books/1"}, Data: `{"title":"Dune"}`})
		hub.Publish(ctx, &herald.Update{ID: "2", Topics: []string{"https://example.com/books/2"}, Type: "deleted", Data: "{}"})
	})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n := 0
	for ev, err := range c.Events(ctx) {
		if err != nil {
			fmt.Println("stopped:", err)
			return
		}
		fmt.Printf("%s id=%s %s\n", ev.Type, ev.ID, ev.Data)
		if n++; n == 2 {
			break // closes the client
		}
	}
	fmt.Println("resume from:", c.LastEventID())
	// Output:
	// message id=1 {"title":"Dune"}
	// deleted id=2 {}
	// resume from: 2
}

// Read an LLM-style stream: a POST with a JSON body, answered by a stream
// of tokens that ends with a "done" event. MaxRetries < 0 makes the end of
// the stream the end of Run, instead of sending the prompt again.
func Example_post() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Prompt string }
		json.NewDecoder(r.Body).Decode(&req)
		w.Header().Set("Content-Type", "text/event-stream")
		for _, tok := range strings.Fields("Hello, " + req.Prompt + "!") {
			fmt.Fprintf(w, "data: %s\n\n", tok)
			w.(http.Flusher).Flush()
		}
		fmt.Fprint(w, "event: done\ndata: [DONE]\n\n")
	}))
	defer srv.Close()

	c, err := client.New(srv.URL+"/v1/chat", &client.Options{
		Body:       []byte(`{"prompt":"world"}`), // POST; re-sent on a reconnection
		Header:     http.Header{"Content-Type": {"application/json"}},
		MaxRetries: -1,
	})
	if err != nil {
		panic(err)
	}
	var answer []string
	c.OnMessage(func(ev sse.Event) { answer = append(answer, ev.Data) })
	c.OnEvent("done", func(sse.Event) { c.Close() })
	if err := c.Run(context.Background()); err != nil {
		panic(err)
	}
	fmt.Println(strings.Join(answer, " "))
	// Output:
	// Hello, world!
}

// A server answers 204 No Content to say "stop": the client does not
// reconnect and Run returns an error matching ErrNoContent.
func Example_noContent() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	c, _ := client.New(srv.URL, nil)
	err := c.Run(context.Background())
	fmt.Println(err)
	fmt.Println(errors.Is(err, client.ErrNoContent), c.State())
	// Output:
	// server answered 204: not reconnecting
	// true closed
}

// Callbacks by event type, and the reconnection notices.
func ExampleClient_OnEvent() {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) > 1 {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "retry: 200\n\nid: 1\nevent: tick\ndata: 12:00\n\nid: 2\nevent: tick\ndata: 12:01\n\n")
	}))
	defer srv.Close()
	c, _ := client.New(srv.URL, nil)
	c.OnEvent("tick", func(ev sse.Event) { fmt.Println("tick", ev.Data, "id", ev.ID) })
	c.OnError(func(err error) {
		var re *client.RetryError
		if errors.As(err, &re) {
			fmt.Printf("lost: reconnecting in %v or a little more, Last-Event-ID %s\n", c.ReconnectionTime(), c.LastEventID())
		}
	})
	fmt.Println(c.Run(context.Background()))
	// Output:
	// tick 12:00 id 1
	// tick 12:01 id 2
	// lost: reconnecting in 200ms or a little more, Last-Event-ID 2
	// server answered 204: not reconnecting
}
