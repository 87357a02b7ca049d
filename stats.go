package herald

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"net/http"
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

// A StreamObserver is an Observer that also follows each stream from the
// moment the hub accepts it, with the request it came from: for accounting
// per client address (connection limits) or per subscription. The hub calls
// StreamOpened on the request's goroutine before the stream's replay; the
// function it returns, when not nil, is called exactly once when that
// stream ends, from any goroutine, and must not block.
type StreamObserver interface {
	Observer
	StreamOpened(r *http.Request, selectors int) (closed func())
}

// A HistorySizer is a transport that can tell how many updates its history
// holds, for metrics. It is optional; a transport for which the count is
// expensive need not implement it.
type HistorySizer interface {
	HistorySize(ctx context.Context) (updates int64, err error)
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
