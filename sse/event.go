package sse

import (
	"errors"
	"fmt"
	"strings"
)

// Event is one server-sent event.
//
// The same type is written by [AppendEvent] and returned by [Parser] and
// [Decoder], and a few fields mean slightly different things in the two
// directions, as noted below.
type Event struct {
	// ID is written as an "id" field when non-empty.
	//
	// In a parsed event it is the last event ID string at the moment the
	// event was dispatched (what a browser exposes as
	// MessageEvent.lastEventId): it carries over from earlier events until
	// an "id" field changes it, and is "" when none has been set or an
	// empty "id" field reset it.
	ID string

	// Type is written as an "event" field when non-empty.
	//
	// In a parsed event it is "message" when no "event" field, or one with
	// an empty value, was given.
	Type string

	// Data is the payload. AppendEvent splits it at every CRLF, LF and
	// lone CR and writes one "data" field per line, so a parsed event
	// gives it back with every line break turned into LF. Empty data
	// still writes one "data" field, so that the event is dispatched.
	Data string

	// Retry is the reconnection time in milliseconds as a string of ASCII
	// digits, written as a "retry" field when non-empty. It is a string so
	// that AppendEvent can refuse what a client would ignore ("+1", "-1",
	// "10x", " 5") instead of silently changing it.
	//
	// Parsed events leave Retry empty: the reconnection time is state of
	// the stream, not of one event; see [Parser.Retry].
	Retry string
}

// Errors returned by the validators and by AppendEvent. They are always
// wrapped with the offending value and position, so test for them with
// [errors.Is].
var (
	// ErrInvalidID reports an event ID holding CR, LF or NUL.
	ErrInvalidID = errors.New("sse: invalid event id")
	// ErrInvalidType reports an event type holding CR or LF.
	ErrInvalidType = errors.New("sse: invalid event type")
	// ErrInvalidRetry reports a retry value that is empty or holds
	// anything but ASCII digits.
	ErrInvalidRetry = errors.New("sse: invalid retry value")
)

// maxQuoted bounds how much of an offending value an error message quotes.
const maxQuoted = 64

// fieldError wraps sentinel with the offending value, the byte that made
// it invalid and where it is.
func fieldError(sentinel error, value string, at int) error {
	q := value
	if len(q) > maxQuoted {
		q = q[:maxQuoted] + "..."
	}
	return fmt.Errorf("%w %q: %s at byte %d", sentinel, q, byteName(value[at]), at)
}

func byteName(c byte) string {
	switch c {
	case '\r':
		return "carriage return"
	case '\n':
		return "line feed"
	case 0:
		return "NUL"
	}
	return fmt.Sprintf("non-digit %q", c)
}

// ValidateID reports whether id can be written as an "id" field: it must
// not contain CR or LF (which would let the value forge further fields and
// events for every subscriber) nor NUL (which makes clients ignore the
// field). The empty ID is valid; AppendEvent writes no "id" field for it.
// The error wraps [ErrInvalidID].
func ValidateID(id string) error {
	for i := 0; i < len(id); i++ {
		if c := id[i]; c == '\n' || c == '\r' || c == 0 {
			return fieldError(ErrInvalidID, id, i)
		}
	}
	return nil
}

// ValidateType reports whether t can be written as an "event" field: it
// must not contain CR or LF. The empty type is valid; AppendEvent writes no
// "event" field for it and clients see "message". The error wraps
// [ErrInvalidType].
func ValidateType(t string) error {
	for i := 0; i < len(t); i++ {
		if c := t[i]; c == '\n' || c == '\r' {
			return fieldError(ErrInvalidType, t, i)
		}
	}
	return nil
}

// ValidateRetry reports whether r is a valid "retry" value: one or more
// ASCII digits and nothing else (leading zeros are allowed; the value is
// read in base 10). Clients ignore any other value, including the empty
// one. The error wraps [ErrInvalidRetry].
func ValidateRetry(r string) error {
	if r == "" {
		return fmt.Errorf("%w: empty", ErrInvalidRetry)
	}
	for i := 0; i < len(r); i++ {
		if c := r[i]; c < '0' || c > '9' {
			return fieldError(ErrInvalidRetry, r, i)
		}
	}
	return nil
}

// AppendEvent appends ev to dst in event-stream format and returns the
// extended slice. It writes the fields in the order id, event, retry,
// data, each as "name: value" with exactly one space (so a value that
// starts with a space survives the client's removal of one), and ends the
// event with a blank line. Line endings are LF.
//
// Data is split at every CRLF, LF and lone CR into one "data" line each;
// empty data (and each empty line in it) is written as "data: ", so every
// event is dispatched. Data is otherwise written unchanged: NUL is allowed,
// and since clients decode the stream as UTF-8, invalid UTF-8 reaches them
// as U+FFFD.
//
// AppendEvent checks ID, Type and Retry with [ValidateID], [ValidateType]
// and [ValidateRetry] (Retry only when non-empty) before writing anything;
// on error it returns dst unchanged. It does not allocate when dst has
// enough capacity.
func AppendEvent(dst []byte, ev Event) ([]byte, error) {
	if err := ValidateID(ev.ID); err != nil {
		return dst, err
	}
	if err := ValidateType(ev.Type); err != nil {
		return dst, err
	}
	if ev.Retry != "" {
		if err := ValidateRetry(ev.Retry); err != nil {
			return dst, err
		}
	}
	if ev.ID != "" {
		dst = append(dst, "id: "...)
		dst = append(dst, ev.ID...)
		dst = append(dst, '\n')
	}
	if ev.Type != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, ev.Type...)
		dst = append(dst, '\n')
	}
	if ev.Retry != "" {
		dst = append(dst, "retry: "...)
		dst = append(dst, ev.Retry...)
		dst = append(dst, '\n')
	}
	dst = appendLines(dst, "data: ", ev.Data)
	return append(dst, '\n'), nil
}

// AppendComment appends text as comment lines, which clients ignore, and
// returns the extended slice. Text is split at CRLF, LF and lone CR; each
// line is written as ": line", or as a bare ":" when empty. So
// AppendComment(dst, "") appends ":\n", the customary heartbeat that keeps
// proxies and clients from timing out an idle stream.
//
// No blank line follows: a comment dispatches nothing, and may be written
// between events. (It must not be written into the middle of an event,
// which AppendEvent never leaves open.) AppendComment does not allocate
// when dst has enough capacity.
func AppendComment(dst []byte, text string) []byte {
	if text == "" {
		return append(dst, ":\n"...)
	}
	return appendLines(dst, ": ", text)
}

// appendLines appends prefix+line+"\n" for each line of s, split at CRLF,
// LF and lone CR. An empty s, and each empty line, gives prefix+"\n"
// (or ":\n" for a comment line).
func appendLines(dst []byte, prefix, s string) []byte {
	for {
		// Each search is vectorised; data rarely holds a CR at all.
		cr := strings.IndexByte(s, '\r')
		if cr < 0 {
			return appendLFLines(dst, prefix, s)
		}
		dst = appendLFLines(dst, prefix, s[:cr])
		s = s[cr+1:]
		if s != "" && s[0] == '\n' {
			s = s[1:]
		}
	}
}

// appendLFLines is appendLines for an s without CR.
func appendLFLines(dst []byte, prefix, s string) []byte {
	for {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			return appendLine(dst, prefix, s)
		}
		dst = appendLine(dst, prefix, s[:i])
		s = s[i+1:]
	}
}

func appendLine(dst []byte, prefix, line string) []byte {
	if line == "" && prefix == ": " {
		return append(dst, ":\n"...)
	}
	dst = append(dst, prefix...)
	dst = append(dst, line...)
	return append(dst, '\n')
}
