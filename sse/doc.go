// Package sse reads and writes the text/event-stream format of
// Server-Sent Events exactly as the WHATWG HTML Standard defines it
// ("Parsing an event stream" and "Interpreting an event stream").
//
// # Writing
//
// [AppendEvent] appends one [Event] in wire format to a byte slice without
// allocating, and refuses field values that would let a publisher forge
// fields or events (a line break in an id or event type, a NUL in an id,
// a retry value that is not all digits). [AppendComment] writes comment
// lines, which clients ignore; a bare ":\n" is the usual heartbeat.
//
// # Reading
//
// [Parser] is a push parser: feed it the bytes of a stream in chunks of
// any size, split anywhere, and it calls back with each dispatched event.
// [Decoder] wraps a Parser around an [io.Reader] and returns one event per
// call to [Decoder.Next].
//
// Both follow the standard to the byte: the stream is decoded as UTF-8
// whatever its declared charset, with one U+FFFD per maximal invalid
// subsequence as the WHATWG Encoding Standard's UTF-8 decoder does; one
// byte order mark is stripped at the very start of the stream; CRLF, LF
// and a lone CR all end a line, including a CR at the end of one chunk
// followed by an LF at the start of the next; the last event ID is
// committed at every blank line; and an event that is not ended by a
// blank line before the end of the stream is discarded. Splitting the
// input differently never changes the result.
//
// The parser buffers at most about [DefaultMaxEventSize] bytes for one
// event unless configured otherwise with [WithMaxEventSize]; a larger
// event stops it with an error that wraps [ErrEventTooLarge].
//
// Nothing in this package uses global mutable state; a Parser or Decoder
// must not be used by several goroutines at once, and the functions are
// safe for concurrent use.
package sse
