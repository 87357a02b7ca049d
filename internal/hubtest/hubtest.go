// Package hubtest serves a Herald hub, or an application built on one,
// over a real loopback HTTP server for a test, and shuts both down in the
// right order when the test ends.
//
// The order matters: an open event stream keeps its request running, so
// the server's Close would wait for every subscriber. The hub is closed
// first, which ends its streams; then the server's connections are cut and
// the server is closed.
package hubtest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// closeTimeout bounds the shutdown at the end of a test.
const closeTimeout = 10 * time.Second

// Serve serves h on a new httptest server until the test ends, then calls
// closeFirst (the hub's or the application's Close) with a 10 s deadline
// and closes the server. An error from closeFirst fails the test.
func Serve(t testing.TB, h http.Handler, closeFirst func(context.Context) error) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		if err := closeFirst(ctx); err != nil {
			t.Errorf("hubtest: closing the hub: %v", err)
		}
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv
}
