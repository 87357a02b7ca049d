package sse

import "unicode/utf8"

// appendDecoded appends src to dst decoded as the WHATWG Encoding
// Standard's UTF-8 decoder does, then re-encoded as UTF-8: valid sequences
// are copied unchanged and each maximal invalid subsequence becomes one
// U+FFFD. (Go's utf8.DecodeRune gives one U+FFFD per byte of a truncated
// sequence, strings.ToValidUTF8 one per run of bad bytes; neither
// matches.) src is a complete segment: an incomplete sequence at its end
// also becomes one U+FFFD.
//
// The parser decodes each field name and value separately rather than the
// stream as a whole. That is equivalent because the decoder never takes an
// ASCII byte into a multi-byte sequence: an ASCII byte where a
// continuation byte was expected ends the bad subsequence with U+FFFD and
// is then decoded on its own. So CR, LF and ':' split the byte stream
// exactly where they split the decoded one, and a sequence cut short by
// one of them gives the same U+FFFD at a segment end.
func appendDecoded(dst, src []byte) []byte {
	if utf8.Valid(src) {
		return append(dst, src...)
	}
	for i := 0; i < len(src); {
		c := src[i]
		if c < utf8.RuneSelf {
			dst = append(dst, c)
			i++
			continue
		}
		// Bytes needed after the lead byte, and the range the first of
		// them must fall in (narrowed to exclude overlong forms,
		// surrogates and code points above U+10FFFF).
		var need int
		lo, hi := byte(0x80), byte(0xBF)
		switch {
		case c >= 0xC2 && c <= 0xDF:
			need = 1
		case c >= 0xE0 && c <= 0xEF:
			need = 2
			if c == 0xE0 {
				lo = 0xA0
			} else if c == 0xED {
				hi = 0x9F
			}
		case c >= 0xF0 && c <= 0xF4:
			need = 3
			if c == 0xF0 {
				lo = 0x90
			} else if c == 0xF4 {
				hi = 0x8F
			}
		default:
			// 80..C1 and F5..FF never start a sequence.
			dst = append(dst, "\uFFFD"...)
			i++
			continue
		}
		j := i + 1
		for ; j <= i+need; j++ {
			if j >= len(src) || src[j] < lo || src[j] > hi {
				break
			}
			lo, hi = 0x80, 0xBF
		}
		if j > i+need {
			dst = append(dst, src[i:j]...)
		} else {
			// The lead byte and the continuation bytes accepted so far
			// form one maximal subpart; the byte that broke it (if
			// any) is decoded afresh.
			dst = append(dst, "\uFFFD"...)
		}
		i = j
	}
	return dst
}
