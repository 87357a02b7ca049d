package sse

import (
	"strings"
	"unicode/utf8"
)

// This file holds a deliberately naive reference implementation of the
// WHATWG rules, written straight from the standard's prose and sharing no
// code with the package: decode the whole stream, split it into lines,
// interpret each. Tests and fuzz targets compare the real parser with it.

// result is everything a parse observably produces.
type result struct {
	Events   []Event
	LastID   string
	Retry    uint64
	HasRetry bool
}

// refDecode is the WHATWG Encoding Standard's UTF-8 decoder, step by step
// as the standard writes it, including its "prepend byte to stream".
func refDecode(in []byte) string {
	var out strings.Builder
	var cp rune
	needed, seen := 0, 0
	lower, upper := byte(0x80), byte(0xBF)
	for i := 0; ; {
		if i == len(in) {
			if needed != 0 {
				out.WriteRune(utf8.RuneError)
			}
			return out.String()
		}
		b := in[i]
		i++
		if needed == 0 {
			switch {
			case b <= 0x7F:
				out.WriteByte(b)
			case b >= 0xC2 && b <= 0xDF:
				needed, cp = 1, rune(b&0x1F)
			case b >= 0xE0 && b <= 0xEF:
				if b == 0xE0 {
					lower = 0xA0
				}
				if b == 0xED {
					upper = 0x9F
				}
				needed, cp = 2, rune(b&0xF)
			case b >= 0xF0 && b <= 0xF4:
				if b == 0xF0 {
					lower = 0x90
				}
				if b == 0xF4 {
					upper = 0x8F
				}
				needed, cp = 3, rune(b&0x7)
			default:
				out.WriteRune(utf8.RuneError)
			}
			continue
		}
		if b < lower || b > upper {
			cp, needed, seen = 0, 0, 0
			lower, upper = 0x80, 0xBF
			i-- // prepend b to the stream
			out.WriteRune(utf8.RuneError)
			continue
		}
		lower, upper = 0x80, 0xBF
		cp = cp<<6 | rune(b&0x3F)
		seen++
		if seen != needed {
			continue
		}
		out.WriteRune(cp)
		cp, needed, seen = 0, 0, 0
	}
}

// refParse parses a whole stream, given an initial last event ID.
func refParse(in []byte, lastID string) result {
	// "UTF-8 decode": strip one leading BOM, then decode.
	s := string(in)
	s = strings.TrimPrefix(s, "\xEF\xBB\xBF")
	s = refDecode([]byte(s))

	r := result{LastID: lastID}
	var data, typ strings.Builder
	idBuf := lastID
	for {
		// A line ends at CRLF, LF or CR; a final unterminated line is
		// discarded, and so is the event it belongs to.
		end := strings.IndexAny(s, "\r\n")
		if end < 0 {
			return r
		}
		line := s[:end]
		if s[end] == '\r' && end+1 < len(s) && s[end+1] == '\n' {
			end++
		}
		s = s[end+1:]

		if line == "" {
			r.LastID = idBuf
			if data.Len() == 0 {
				typ.Reset()
				continue
			}
			d := strings.TrimSuffix(data.String(), "\n")
			t := typ.String()
			if t == "" {
				t = "message"
			}
			r.Events = append(r.Events, Event{ID: r.LastID, Type: t, Data: d})
			data.Reset()
			typ.Reset()
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		name, value, found := strings.Cut(line, ":")
		if found {
			value = strings.TrimPrefix(value, " ")
		}
		switch name {
		case "event":
			typ.Reset()
			typ.WriteString(value)
		case "data":
			data.WriteString(value)
			data.WriteByte('\n')
		case "id":
			if !strings.ContainsRune(value, 0) {
				idBuf = value
			}
		case "retry":
			if value != "" && strings.Trim(value, "0123456789") == "" {
				var n uint64
				for _, c := range value {
					d := uint64(c - '0')
					if n > (^uint64(0)-d)/10 {
						n = ^uint64(0)
					} else {
						n = n*10 + d
					}
				}
				r.Retry, r.HasRetry = n, true
			}
		}
	}
}
