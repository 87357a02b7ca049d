package herald

import (
	"crypto/rand"
	"encoding/binary"
	"time"
)

// An Observer sees a hub's rare events, for metrics and logs. Its methods
// are called from many goroutines and must be fast and safe for concurrent
// use. Per-delivery counts are in Stats instead, so that the fan-out path
// pays for no callback.
type Observer interface {
	// Published is called after each publish attempt through Hub.Publish.
	Published(u *Update, took time.Duration, err error)
	// Connected is called when a stream opens; replayed is the number of
	// updates sent from history.
	Connected(replayed int)
	// Disconnected is called when a stream ends.
	Disconnected(reason DisconnectReason)
}

type nopObserver struct{}

func (nopObserver) Published(*Update, time.Duration, error) {}
func (nopObserver) Connected(int)                           {}
func (nopObserver) Disconnected(DisconnectReason)           {}

// Stats is a snapshot of a hub's counters.
type Stats struct {
	Subscribers uint64 // streams open now
	Delivered   uint64 // updates handed to streams since the hub started
	Bytes       uint64 // bytes of those updates
	Queued      uint64 // updates waiting in subscriber queues now
}

type hubStats struct{}

// Stats returns the hub's counters.
func (h *Hub) Stats() Stats {
	var st Stats
	for _, s := range h.shards {
		st.Subscribers += uint64(max(s.subscribers.Load(), 0))
		st.Delivered += s.delivered.Load()
		st.Bytes += s.bytes.Load()
		st.Queued += uint64(max(s.queued.Load(), 0))
	}
	return st
}

func randUint64() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:])
}
