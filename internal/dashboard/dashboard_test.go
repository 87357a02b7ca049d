package dashboard

import (
	"fmt"
	"testing"
	"time"

	"github.com/heraldpush/herald"
)

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"off": Off, "read-only": ReadOnly, "": ReadOnly, "FULL": Full} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseMode("admin"); err == nil {
		t.Error("ParseMode accepted admin")
	}
}

func TestTopics(t *testing.T) {
	d := New(Config{Mode: Full})
	for i := range 3 {
		d.Published(&herald.Update{Topics: []string{"https://example.com/a"}}, 0, nil)
		if i < 2 {
			d.Published(&herald.Update{Topics: []string{"https://example.com/b"}}, 0, nil)
		}
	}
	d.Published(&herald.Update{Topics: []string{"https://example.com/secret"}, Private: true}, 0, nil)
	d.Published(&herald.Update{Topics: []string{"https://example.com/failed"}}, 0, fmt.Errorf("down"))
	ev := d.Snapshot()
	if ev.Topics.Active != 3 {
		t.Errorf("active = %d, want 3 (a failed publish is not activity)", ev.Topics.Active)
	}
	if len(ev.Topics.Top) != 2 || ev.Topics.Top[0] != (TopicCount{"https://example.com/a", 3}) || ev.Topics.Top[1].Topic != "https://example.com/b" {
		t.Errorf("top = %+v, want a (3) then b, and no private topic", ev.Topics.Top)
	}
	ro := New(Config{Mode: ReadOnly})
	ro.Published(&herald.Update{Topics: []string{"https://example.com/a"}}, 0, nil)
	if ev := ro.Snapshot(); ev.Topics.Active != 1 || len(ev.Topics.Top) != 0 {
		t.Errorf("read-only: %+v", ev.Topics)
	}
}

func TestTopicsBounded(t *testing.T) {
	d := New(Config{Mode: Full})
	for i := range maxTopics + 100 {
		d.Published(&herald.Update{Topics: []string{fmt.Sprint("t", i)}}, 0, nil)
	}
	if n := len(d.topics); n > maxTopics {
		t.Fatalf("%d topics tracked, bound %d", n, maxTopics)
	}
	// Old ones are forgotten once quiet.
	d.mu.Lock()
	for _, ts := range d.topics {
		ts.last = time.Now().Add(-2 * activeWindow)
	}
	d.swept = time.Time{}
	d.mu.Unlock()
	d.Published(&herald.Update{Topics: []string{"new"}}, 0, nil)
	if ev := d.Snapshot(); ev.Topics.Active != 1 {
		t.Errorf("active = %d after the others went quiet", ev.Topics.Active)
	}
}

func TestRecentDisconnects(t *testing.T) {
	d := New(Config{Mode: ReadOnly})
	for i := range recentSize + 5 {
		r := herald.ReasonClientGone
		if i == recentSize+4 {
			r = herald.ReasonSlow
		}
		d.Disconnected(r)
	}
	ev := d.Snapshot()
	if len(ev.Recent) != recentSize || ev.Recent[0].Reason != "slow" {
		t.Errorf("recent: %d entries, newest %+v", len(ev.Recent), ev.Recent[0])
	}
}
