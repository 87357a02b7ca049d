package metrics_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/metrics"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// values gathers reg into name{label="value",...} -> value.
func values(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			sort.Strings(labels)
			name := mf.GetName()
			if len(labels) > 0 {
				name += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.Counter != nil:
				out[name] = m.Counter.GetValue()
			case m.Gauge != nil:
				out[name] = m.Gauge.GetValue()
			case m.Histogram != nil:
				out[name+"_count"] = float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type failingTransport struct {
	*herald.MemoryTransport
	fail bool
}

func (f *failingTransport) Publish(ctx context.Context, u *herald.Update) error {
	if f.fail {
		return fmt.Errorf("backend down: %w", herald.ErrUnavailable)
	}
	return f.MemoryTransport.Publish(ctx, u)
}

func TestHubMetrics(t *testing.T) {
	m := metrics.New()
	mem := herald.NewMemoryTransport(herald.MemoryConfig{})
	defer mem.Close()
	ft := &failingTransport{MemoryTransport: mem}
	hub := herald.New(herald.WithTransport(m.InstrumentTransport(ft)), herald.WithObserver(m), herald.WithAnonymous(true))
	m.Watch(hub)
	reg := prometheus.NewRegistry()
	reg.MustRegister(m)
	srv := httptest.NewServer(hub)
	defer srv.Close()
	defer hub.Close(context.Background())

	ctx := context.Background()
	// History to replay: two updates before the subscriber comes.
	for i := range 2 {
		if err := hub.Publish(ctx, &herald.Update{ID: fmt.Sprint("u", i), Topics: []string{"https://example.com/a"}, Data: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	req, _ := http.NewRequestWithContext(cctx, "GET", srv.URL+"?topic=https://example.com/a&topic=https://example.com/b", nil)
	req.Header.Set("Last-Event-ID", "u0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewReader(resp.Body)
	got := make(chan string, 16)
	go func() {
		for {
			l, err := lines.ReadString('\n')
			if err != nil {
				close(got)
				return
			}
			if strings.HasPrefix(l, "id: ") {
				got <- strings.TrimSpace(l[4:])
			}
		}
	}()
	if id := <-got; id != "u1" {
		t.Fatalf("replayed %q, want u1", id)
	}
	waitFor(t, "the stream to go live", func() bool { return values(t, reg)["herald_connects_total"] == 1 })
	if err := hub.Publish(ctx, &herald.Update{ID: "live", Topics: []string{"https://example.com/b"}, Data: "hello"}); err != nil {
		t.Fatal(err)
	}
	if id := <-got; id != "live" {
		t.Fatalf("got %q, want live", id)
	}
	ft.fail = true
	if err := hub.Publish(ctx, &herald.Update{Topics: []string{"https://example.com/b"}, Data: "lost"}); !errors.Is(err, herald.ErrUnavailable) {
		t.Fatalf("publish on a failing transport: %v", err)
	}

	v := values(t, reg)
	for name, want := range map[string]float64{
		"herald_subscribers":                                                   1,
		"herald_subscriptions":                                                 2,
		"herald_connects_total":                                                1,
		"herald_replays_total":                                                 1,
		"herald_replayed_updates_total":                                        1,
		"herald_updates_delivered_total":                                       1,
		`herald_updates_published_total{result="ok"}`:                          3,
		`herald_updates_published_total{result="unavailable"}`:                 1,
		"herald_publish_duration_seconds_count":                                4,
		`herald_transport_operations_total{op="publish",result="ok"}`:          3,
		`herald_transport_operations_total{op="publish",result="unavailable"}`: 1,
		"herald_transport_received_total":                                      3,
		"herald_transport_up":                                                  0,
		"herald_history_updates":                                               3,
		`herald_disconnects_total{reason="client_gone"}`:                       0,
		`herald_node_info{node="` + hub.NodeID() + `"}`:                        1,
	} {
		if v[name] != want {
			t.Errorf("%s = %v, want %v", name, v[name], want)
		}
	}
	if v[`herald_transport_operations_total{op="history",result="ok"}`] < 1 {
		t.Errorf("no history operation counted")
	}
	if v["herald_bytes_written_total"] <= 0 {
		t.Errorf("herald_bytes_written_total = %v", v["herald_bytes_written_total"])
	}

	cancel()
	waitFor(t, "the disconnect", func() bool {
		v := values(t, reg)
		return v[`herald_disconnects_total{reason="client_gone"}`] == 1 && v["herald_subscriptions"] == 0 && v["herald_subscribers"] == 0
	})
	m.Rejected("publish_rate")
	if got := values(t, reg)[`herald_rejected_total{limit="publish_rate"}`]; got != 1 {
		t.Errorf("rejected = %v", got)
	}
	snap := m.Snapshot()
	if snap.Published != 3 || snap.PublishFailed != 1 || snap.Node != hub.NodeID() {
		t.Errorf("snapshot = %+v", snap)
	}
}

func TestInstrumentedTransportIsPinger(t *testing.T) {
	m := metrics.New()
	mem := herald.NewMemoryTransport(herald.MemoryConfig{})
	defer mem.Close()
	tr := m.InstrumentTransport(mem)
	if _, ok := tr.(herald.Pinger); !ok {
		t.Error("not a Pinger")
	}
	if _, ok := tr.(herald.HistorySizer); !ok {
		t.Error("not a HistorySizer though the memory transport is one")
	}
	if u, ok := tr.(interface{ Unwrap() herald.Transport }); !ok || u.Unwrap() != mem {
		t.Error("Unwrap does not return the transport")
	}
	plain := m.InstrumentTransport(struct{ herald.Transport }{mem})
	if _, ok := plain.(herald.HistorySizer); ok {
		t.Error("claims HistorySizer for a transport that is not one")
	}
}
