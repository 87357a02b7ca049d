package hubtest

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestServeClosesHubFirst: a stream that only the hub's Close ends must
// not hold up the end of the test, and closeFirst runs once.
func TestServeClosesHubFirst(t *testing.T) {
	stop := make(chan struct{})
	calls := 0
	streamEnded := make(chan struct{})
	t.Run("serve", func(t *testing.T) {
		srv := Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			w.Write([]byte(": open\n\n"))
			w.(http.Flusher).Flush()
			<-stop // ends only when the "hub" closes
		}), func(context.Context) error {
			calls++
			close(stop)
			return nil
		})
		resp, err := srv.Client().Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		go func() {
			defer close(streamEnded)
			defer resp.Body.Close()
			for {
				if _, err := resp.Body.Read(make([]byte, 64)); err != nil {
					return
				}
			}
		}()
	})
	if calls != 1 {
		t.Errorf("closeFirst ran %d times, want 1", calls)
	}
	select {
	case <-streamEnded:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream is still open after the test ended")
	}
}

// TestServeReportsCloseError: a hub that fails to close fails the test.
func TestServeReportsCloseError(t *testing.T) {
	r := &recorder{TB: t}
	func() {
		defer r.cleanup()
		Serve(r, http.NotFoundHandler(), func(context.Context) error { return errors.New("stuck") })
	}()
	if !r.failed {
		t.Error("a close error did not fail the test")
	}
}

// recorder is a testing.TB that runs cleanups when told and records
// errors.
type recorder struct {
	testing.TB
	cleanups []func()
	failed   bool
}

func (r *recorder) Cleanup(f func())               { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Errorf(format string, a ...any) { r.failed = true }
func (r *recorder) cleanup() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}
