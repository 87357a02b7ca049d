//go:build linux

package uring

import (
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// pair returns a connected loopback TCP pair: the server side as a
// non-blocking descriptor of its own, the client side as a net.Conn.
func pair(t *testing.T, ln net.Listener) (int, net.Conn) {
	t.Helper()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	raw, err := s.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	fd := -1
	raw.Control(func(d uintptr) { fd, err = syscall.Dup(int(d)) })
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd); c.Close() })
	return fd, c
}

func newRing(t *testing.T, entries int) *Ring {
	t.Helper()
	r, err := New(entries)
	if err != nil {
		t.Skipf("io_uring unavailable here (%v): Herald keeps to write(2)", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestSendBatches(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	r := newRing(t, 8)
	const streams = 50 // more than the ring: Send splits the batch
	var batch []Send
	var clients []net.Conn
	for i := 0; i < streams; i++ {
		fd, c := pair(t, ln)
		clients = append(clients, c)
		batch = append(batch, Send{FD: fd, Buf: []byte{'a' + byte(i%26), '\n'}})
	}
	for round := 0; round < 3; round++ {
		if err := r.Send(batch); err != nil {
			t.Fatal(err)
		}
		for i, s := range batch {
			if s.Err != nil || s.N != 2 {
				t.Fatalf("round %d, send %d: n=%d err=%v", round, i, s.N, s.Err)
			}
		}
	}
	for i, c := range clients {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		got := make([]byte, 6)
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		want := string([]byte{'a' + byte(i%26), '\n', 'a' + byte(i%26), '\n', 'a' + byte(i%26), '\n'})
		if string(got) != want {
			t.Fatalf("stream %d read %q, want %q", i, got, want)
		}
	}
}

func TestSendResults(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	r := newRing(t, 4)
	full, _ := pair(t, ln) // nobody reads: fill it until it would block
	gone, c := pair(t, ln)
	c.Close() // the peer hung up
	big := make([]byte, 1<<20)
	sawShortOrAgain := false
	for i := 0; i < 64 && !sawShortOrAgain; i++ {
		b := []Send{{FD: full, Buf: big}}
		if err := r.Send(b); err != nil {
			t.Fatal(err)
		}
		if errors.Is(b[0].Err, syscall.EAGAIN) || (b[0].Err == nil && b[0].N < len(big)) {
			sawShortOrAgain = true
		} else if b[0].Err != nil {
			t.Fatalf("send to a full socket: %v", b[0].Err)
		}
	}
	if !sawShortOrAgain {
		t.Fatal("64 MiB into a socket nobody reads never came back short or EAGAIN: the send blocked or was queued")
	}
	// A peer that is gone: the first send may still be taken (the RST comes
	// back later); a later one fails, and never with a signal.
	var lastErr error
	for i := 0; i < 20 && lastErr == nil; i++ {
		b := []Send{{FD: gone, Buf: []byte("x")}}
		if err := r.Send(b); err != nil {
			t.Fatal(err)
		}
		lastErr = b[0].Err
		time.Sleep(10 * time.Millisecond)
	}
	if !errors.Is(lastErr, syscall.EPIPE) && !errors.Is(lastErr, syscall.ECONNRESET) {
		t.Fatalf("send to a closed peer: %v, want EPIPE or ECONNRESET", lastErr)
	}
	b := []Send{{FD: 1 << 20, Buf: []byte("x")}} // no such descriptor
	if err := r.Send(b); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(b[0].Err, syscall.EBADF) {
		t.Fatalf("send to a bad descriptor: %v, want EBADF", b[0].Err)
	}
}
