package herald

import (
	"context"
	"time"
)

// maxFinishedScan bounds how many stored updates a starting hub reads
// looking for final updates. Transports bound their history anyway; this
// keeps a huge NATS or bbolt history from making startup expensive.
const maxFinishedScan = 1 << 20

// startFinishedScan marks the topics of the final updates still in the
// transport's history as finished, in the background. A node that starts
// (or restarts) after a final update was published never saw it live, so
// without the scan it would open a stream for a reconnect to a finished
// topic instead of answering 204. Until the scan is done such a reconnect
// may still get a stream; it is then closed as soon as the scan (or a
// replay that includes the final update) marks the topic.
//
// A hub that created its own MemoryTransport starts with an empty history
// and skips the scan.
func (h *Hub) startFinishedScan() {
	if h.ownsTr {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.loops.Add(1)
	go func() {
		defer h.loops.Done()
		defer cancel()
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			select {
			case <-h.closing:
				cancel()
			case <-stop:
			}
		}()
		n, err := h.scanFinished(ctx)
		if err != nil && ctx.Err() == nil {
			h.log.Warn("could not read history for final updates: reconnects to topics finished before this node started may get a stream instead of 204", "err", err)
			return
		}
		if n > 0 {
			h.log.Info("finished topics loaded from history", "final_updates", n)
		}
	}()
}

// scanFinished reads the history, oldest first, and records every final
// update younger than the finished TTL. It returns how many it found.
func (h *Hub) scanFinished(ctx context.Context) (found int, err error) {
	q := HistoryQuery{AfterID: EarliestID, Limit: DefaultHistoryPage}
	for scanned := 0; scanned < maxFinishedScan; {
		page, err := h.transport.History(ctx, q)
		if err != nil {
			return found, err
		}
		for _, u := range page.Updates {
			if h.noteFinal(u) {
				found++
			}
			q = HistoryQuery{AfterSeq: u.Seq, Limit: DefaultHistoryPage}
		}
		scanned += len(page.Updates)
		if len(page.Updates) < DefaultHistoryPage {
			return found, nil
		}
	}
	return found, nil
}

// noteFinal records u's topics as finished when u is a final update read
// from history that is still within the finished TTL, dated from its
// publication (so that a replay does not extend the TTL). It reports
// whether it recorded anything.
func (h *Hub) noteFinal(u *Update) bool {
	if !u.Final {
		return false
	}
	at := u.Time
	if at.IsZero() {
		at = time.Now()
	}
	if time.Since(at) > h.cfg.finishedTTL {
		return false
	}
	h.finished.add(u.Topics, at)
	return true
}
