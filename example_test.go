package herald_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/sse"
)

// A hub is an http.Handler: mount it, publish to it, close it.
func Example() {
	hub := herald.New(herald.WithAnonymous(true))
	srv := httptest.NewServer(hub)
	defer srv.Close()
	defer hub.Close(context.Background())

	resp, err := http.Get(srv.URL + "?topic=https://example.com/books/1")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()

	err = hub.Publish(context.Background(), &herald.Update{
		ID:     "1",
		Topics: []string{"https://example.com/books/1"},
		Type:   "price",
		Data:   `{"price": 12.5}`,
	})
	if err != nil {
		panic(err)
	}

	ev, err := sse.NewDecoder(resp.Body).Next()
	if err != nil {
		panic(err)
	}
	fmt.Println(ev.ID, ev.Type, ev.Data)
	// Output: 1 price {"price": 12.5}
}

// Publish returns once the transport has stored the update; the hub fills
// in the id when the publisher leaves it empty.
func ExampleHub_Publish() {
	hub := herald.New()
	defer hub.Close(context.Background())

	u := &herald.Update{Topics: []string{"https://example.com/orders/42"}, Data: "shipped", Private: true}
	if err := hub.Publish(context.Background(), u); err != nil {
		panic(err)
	}
	fmt.Println(u.Seq, len(u.ID) > len("urn:uuid:"))
	// Output: 1 true
}

// A client that reconnects with Last-Event-ID receives what it missed.
func ExampleHub_resume() {
	hub := herald.New(herald.WithAnonymous(true))
	srv := httptest.NewServer(hub)
	defer srv.Close()
	defer hub.Close(context.Background())

	for i, data := range []string{"a", "b", "c"} {
		hub.Publish(context.Background(), &herald.Update{ID: fmt.Sprint(i + 1), Topics: []string{"t"}, Data: data})
	}
	req, _ := http.NewRequest("GET", srv.URL+"?topic=t", nil)
	req.Header.Set("Last-Event-ID", "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	dec := sse.NewDecoder(resp.Body)
	for range 2 {
		ev, _ := dec.Next()
		fmt.Println(ev.ID, ev.Data)
	}
	// Output:
	// 2 b
	// 3 c
}

// The last update of a login flow ends the stream; EventSource's reconnect
// is answered 204 and stops for good.
func ExampleUpdate_final() {
	hub := herald.New(herald.WithAnonymous(true))
	srv := httptest.NewServer(hub)
	defer srv.Close()
	defer hub.Close(context.Background())

	resp, _ := http.Get(srv.URL + "?topic=https://example.com/login/abc")
	hub.Publish(context.Background(), &herald.Update{
		Topics: []string{"https://example.com/login/abc"},
		Type:   "2fa-complete",
		Final:  true,
	})
	io.Copy(io.Discard, resp.Body) // returns when the hub ends the stream
	resp.Body.Close()

	again, _ := http.Get(srv.URL + "?topic=https://example.com/login/abc")
	again.Body.Close()
	fmt.Println(again.StatusCode)
	// Output: 204
}
