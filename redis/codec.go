package redis

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/heraldpush/herald"
)

// decodeBatch decodes a channel message written by the publish script:
//
//	<first seq> SP <count> LF
//	then count times: <length> LF <binary update of that length>
//
// The updates' Seq is left for the caller (first, first+1, …). When the
// header is readable but the body is not, first and count are still
// returned with the error, so that the caller can read those updates from
// the stream instead.
func decodeBatch(msg string) (first, count uint64, updates []*herald.Update, err error) {
	head, body, ok := strings.Cut(msg, "\n")
	if !ok {
		return 0, 0, nil, errors.New("batch: no header line")
	}
	f, c, ok := strings.Cut(head, " ")
	if !ok {
		return 0, 0, nil, fmt.Errorf("batch: header %q", head)
	}
	if first, err = strconv.ParseUint(f, 10, 64); err != nil || first == 0 {
		return 0, 0, nil, fmt.Errorf("batch: first seq %q", f)
	}
	if count, err = strconv.ParseUint(c, 10, 64); err != nil || count == 0 || count > uint64(len(body))+1 {
		return 0, 0, nil, fmt.Errorf("batch: count %q", c)
	}
	updates = make([]*herald.Update, 0, count)
	for i := uint64(0); i < count; i++ {
		l, rest, ok := strings.Cut(body, "\n")
		if !ok {
			return first, count, nil, fmt.Errorf("batch: update %d of %d: no length", i+1, count)
		}
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 || n > len(rest) {
			return first, count, nil, fmt.Errorf("batch: update %d of %d: length %q", i+1, count, l)
		}
		u := new(herald.Update)
		// UnmarshalBinary copies what it keeps, so the conversion's copy is
		// the only one.
		if err := u.UnmarshalBinary([]byte(rest[:n])); err != nil {
			return first, count, nil, fmt.Errorf("batch: update %d of %d: %w", i+1, count, err)
		}
		updates = append(updates, u)
		body = rest[n:]
	}
	if body != "" {
		return first, count, nil, fmt.Errorf("batch: %d bytes after the last update", len(body))
	}
	return first, count, updates, nil
}

// parseEntryID returns the seq of a stream entry id "<seq>-0".
func parseEntryID(id string) (uint64, error) {
	s, _, _ := strings.Cut(id, "-")
	seq, err := strconv.ParseUint(s, 10, 64)
	if err != nil || seq == 0 {
		return 0, fmt.Errorf("stream entry id %q is not a Herald seq", id)
	}
	return seq, nil
}

// decodeEntry decodes a stream entry from its id and the value of its "d"
// field.
func decodeEntry(id string, data any) (*herald.Update, error) {
	seq, err := parseEntryID(id)
	if err != nil {
		return nil, err
	}
	d, ok := data.(string)
	if !ok {
		return nil, fmt.Errorf("stream entry %s has no update", id)
	}
	u := new(herald.Update)
	if err := u.UnmarshalBinary([]byte(d)); err != nil {
		return nil, fmt.Errorf("stream entry %s: %w", id, err)
	}
	u.Seq = seq
	return u, nil
}

// decodeRawEntry decodes a stream entry as a script returns it: a pair of
// the id and a flat list of field names and values.
func decodeRawEntry(v any) (*herald.Update, error) {
	pair, ok := v.([]any)
	if !ok || len(pair) != 2 {
		return nil, fmt.Errorf("stream entry: unexpected reply %T", v)
	}
	id, ok := pair[0].(string)
	if !ok {
		return nil, fmt.Errorf("stream entry: id is %T", pair[0])
	}
	fields, ok := pair[1].([]any)
	if !ok {
		return nil, fmt.Errorf("stream entry %s: fields are %T", id, pair[1])
	}
	for i := 0; i+1 < len(fields); i += 2 {
		if k, ok := fields[i].(string); ok && k == "d" {
			return decodeEntry(id, fields[i+1])
		}
	}
	return decodeEntry(id, nil)
}
