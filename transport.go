package herald

import (
	"context"
	"errors"
)

// A Transport carries published updates to the hub of every node and keeps
// their history, so that a client can resume on any node.
//
// Implementations live beside the hub: MemoryTransport in this package (the
// default, one process), and the bolt, redis and nats packages. Each passes
// the shared conformance suite in package transporttest.
type Transport interface {
	// Publish stores u and sends it to every listener, this node's and other
	// nodes'. It sets u.Seq to the update's position. It returns nil only
	// once u is stored as durably as the transport promises; after an error
	// the update must be treated as not accepted. Publish must not keep a
	// reference to u's slices that the caller could later change: the hub
	// hands over a private copy.
	Publish(ctx context.Context, u *Update) error

	// Listen registers deliver to receive every update published through
	// the transport from now on, by any node, in increasing Seq order, one
	// call at a time. An update is stored (visible to History) before it is
	// delivered. deliver must not block for long and must not modify the
	// update. The returned stop function unregisters deliver and waits until
	// no call is running.
	Listen(deliver func(*Update)) (stop func(), err error)

	// History returns stored updates, oldest first, following the cursor
	// of q. See HistoryQuery.
	History(ctx context.Context, q HistoryQuery) (HistoryPage, error)

	// Close releases the transport. Publish and History fail afterwards
	// with ErrClosed.
	Close() error
}

// A HistoryQuery selects a page of history.
type HistoryQuery struct {
	// AfterID is the resume cursor: the id of the last update the client
	// saw. The page starts right after that update. EarliestID, an id that
	// is not stored, or one already evicted starts at the oldest update
	// kept. Ignored when AfterSeq is non-zero.
	AfterID string

	// AfterSeq continues a replay: the page starts after this position.
	AfterSeq uint64

	// Limit is the most updates to return; 0 means the transport's default
	// page size.
	Limit int
}

// A HistoryPage is one page of history.
type HistoryPage struct {
	// Updates in increasing Seq order.
	Updates []*Update

	// Found reports whether the query's AfterID was found in history
	// (always true for EarliestID and for AfterSeq queries). When it is
	// false the page starts at the oldest update kept, and the hub tells
	// the client so with a Last-Event-ID: earliest response header.
	Found bool
}

// A Pinger is a transport that can tell whether its backend is reachable.
// The hub's readiness check uses it.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Errors transports return.
var (
	// ErrClosed means the transport or hub was closed.
	ErrClosed = errors.New("herald: closed")

	// ErrUnavailable means the backend cannot be reached; the update was
	// not accepted and the publisher may retry.
	ErrUnavailable = errors.New("herald: transport unavailable")

	// ErrTooLarge means the backend refuses an update of this size (for
	// instance NATS's max_payload); a retry cannot help, so the hub
	// answers 413.
	ErrTooLarge = errors.New("herald: update too large for the transport")
)

// DefaultHistoryPage is the page size a transport uses when a HistoryQuery
// has no limit.
const DefaultHistoryPage = 512
