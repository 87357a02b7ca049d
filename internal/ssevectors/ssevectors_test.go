package ssevectors

import (
	"bytes"
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	vs := Load(t)
	names := map[string]bool{}
	for _, v := range vs {
		if v.Name == "" || names[v.Name] {
			t.Errorf("vector name %q is empty or repeated", v.Name)
		}
		names[v.Name] = true
		if v.Chunks != nil && !bytes.Equal(bytes.Join(v.Chunks, nil), v.Input) {
			t.Errorf("%s: its chunks do not join to its input", v.Name)
		}
		d := v.Delivery()
		if !bytes.Equal(bytes.Join(d, nil), v.Input) {
			t.Errorf("%s: Delivery does not join to the input", v.Name)
		}
		for _, c := range d {
			if len(c) == 0 && v.Chunks == nil {
				t.Errorf("%s: Delivery made an empty chunk", v.Name)
			}
		}
	}
}

func TestDecodeRefusesMalformed(t *testing.T) {
	for name, doc := range map[string]string{
		"not JSON":           `{`,
		"wrong version":      `{"version":2,"vectors":[{"name":"a","input":"","events":[]}]}`,
		"no vectors":         `{"version":1,"vectors":[]}`,
		"two inputs":         `{"version":1,"vectors":[{"name":"a","input":"x","input_hex":"78","events":[]}]}`,
		"no input":           `{"version":1,"vectors":[{"name":"a","events":[]}]}`,
		"bad hex":            `{"version":1,"vectors":[{"name":"a","input_hex":"zz","events":[]}]}`,
		"empty part":         `{"version":1,"vectors":[{"name":"a","input_parts":[{}],"events":[]}]}`,
		"event without data": `{"version":1,"vectors":[{"name":"a","input":"","events":[{"type":"message","id":""}]}]}`,
	} {
		if _, err := decode([]byte(doc)); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
	vs, err := decode([]byte(`{"version":1,"vectors":[{"name":"a","input_parts":[{"text":"da"},{"hex":"7461"},{"repeat":"x","count":3}],
		"events":[{"type":"message","data_parts":[{"repeat":"ab","count":2}],"id":"1"}],"last_event_id":"1","retry":null}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(vs[0].Input); got != "dataxxx" {
		t.Errorf("input %q, want %q", got, "dataxxx")
	}
	if got := vs[0].Events; len(got) != 1 || got[0] != (Event{Type: "message", Data: strings.Repeat("ab", 2), ID: "1"}) {
		t.Errorf("events %+v", got)
	}
}
