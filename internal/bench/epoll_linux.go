//go:build linux

package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

const epollSupported = true

// reader is one thread of the epoll engine: it owns an epoll instance in
// which the streams it holds are registered edge-triggered, and reads
// every stream that becomes readable into one buffer it shares among
// them, feeding the bytes to that stream's parser and accounting. It runs
// locked to its OS thread, so a wake-up from epoll_wait is a return from
// a system call rather than a goroutine switch through Go's poller.
type reader struct {
	g      *group
	epfd   int
	buf    []byte // the shared read buffer
	oob    []byte // control messages (the receive timestamp)
	iov    unix.Iovec
	msg    unix.Msghdr
	events []unix.EpollEvent
	again  []*pollConn   // streams left readable after their turn
	spare  []*pollConn   // the other buffer for again
	pause  unix.Timespec // g.readerPause

	mu     sync.Mutex
	wakeFD int // eventfd that stops the reader; -1 once closed
	conns  map[*pollConn]struct{}
	closed bool // no more streams are taken
}

// wakeMark is the event data of a reader's eventfd; streams carry the
// index of their subscriber, which is never negative.
const wakeMark = -1

// errReaderClosed is how a stream handed to a reader that stopped fails.
var errReaderClosed = errors.New("epoll reader stopped")

// newReaders makes n readers for g.
func newReaders(g *group, n int) ([]*reader, error) {
	if n > maxReaders {
		n = maxReaders
	}
	var out []*reader
	for i := 0; i < n; i++ {
		r, err := newReader(g)
		if err != nil {
			for _, r := range out {
				r.closeFDs()
			}
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func newReader(g *group) (*reader, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll engine: epoll_create1: %w", err)
	}
	wfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("epoll engine: eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: wakeMark}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wfd, &ev); err != nil {
		unix.Close(wfd)
		unix.Close(epfd)
		return nil, fmt.Errorf("epoll engine: register eventfd: %w", err)
	}
	r := &reader{
		g:      g,
		epfd:   epfd,
		wakeFD: wfd,
		buf:    make([]byte, g.spec.ReadBuffer),
		oob:    make([]byte, 128),
		events: make([]unix.EpollEvent, 256),
		conns:  map[*pollConn]struct{}{},
		pause:  unix.NsecToTimespec(int64(g.readerPause)),
	}
	// The message header of recvmsg points at the shared buffers once and
	// for all; only the control length is reset before each call.
	r.iov.Base = &r.buf[0]
	r.iov.SetLen(len(r.buf))
	r.msg.Iov = &r.iov
	r.msg.SetIovlen(1)
	r.msg.Control = &r.oob[0]
	return r, nil
}

// closeFDs closes the reader's epoll instance and eventfd.
func (r *reader) closeFDs() {
	r.mu.Lock()
	if r.wakeFD >= 0 {
		unix.Close(r.wakeFD)
		r.wakeFD = -1
	}
	r.mu.Unlock()
	unix.Close(r.epfd)
}

// wake makes the reader's epoll_wait return, so that it sees the run is
// over.
func (r *reader) wake() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.wakeFD >= 0 {
		var one = [8]byte{1}
		unix.Write(r.wakeFD, one[:])
	}
}

// add registers c, whose subscriber's goroutine then waits on s.ended.
func (r *reader) add(c *pollConn) error {
	// Under the lock, so that stopping cannot close c.fd (and let the
	// number be reused) between taking c and registering it.
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return errReaderClosed
	}
	c.s.pc.Store(c) // publishes c's fields to the reader
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(c.s.index)}
	// A socket that is readable already is reported at once.
	if err := unix.EpollCtl(r.epfd, unix.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
		c.s.pc.Store(nil)
		return fmt.Errorf("epoll engine: register a stream: %w", err)
	}
	r.conns[c] = struct{}{}
	return nil
}

// run is the reader's loop, until the run is over.
func (r *reader) run() {
	defer r.g.readersWG.Done()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	stop := context.AfterFunc(r.g.ctx, r.wake)
	defer stop()
	for {
		timeout := -1
		if len(r.again) > 0 {
			timeout = 0 // streams are waiting to be read on
		}
		n, err := unix.EpollWait(r.epfd, r.events, timeout)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			err = fmt.Errorf("epoll engine: epoll_wait: %w", err)
			r.g.noteError(err)
			r.shutdown(err)
			return
		}
		done := false
		for i := range r.events[:n] {
			ev := &r.events[i]
			if ev.Fd == wakeMark {
				done = true
				continue
			}
			r.ready(ev)
		}
		if done { // only the end of the run writes the eventfd
			r.shutdown(r.g.ctx.Err())
			return
		}
		// Go on reading the streams that had more than their turn's
		// worth, once each; those that still have more wait for the
		// next round, after the next epoll_wait.
		again := r.again
		r.again = r.spare[:0]
		for _, c := range again {
			c.queued = false
			if !c.ended {
				r.drain(c)
			}
		}
		clear(again)
		r.spare = again[:0]
		if len(r.again) == 0 && n < len(r.events) && r.g.readerPause > 0 {
			// Let the next wake-up find more streams ready, and more
			// bytes in each: see readerPause.
			unix.Nanosleep(&r.pause, nil)
		}
	}
}

// shutdown ends every stream the reader holds with err, and closes the
// reader.
func (r *reader) shutdown(err error) {
	r.mu.Lock()
	r.closed = true
	conns := r.conns
	r.conns = nil
	r.mu.Unlock()
	for c := range conns {
		r.finish(c, err)
	}
	r.closeFDs()
}

// end ends a stream that is over while the run goes on.
func (r *reader) end(c *pollConn, err error) {
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
	r.finish(c, err)
}

// finish closes c's socket (which takes it out of the epoll set), readies
// the parser for a reconnection and hands the subscriber back to its
// goroutine.
func (r *reader) finish(c *pollConn, err error) {
	s := c.s
	c.ended = true
	s.pc.Store(nil)
	unix.Close(c.fd)
	s.parser.End()
	s.ended <- err
}

// ready reads a stream that epoll reported readable.
func (r *reader) ready(ev *unix.EpollEvent) {
	idx := int(ev.Fd)
	if idx < 0 || idx >= len(r.g.subs) {
		return
	}
	c := r.g.subs[idx].pc.Load()
	if c == nil || c.r != r || c.ended {
		return // ended already
	}
	if ev.Events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		c.hup = true
	}
	r.drain(c)
}

// maxReadsPerTurn bounds the reads of one stream per turn, so that a
// stream that never runs dry (a hub replaying a long history, or one
// writing faster than this reader parses) cannot starve the others.
const maxReadsPerTurn = 8

// drain reads c until it is dry, it ends or its turn is over. Edge-
// triggered epoll does not report c again for bytes that are already
// there, so a stream whose turn ended first is queued in r.again.
func (r *reader) drain(c *pollConn) {
	// After a hang-up or an error, read until the end or the error shows;
	// otherwise a short read means the socket is dry: bytes that arrive
	// after the read report the socket again, so the read that would fail
	// with EAGAIN is saved.
	for reads := 0; ; reads++ {
		if reads == maxReadsPerTurn {
			if !c.queued {
				c.queued = true
				r.again = append(r.again, c)
			}
			return
		}
		n, err := r.recv(c)
		switch {
		case err == unix.EAGAIN:
			return
		case err == unix.EINTR:
			continue
		case err != nil:
			r.end(c, &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("recvmsg", err)})
			return
		case n == 0:
			r.end(c, io.ErrUnexpectedEOF)
			return
		}
		if err := c.body(r.buf[:n]); err != nil {
			r.end(c, err)
			return
		}
		if n < len(r.buf) && !c.hup {
			return
		}
	}
}

// recv reads c into the shared buffer: with recvmsg and the receive
// timestamp when arrival times are measured, else with read.
func (r *reader) recv(c *pollConn) (int, error) {
	if !c.stamps {
		n, err := unix.Read(c.fd, r.buf)
		if err != nil {
			return 0, err
		}
		return n, nil
	}
	r.msg.SetControllen(len(r.oob))
	// unix.Recvmsg would allocate a source address per call.
	n, _, errno := unix.Syscall(unix.SYS_RECVMSG, uintptr(c.fd), uintptr(unsafe.Pointer(&r.msg)), 0)
	if errno != 0 {
		return 0, errno
	}
	if ts := parseTimestampNS(r.oob[:r.msg.Controllen]); ts > 0 {
		c.arrival = ts
	}
	return int(n), nil
}

// detachFD takes conn's socket away from Go's network poller: it returns
// a duplicate of the descriptor (non-blocking, like the original) and
// closes conn, which takes the original out of the poller's epoll set
// without closing the socket.
func detachFD(conn net.Conn) (int, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("epoll engine: a %T has no descriptor", conn)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("epoll engine: %w", err)
	}
	fd := -1
	var derr error
	if err := rc.Control(func(f uintptr) {
		fd, derr = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, fmt.Errorf("epoll engine: %w", err)
	}
	if derr != nil {
		return -1, fmt.Errorf("epoll engine: duplicate a socket: %w", derr)
	}
	conn.Close()
	return fd, nil
}

func closeFD(fd int) { unix.Close(fd) }
