package bench

import (
	"strconv"
	"strings"
)

// The data of a benchmark update is ASCII text that survives every hub's
// encoding, including one that wraps it in JSON (centrifuge):
//
//	~B <run> <publisher> <seq> <sent-unix-nanos> xxxx…
//
// padded with 'x' to the requested payload size. A warm-up update, which
// only tells that a subscriber is live, is "~W <run>". The run id keeps
// updates of an earlier run, replayed by a hub's history, out of the
// accounting.
const (
	markUpdate = "~B "
	markWarmup = "~W "
)

// minPayload is the smallest payload that holds the header with large
// numbers.
const minPayload = 64

// appendPayload appends the data of update seq from publisher pub, sent
// at sent (Unix nanoseconds), padded to size bytes.
func appendPayload(dst []byte, run uint32, pub int, seq uint64, sent int64, size int) []byte {
	start := len(dst)
	dst = append(dst, markUpdate...)
	dst = strconv.AppendUint(dst, uint64(run), 10)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(pub), 10)
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, sent, 10)
	dst = append(dst, ' ')
	for len(dst)-start < size {
		dst = append(dst, 'x')
	}
	return dst
}

// warmupPayload is the data of a warm-up update.
func warmupPayload(run uint32) string {
	return markWarmup + strconv.FormatUint(uint64(run), 10)
}

// decoded is what a subscriber needs from an update's data.
type decoded struct {
	run  uint32
	pub  int
	seq  uint64
	sent int64
}

// payloadKind tells what an event's data is.
type payloadKind uint8

const (
	kindOther  payloadKind = iota // not a benchmark update (a ping, a connect reply…)
	kindUpdate                    // a benchmark update, decoded
	kindWarmup                    // a warm-up update of some run
	kindBad                       // looks like a benchmark update but does not parse
)

// decodePayload finds a benchmark header anywhere in data (a hub may
// wrap it) and decodes it without allocating.
func decodePayload(data string) (decoded, payloadKind) {
	var d decoded
	i := strings.Index(data, "~")
	for i >= 0 && i+len(markUpdate) <= len(data) {
		switch data[i : i+len(markUpdate)] {
		case markUpdate:
			rest := data[i+len(markUpdate):]
			var run, pub, seq, sent uint64
			var ok bool
			if run, rest, ok = number(rest); !ok || run > 1<<32-1 {
				return d, kindBad
			}
			if pub, rest, ok = number(rest); !ok || pub > 1<<20 {
				return d, kindBad
			}
			if seq, rest, ok = number(rest); !ok {
				return d, kindBad
			}
			if sent, _, ok = number(rest); !ok || sent > 1<<63-1 {
				return d, kindBad
			}
			d.run, d.pub, d.seq, d.sent = uint32(run), int(pub), seq, int64(sent)
			return d, kindUpdate
		case markWarmup:
			run, _, ok := number(data[i+len(markWarmup):])
			if !ok || run > 1<<32-1 {
				return d, kindBad
			}
			d.run = uint32(run)
			return d, kindWarmup
		}
		j := strings.Index(data[i+1:], "~")
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return d, kindOther
}

// number reads a decimal number ended by a space, a quote or the end of
// s, and returns it with what follows the separator.
func number(s string) (n uint64, rest string, ok bool) {
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			break
		}
		if i >= 19 {
			return 0, s, false // would overflow
		}
		n = n*10 + uint64(c-'0')
	}
	if i == 0 {
		return 0, s, false
	}
	if i < len(s) {
		if c := s[i]; c != ' ' && c != '"' {
			return 0, s, false
		}
		i++
	}
	return n, s[i:], true
}
