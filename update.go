package herald

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// An Update is one message published on one or more topics.
//
// The first topic is the canonical one; the others are alternates, and a
// subscriber receives the update when any of them matches one of its
// selectors. The zero value is not publishable: an update needs at least one
// topic.
type Update struct {
	// ID identifies the update in the stream (the SSE "id" field) and is the
	// cursor a client sends back in Last-Event-ID. When empty, Publish
	// generates a unique one (a URN UUID).
	ID string

	// Topics the update is published on; at least one.
	Topics []string

	// Data is the payload. It may span several lines; CR, LF and CRLF line
	// ends reach a browser as LF.
	Data string

	// Type is the SSE event type. Empty means the browser's "message".
	Type string

	// Retry, when non-empty, is sent as the SSE "retry" field: the
	// reconnection time in milliseconds, ASCII digits only.
	Retry string

	// Private updates reach only subscribers whose authorization allows one
	// of the update's topics.
	Private bool

	// Final marks the update as the last one on its topics: once it is
	// delivered, streams whose every subscribed topic is finished are
	// closed, and a reconnect to only finished topics is answered 204 so
	// that EventSource stops for good.
	Final bool

	// Seq is the update's position in its transport: strictly increasing in
	// the order updates are delivered. Transports set it; publishers leave
	// it zero.
	Seq uint64

	// Time is when the hub accepted the update. Publish sets it when zero.
	Time time.Time
}

// Errors returned by Update.Validate; each is wrapped with the detail.
var (
	ErrNoTopic      = errors.New("herald: update has no topic")
	ErrInvalidID    = errors.New("herald: invalid update id")
	ErrInvalidType  = errors.New("herald: invalid update type")
	ErrInvalidData  = errors.New("herald: invalid update data")
	ErrInvalidTopic = errors.New("herald: invalid topic")
	ErrInvalidRetry = errors.New("herald: invalid retry")
)

// EarliestID is the reserved cursor that asks for the whole history.
const EarliestID = "earliest"

// MaxTopicLength bounds a topic's length in bytes.
const MaxTopicLength = 4096

// Validate reports why u cannot be published, or nil. It applies the rules of
// Mercure draft-08, which draft-07 publishers also meet: ids may not start
// with '#', equal "earliest" or hold control characters; types may not hold
// CR or LF nor equal the reserved "mercure"; retry is digits only; every
// text field is valid UTF-8.
func (u *Update) Validate() error {
	if len(u.Topics) == 0 {
		return ErrNoTopic
	}
	for _, t := range u.Topics {
		switch {
		case t == "":
			return fmt.Errorf("%w: empty topic", ErrInvalidTopic)
		case t == "*":
			return fmt.Errorf("%w: %q is a selector, not a topic", ErrInvalidTopic, t)
		case len(t) > MaxTopicLength:
			return fmt.Errorf("%w: longer than %d bytes", ErrInvalidTopic, MaxTopicLength)
		case !utf8.ValidString(t):
			return fmt.Errorf("%w: not valid UTF-8", ErrInvalidTopic)
		case hasControl(t):
			return fmt.Errorf("%w: holds a control character", ErrInvalidTopic)
		}
	}
	if u.ID != "" {
		switch {
		case u.ID[0] == '#':
			return fmt.Errorf("%w: %q starts with '#'", ErrInvalidID, u.ID)
		case u.ID == EarliestID:
			return fmt.Errorf("%w: %q is reserved", ErrInvalidID, u.ID)
		case !utf8.ValidString(u.ID):
			return fmt.Errorf("%w: not valid UTF-8", ErrInvalidID)
		case hasControl(u.ID):
			return fmt.Errorf("%w: holds a control character (CR, LF and NUL would forge stream fields)", ErrInvalidID)
		}
	}
	if u.Type != "" {
		switch {
		case u.Type == "mercure":
			return fmt.Errorf("%w: %q is reserved for subscription events", ErrInvalidType, u.Type)
		case !utf8.ValidString(u.Type):
			return fmt.Errorf("%w: not valid UTF-8", ErrInvalidType)
		case hasControl(u.Type):
			return fmt.Errorf("%w: holds a control character (CR and LF would forge stream fields)", ErrInvalidType)
		}
	}
	if u.Retry != "" {
		for i := 0; i < len(u.Retry); i++ {
			if c := u.Retry[i]; c < '0' || c > '9' {
				return fmt.Errorf("%w: %q is not a non-negative integer of milliseconds", ErrInvalidRetry, u.Retry)
			}
		}
	}
	if !utf8.ValidString(u.Data) {
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidData)
	}
	return nil
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return true
		}
	}
	return false
}

// NewID returns a fresh random update id, a URN UUID (version 4).
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand does not fail on supported platforms (Go 1.24+ panics
		// internally instead), so this is unreachable in practice.
		panic("herald: crypto/rand: " + err.Error())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hex = "0123456789abcdef"
	out := make([]byte, 0, 45)
	out = append(out, "urn:uuid:"...)
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hex[c>>4], hex[c&0xf])
	}
	return string(out)
}

// Binary encoding of an update, shared by every transport that stores or
// carries updates as bytes. Layout (version 1):
//
//	byte    version (1)
//	byte    flags (1 private, 2 final)
//	uvarint seq
//	varint  unix nanoseconds
//	string  id, type, retry, data (uvarint length + bytes)
//	uvarint topic count, then each topic as a string
const codecVersion = 1

const (
	flagPrivate = 1 << iota
	flagFinal
)

// MarshalBinary encodes u for transports that store or carry bytes.
func (u *Update) MarshalBinary() ([]byte, error) {
	return u.AppendBinary(nil)
}

// AppendBinary appends the binary encoding of u to b.
func (u *Update) AppendBinary(b []byte) ([]byte, error) {
	var flags byte
	if u.Private {
		flags |= flagPrivate
	}
	if u.Final {
		flags |= flagFinal
	}
	b = append(b, codecVersion, flags)
	b = binary.AppendUvarint(b, u.Seq)
	var ns int64
	if !u.Time.IsZero() {
		ns = u.Time.UnixNano()
	}
	b = binary.AppendVarint(b, ns)
	for _, s := range [...]string{u.ID, u.Type, u.Retry, u.Data} {
		b = appendString(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(u.Topics)))
	for _, t := range u.Topics {
		b = appendString(b, t)
	}
	return b, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// UnmarshalBinary decodes an update encoded by MarshalBinary.
func (u *Update) UnmarshalBinary(b []byte) error {
	d := decoder{b: b}
	if v := d.byte(); v != codecVersion {
		if d.err != nil {
			return d.err
		}
		return fmt.Errorf("herald: decode update: unknown encoding version %d", v)
	}
	flags := d.byte()
	seq := d.uvarint()
	ns := d.varint()
	id, typ, retry, data := d.string(), d.string(), d.string(), d.string()
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)) {
		d.err = errTruncated
	}
	var topics []string
	if d.err == nil {
		topics = make([]string, 0, n)
		for i := uint64(0); i < n && d.err == nil; i++ {
			topics = append(topics, d.string())
		}
	}
	if d.err != nil {
		return d.err
	}
	*u = Update{ID: id, Topics: topics, Data: data, Type: typ, Retry: retry,
		Private: flags&flagPrivate != 0, Final: flags&flagFinal != 0, Seq: seq}
	if ns != 0 {
		u.Time = time.Unix(0, ns)
	}
	return nil
}

var errTruncated = errors.New("herald: decode update: truncated")

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = errTruncated
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errTruncated
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errTruncated
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.err = errTruncated
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// clone returns a copy of u that shares no slices with it.
func (u *Update) clone() *Update {
	c := *u
	c.Topics = append([]string(nil), u.Topics...)
	return &c
}
