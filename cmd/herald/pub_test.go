package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/auth"
	"github.com/heraldpush/herald/client"
	"github.com/heraldpush/herald/sse"
)

// subscribe opens a stream on the hub with the client package and returns
// its events as they come.
func subscribe(t *testing.T, hub, token string, topics ...string) <-chan sse.Event {
	t.Helper()
	u := hub + "?"
	for _, tp := range topics {
		u += "topic=" + tp + "&"
	}
	c, err := client.New(u, &client.Options{Header: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		t.Fatal(err)
	}
	open := make(chan struct{})
	c.OnOpen(func(*http.Response) { close(open) })
	events := make(chan sse.Event, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev, err := range c.Events(context.Background()) {
			if err != nil {
				return
			}
			events <- ev
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	select {
	case <-open:
	case <-time.After(10 * time.Second):
		t.Fatal("the subscription did not open")
	}
	return events
}

func next(t *testing.T, events <-chan sse.Event) sse.Event {
	t.Helper()
	select {
	case ev := <-events:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
		return sse.Event{}
	}
}

func TestPub(t *testing.T) {
	noLeaks(t)
	hub := newCLIHub(t)
	pubTok := cliToken(t, auth.TokenSpec{Publish: []string{"*"}})
	subTok := cliToken(t, auth.TokenSpec{Subscribe: []string{"https://example.com/private/1"}})
	events := subscribe(t, hub, subTok, "https://example.com/public", "https://example.com/private/1")

	var r cliRun
	r.vars = map[string]string{"HERALD_TOKEN": pubTok, "HERALD_HUB": hub}
	if code := r.herald(t, "pub", "--topic", "https://example.com/public", "--topic", "https://example.com/other", "--data", "hello", "--id", "id-1", "--type", "greeting", "--retry", "5s"); code != 0 {
		t.Fatalf("exit %d: %s", code, r.stderr.String())
	}
	if r.stdout.String() != "id-1\n" {
		t.Errorf("stdout %q, want the id", r.stdout.String())
	}
	if ev := next(t, events); ev != (sse.Event{ID: "id-1", Type: "greeting", Data: "hello"}) {
		t.Errorf("event %+v", ev)
	}

	// Private, data from stdin (one trailing newline dropped), id assigned by the hub.
	r = cliRun{vars: map[string]string{"HERALD_TOKEN": pubTok}, stdin: strings.NewReader("line 1\nline 2\n")}
	if code := r.herald(t, "pub", "--hub", hub, "--topic", "https://example.com/private/1", "--private"); code != 0 {
		t.Fatalf("exit %d: %s", code, r.stderr.String())
	}
	id := strings.TrimSpace(r.stdout.String())
	if !strings.HasPrefix(id, "urn:uuid:") {
		t.Errorf("assigned id %q", id)
	}
	if ev := next(t, events); ev != (sse.Event{ID: id, Type: "message", Data: "line 1\nline 2"}) {
		t.Errorf("event %+v", ev)
	}

	// --data-file, and HERALD_TOPIC.
	file := filepath.Join(t.TempDir(), "payload.json")
	os.WriteFile(file, []byte(`{"n":1}`+"\r\n"), 0o600)
	r = cliRun{vars: map[string]string{"HERALD_TOKEN": pubTok, "HERALD_TOPIC": "https://example.com/public"}}
	if code := r.herald(t, "pub", "--hub", hub, "--data-file", file, "--id", "f"); code != 0 {
		t.Fatalf("exit %d: %s", code, r.stderr.String())
	}
	if ev := next(t, events); ev.Data != `{"n":1}` || ev.ID != "f" {
		t.Errorf("event %+v", ev)
	}

	// An explicitly empty --data is an empty update, not standard input.
	r = cliRun{stdin: strings.NewReader("not read")}
	if code := r.herald(t, "pub", "--hub", hub, "--topic", "https://example.com/public", "--data", "", "--token", pubTok, "--id", "e"); code != 0 {
		t.Fatalf("exit %d: %s", code, r.stderr.String())
	}
	if ev := next(t, events); ev.Data != "" || ev.ID != "e" {
		t.Errorf("event %+v", ev)
	}
}

func TestPubRefused(t *testing.T) {
	noLeaks(t)
	hub := newCLIHub(t)
	narrow := cliToken(t, auth.TokenSpec{Publish: []string{"https://example.com/mine"}})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--topic", "t", "--data", "x"}, "herald pub: hub answered 401 Unauthorized: a token is required to publish\n"},
		{[]string{"--topic", "t", "--data", "x", "--token", "not-a-token"}, "herald pub: hub answered 401 Unauthorized: "},
		{[]string{"--topic", "https://example.com/theirs", "--data", "x", "--token", narrow}, "herald pub: hub answered 403 Forbidden: the token does not allow publishing to every topic of this update\n"},
		{[]string{"--topic", "https://example.com/mine", "--data", "x", "--token", narrow, "--id", "a\nb"}, "herald pub: hub answered 400 Bad Request: invalid"},
		{[]string{"--topic", "https://example.com/mine", "--data", "x", "--token", narrow, "--type", "a\nb"}, "herald pub: hub answered 400 Bad Request: invalid"},
	} {
		var r cliRun
		if code := r.herald(t, append([]string{"pub", "--hub", hub}, tc.args...)...); code != 1 {
			t.Errorf("%q: exit %d, want 1", tc.args, code)
		}
		if !strings.HasPrefix(r.stderr.String(), tc.want) || strings.Count(r.stderr.String(), "\n") != 1 {
			t.Errorf("%q: stderr %q, want %q", tc.args, r.stderr.String(), tc.want)
		}
		if r.stdout.String() != "" {
			t.Errorf("%q: stdout %q", tc.args, r.stdout.String())
		}
	}
}

func TestPubUnavailable(t *testing.T) {
	noLeaks(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "the update could not be stored: retry shortly", http.StatusServiceUnavailable)
	}))
	var r cliRun
	if code := r.herald(t, "pub", "--hub", srv.URL, "--topic", "t", "--data", "x"); code != 3 {
		t.Errorf("503: exit %d", code)
	}
	if want := "herald pub: hub answered 503 Service Unavailable: the update could not be stored: retry shortly\n"; r.stderr.String() != want {
		t.Errorf("stderr %q, want %q", r.stderr.String(), want)
	}
	url := srv.URL
	srv.Close()
	r = cliRun{}
	if code := r.herald(t, "pub", "--hub", url, "--topic", "t", "--data", "x"); code != 3 || !strings.Contains(r.stderr.String(), "connection refused") {
		t.Errorf("down: exit %d %q", code, r.stderr.String())
	}
	// A hub that does not answer in time.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // then net/http notices the client leaving
		<-r.Context().Done()
	}))
	defer slow.Close()
	r = cliRun{}
	if code := r.herald(t, "pub", "--hub", slow.URL, "--topic", "t", "--data", "x", "--timeout", "200ms"); code != 3 || !strings.Contains(r.stderr.String(), "deadline exceeded") {
		t.Errorf("slow: exit %d %q", code, r.stderr.String())
	}
}

func TestPubUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--topic", "t", "--data", "x"},
		{"--hub", "http://a/", "--data", "x"},
		{"--hub", "http://a/", "--topic", "t", "--data", "x", "--data-file", "f"},
		{"--hub", "http://a/", "--topic", "t", "--data", "x", "--retry", "-5"},
		{"--hub", "http://a/", "--topic", "t", "--data", "x", "--retry", "soon"},
		{"--hub", "ftp://a/", "--topic", "t", "--data", "x"},
		{"--hub", "http://a/", "--topic", "t", "stray"},
		{"--hub", "http://a/", "--topic", "t", "--data-file", "/does/not/exist"},
		{"--hub", "http://a/", "--topic", "t", "--data", "x", "--timeout", "0s"},
	} {
		var r cliRun
		if code := r.herald(t, append([]string{"pub"}, args...)...); code != 2 {
			t.Errorf("pub %q: exit %d, want 2 (%s)", args, code, r.stderr.String())
		}
		if !strings.HasPrefix(r.stderr.String(), "herald pub: ") {
			t.Errorf("pub %q: stderr %q", args, r.stderr.String())
		}
	}
	for in, want := range map[string]string{"5000": "5000", "0": "0", "5s": "5000", "1m": "60000", "250ms": "250"} {
		if got, err := parseRetryFlag(in); err != nil || got != want {
			t.Errorf("parseRetryFlag(%q) = %q, %v", in, got, err)
		}
	}
}
