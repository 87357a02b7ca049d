// Package client reads Server-Sent Events streams the way a browser's
// EventSource does, plus what a program on a server needs: custom headers
// and bearer tokens, any method with a request body, a read timeout,
// bounded exponential backoff with jitter, context cancellation and a
// range-over-func iterator.
//
// # Following EventSource
//
// Every request carries Accept: text/event-stream and Cache-Control:
// no-cache. A response opens the stream only with status 200 and media type
// text/event-stream (parameters such as charset are allowed). Any other
// status, 204 included, or any other media type stops the client for good
// with a [*ResponseError]; 204 is how a server says "do not reconnect" and
// matches [ErrNoContent] under errors.Is. Redirects are followed by the
// [net/http.Client], which keeps custom headers on redirects to the same
// host and drops Authorization and Cookie on redirects to another one.
//
// The stream is parsed by [sse.Parser], byte for byte as the WHATWG HTML
// Standard says: events carry their type ("message" by default), data and
// the last event ID at dispatch; an event not ended by a blank line before
// the connection drops is discarded.
//
// # Reconnecting
//
// After a network error, a read timeout or the end of the stream, the
// client reconnects and sends Last-Event-ID when the last event ID is not
// empty (an "id" field with an empty value clears it, and then the header
// is left out). It never gives up unless [Options.MaxRetries] says so.
//
// The wait before a reconnection is
//
//	d = min(MaxDelay, base × 2^n)      wait = d + random[0, d/2)
//
// where base is the stream's reconnection time (the last "retry" field,
// clamped to [100 ms, MaxDelay]; before any, [Options.InitialDelay], 3 s
// by default), n counts the reconnections since the last healthy
// connection (0 for the first), MaxDelay is 30 s by default, and a
// connection is healthy once it has stayed open for
// [Options.HealthyAfter], 60 s by default. So a client never waits less
// than the server asked for (the standard lets a client "wait some more",
// never less), a server restart does not bring every client back in the
// same instant, a server that accepts and drops connections at once is
// retried more and more slowly up to the cap, and the delay goes back to
// base, never to zero, only after a connection that lived.
//
// # Using it
//
// Register callbacks with [Client.OnEvent], [Client.OnMessage],
// [Client.OnOpen] and [Client.OnError] and call [Client.Run], or range over
// [Client.Events]. A Client runs once; [Client.Close] stops it from any
// goroutine, including from a callback. [Client.LastEventID],
// [Client.ReconnectionTime] and [Client.State] may be read at any time.
//
// The package keeps no global state, starts no goroutine that outlives Run
// and records no metrics.
package client
