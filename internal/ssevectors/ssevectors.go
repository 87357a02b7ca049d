// Package ssevectors loads the public SSE parser test vectors,
// sse/testdata/sse-parse.json, for the tests of every package that reads
// event streams (the sse parser, the client, herald sub), so that they all
// read the file the same way. See sse/testdata/README.md for the format.
//
// Load decodes each vector completely, its input given as text, hex or
// parts, its own chunks and its events, and fails the test on a malformed
// vector, so that callers deal in bytes and strings only. The package does
// not import the sse package, whose own tests use it.
package ssevectors

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// File is the vectors file's path from the module root.
const File = "sse/testdata/sse-parse.json"

// version is the vectors format this package reads.
const version = 1

// A Vector is one test vector, decoded.
type Vector struct {
	// Name identifies the vector; Purpose says what it checks.
	Name, Purpose string
	// Input is the byte stream the parser is fed.
	Input []byte
	// Chunks is the vector's own delivery split of Input, or nil when it
	// gives none.
	Chunks [][]byte
	// Events are the events a browser dispatches for Input, in order.
	Events []Event
	// LastEventID is the last event ID string at the end of the stream.
	LastEventID string
	// Retry is the reconnection time in milliseconds that the stream set,
	// or nil when no retry field was accepted.
	Retry *uint64
}

// An Event is one dispatched event: its type, its data, and the last
// event ID string when it was dispatched.
type Event struct {
	Type string // the event type: "message" when the stream set none
	Data string // the data, lines joined with LF
	ID   string // the last event ID string at dispatch
}

// Load reads and decodes the vectors. It fails the test when the file
// cannot be found or read, or when a vector is malformed.
func Load(tb testing.TB) []Vector {
	tb.Helper()
	path, err := findFile()
	if err != nil {
		tb.Fatalf("ssevectors: %v", err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("ssevectors: %v", err)
	}
	vs, err := decode(raw)
	if err != nil {
		tb.Fatalf("ssevectors: %s: %v", path, err)
	}
	return vs
}

// Delivery returns the vector's own chunks or, when it gives none, Input
// cut into pieces of 1 to 97 bytes (64 times that for inputs over 4 KiB),
// the same cut on every run: a delivery split for tests that send the
// stream over a connection.
func (v Vector) Delivery() [][]byte {
	if v.Chunks != nil {
		return v.Chunks
	}
	var cs [][]byte
	in := v.Input
	for size := 1; len(in) > 0; {
		size = (size*31+7)%97 + 1
		n := size
		if len(v.Input) > 4096 {
			n *= 64 // long inputs: fewer, larger writes
		}
		n = min(n, len(in))
		cs = append(cs, in[:n])
		in = in[n:]
	}
	return cs
}

// findFile looks for File in the working directory and its parents: go
// test runs a package's tests in the package's directory, somewhere below
// the module root.
func findFile() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding %s: %w", File, err)
	}
	for {
		p := filepath.Join(dir, filepath.FromSlash(File))
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%s not found in the working directory or any parent", File)
		}
		dir = parent
	}
}

// The file's JSON form.
type (
	fileJSON struct {
		Version int          `json:"version"`
		Vectors []vectorJSON `json:"vectors"`
	}
	vectorJSON struct {
		Name        string      `json:"name"`
		Purpose     string      `json:"purpose"`
		Input       *string     `json:"input"`
		InputHex    *string     `json:"input_hex"`
		InputParts  []partJSON  `json:"input_parts"`
		Chunks      []string    `json:"chunks"`
		ChunksHex   []string    `json:"chunks_hex"`
		Events      []eventJSON `json:"events"`
		LastEventID string      `json:"last_event_id"`
		Retry       *uint64     `json:"retry"`
	}
	eventJSON struct {
		Type      string     `json:"type"`
		Data      *string    `json:"data"`
		DataParts []partJSON `json:"data_parts"`
		ID        string     `json:"id"`
	}
	// partJSON is one piece of an input or of an event's data: text, hex
	// bytes, or a string repeated count times.
	partJSON struct {
		Text   *string `json:"text"`
		Hex    *string `json:"hex"`
		Repeat *string `json:"repeat"`
		Count  int     `json:"count"`
	}
)

func decode(raw []byte) ([]Vector, error) {
	var f fileJSON
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, err
	}
	if f.Version != version || len(f.Vectors) == 0 {
		return nil, fmt.Errorf("version %d with %d vectors, want version %d with some", f.Version, len(f.Vectors), version)
	}
	vs := make([]Vector, 0, len(f.Vectors))
	for i, vj := range f.Vectors {
		v, err := vj.decode()
		if err != nil {
			return nil, fmt.Errorf("vector %d (%q): %w", i, vj.Name, err)
		}
		vs = append(vs, v)
	}
	return vs, nil
}

func (vj *vectorJSON) decode() (Vector, error) {
	v := Vector{Name: vj.Name, Purpose: vj.Purpose, LastEventID: vj.LastEventID, Retry: vj.Retry}
	n := 0
	var err error
	if vj.Input != nil {
		n++
		v.Input = []byte(*vj.Input)
	}
	if vj.InputHex != nil {
		n++
		if v.Input, err = hex.DecodeString(*vj.InputHex); err != nil {
			return v, fmt.Errorf("input_hex: %w", err)
		}
	}
	if vj.InputParts != nil {
		n++
		if v.Input, err = joinParts(vj.InputParts); err != nil {
			return v, fmt.Errorf("input_parts: %w", err)
		}
	}
	if n != 1 {
		return v, fmt.Errorf("%d input fields, want 1", n)
	}
	for _, c := range vj.Chunks {
		v.Chunks = append(v.Chunks, []byte(c))
	}
	for _, h := range vj.ChunksHex {
		c, err := hex.DecodeString(h)
		if err != nil {
			return v, fmt.Errorf("chunks_hex: %w", err)
		}
		v.Chunks = append(v.Chunks, c)
	}
	for i, ej := range vj.Events {
		ev := Event{Type: ej.Type, ID: ej.ID}
		switch {
		case ej.Data != nil:
			ev.Data = *ej.Data
		case ej.DataParts != nil:
			d, err := joinParts(ej.DataParts)
			if err != nil {
				return v, fmt.Errorf("event %d: data_parts: %w", i, err)
			}
			ev.Data = string(d)
		default:
			return v, fmt.Errorf("event %d has neither data nor data_parts", i)
		}
		v.Events = append(v.Events, ev)
	}
	return v, nil
}

func joinParts(parts []partJSON) ([]byte, error) {
	var b []byte
	for i, p := range parts {
		switch {
		case p.Text != nil:
			b = append(b, *p.Text...)
		case p.Hex != nil:
			h, err := hex.DecodeString(*p.Hex)
			if err != nil {
				return nil, fmt.Errorf("part %d: %w", i, err)
			}
			b = append(b, h...)
		case p.Repeat != nil:
			if p.Count < 0 {
				return nil, fmt.Errorf("part %d: negative count %d", i, p.Count)
			}
			b = append(b, strings.Repeat(*p.Repeat, p.Count)...)
		default:
			return nil, fmt.Errorf("part %d has none of text, hex and repeat", i)
		}
	}
	return b, nil
}
