//go:build linux

package bench

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestArrivalReader(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	defer s.Close()
	ar := newArrivalReader(c)
	if ar == nil {
		t.Skip("no SO_TIMESTAMPNS on this kernel")
	}
	// The kernel turns receive timestamps on a little after the first
	// socket asks for them (a deferred static key): retry until it has.
	buf := make([]byte, 16)
	deadline := time.Now().Add(10 * time.Second)
	for {
		before := time.Now().UnixNano()
		if _, err := s.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		// Read late: the arrival time must still be the write's.
		time.Sleep(50 * time.Millisecond)
		n, err := ar.Read(buf)
		after := time.Now().UnixNano()
		if err != nil || string(buf[:n]) != "hello" {
			t.Fatalf("read %q, %v", buf[:n], err)
		}
		at := ar.arrival()
		if at == 0 && time.Now().Before(deadline) {
			continue
		}
		if at < before || at > after-int64(40*time.Millisecond) {
			t.Fatalf("arrival %d not between the write (%d) and 40 ms before the read (%d)", at, before, after)
		}
		break
	}
	s.Close()
	if n, err := ar.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("after close: %d, %v; want EOF", n, err)
	}
}

func TestParseTimestampNS(t *testing.T) {
	msg := func(level, typ int32, data ...uint64) []byte {
		b := make([]byte, 16+8*len(data))
		binary.NativeEndian.PutUint64(b[0:], uint64(len(b)))
		binary.NativeEndian.PutUint32(b[8:], uint32(level))
		binary.NativeEndian.PutUint32(b[12:], uint32(typ))
		for i, d := range data {
			binary.NativeEndian.PutUint64(b[16+8*i:], d)
		}
		return b
	}
	ts := msg(unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS, 1700000000, 123)
	if got := parseTimestampNS(ts); got != 1700000000*1e9+123 {
		t.Fatalf("got %d", got)
	}
	other := msg(unix.IPPROTO_IP, 1, 7)
	if got := parseTimestampNS(append(other, ts...)); got != 1700000000*1e9+123 {
		t.Fatalf("after another message: got %d", got)
	}
	for _, bad := range [][]byte{nil, make([]byte, 8), other, ts[:20]} {
		if got := parseTimestampNS(bad); got != 0 {
			t.Errorf("%x: got %d", bad, got)
		}
	}
}
