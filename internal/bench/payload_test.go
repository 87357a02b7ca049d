package bench

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestPayloadRoundTrip(t *testing.T) {
	for _, size := range []int{0, 64, 100, 1000} {
		b := appendPayload(nil, 4000000000, 3, 123456789, 1712345678901234567, size)
		if size > 0 && len(b) != max(size, len(b)) {
			t.Fatalf("size %d: got %d bytes", size, len(b))
		}
		if size >= 64 && len(b) != size {
			t.Fatalf("size %d: got %d bytes", size, len(b))
		}
		d, kind := decodePayload(string(b))
		if kind != kindUpdate || d != (decoded{4000000000, 3, 123456789, 1712345678901234567}) {
			t.Fatalf("size %d: decoded %+v, %v", size, d, kind)
		}
	}
}

// A hub may wrap the data, as centrifuge does in JSON.
func TestPayloadWrapped(t *testing.T) {
	p := string(appendPayload(nil, 7, 1, 2, 3, 64))
	js, _ := json.Marshal(p)
	wrapped := `{"push":{"channel":"t~x","pub":{"data":` + string(js) + `}}}`
	d, kind := decodePayload(wrapped)
	if kind != kindUpdate || d != (decoded{7, 1, 2, 3}) {
		t.Fatalf("decoded %+v, %v", d, kind)
	}
	// The header alone, closed by the JSON quote.
	d, kind = decodePayload(`"~B 7 1 2 3"`)
	if kind != kindUpdate || d.sent != 3 {
		t.Fatalf("unpadded: %+v, %v", d, kind)
	}
	d, kind = decodePayload(`{"data":"` + warmupPayload(42) + `"}`)
	if kind != kindWarmup || d.run != 42 {
		t.Fatalf("warm-up: %+v, %v", d, kind)
	}
}

func TestPayloadOther(t *testing.T) {
	for _, s := range []string{"", "{}", "hello", "~", "~B", "~Bx", `{"connect":{}}`} {
		if _, kind := decodePayload(s); kind != kindOther {
			t.Errorf("%q: %v, want other", s, kind)
		}
	}
	for _, s := range []string{"~B ", "~B 1 2", "~B 1 2 3", "~B x 1 2 3", "~B 99999999999 1 2 3", "~B 1 2 3 " + strings.Repeat("9", 25), "~W ", "~B 1 2 3 4x"} {
		if _, kind := decodePayload(s); kind != kindBad {
			t.Errorf("%q: %v, want bad", s, kind)
		}
	}
}

func TestAppendFormValue(t *testing.T) {
	got := string(appendFormValue(nil, []byte("~B 1 x&=%\n")))
	if want := "~B+1+x%26%3D%25%0A"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
