//go:build linux

package herald

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/heraldpush/herald/internal/uring"
	"golang.org/x/sys/unix"
)

// On Linux a plain HTTP/1.1 stream is hijacked once its replay is written:
// the hub duplicates the socket's descriptor, lets net/http's connection
// go, and from then on the stream costs no goroutine and no buffer while
// idle. The owning shard writes to the descriptor without blocking; one
// poller goroutine per hub watches every descriptor with epoll for a peer
// that hung up and for room to write after a partial write.

type rawPlatform struct {
	epfd   int
	wakefd int // eventfd that stops the poller
	mu     sync.Mutex
	conns  map[int32]*rawConn
	nextID atomic.Uint32
	done   chan struct{}
}

type rawConnPlatform struct {
	w    http.ResponseWriter // until hijacked
	conn net.Conn            // the hijacked connection, until handed off
	brw  *bufio.ReadWriter

	mu      sync.Mutex // guards the hand-off against end
	fd      int        // -1 until handed off, and after close
	id      uint32     // tells a reused descriptor number apart in epoll
	sub     *subscriber
	ended   bool
	out     []byte    // bytes not yet accepted by the socket
	since   time.Time // when out became non-empty
	closed  bool
	pending bool // bytes queued in the shard's send batch, not yet submitted
}

func newRawServer(h *Hub) *rawServer {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		h.log.Warn("epoll unavailable: every stream stays on net/http", "err", err)
		return nil
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		h.log.Warn("eventfd unavailable: every stream stays on net/http", "err", err)
		return nil
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wakefd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return nil
	}
	s := &rawServer{h: h}
	s.epfd, s.wakefd = epfd, wakefd
	s.conns = make(map[int32]*rawConn)
	s.done = make(chan struct{})
	go s.poll()
	return s
}

func (s *rawServer) close() {
	var one [8]byte
	one[0] = 1
	unix.Write(s.wakefd, one[:])
	<-s.done
	s.mu.Lock()
	for _, c := range s.conns {
		c.mu.Lock()
		c.closeLocked()
		c.mu.Unlock()
	}
	s.mu.Unlock()
	unix.Close(s.epfd)
	unix.Close(s.wakefd)
}

// poll turns epoll events into shard commands.
func (s *rawServer) poll() {
	defer close(s.done)
	events := make([]unix.EpollEvent, 256)
	var scratch [512]byte
	for {
		n, err := unix.EpollWait(s.epfd, events, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			s.h.log.Error("epoll wait failed: hijacked streams are no longer watched", "err", err)
			return
		}
		for i := 0; i < n; i++ {
			ev := events[i]
			if int(ev.Fd) == s.wakefd {
				return
			}
			s.mu.Lock()
			c := s.conns[ev.Fd]
			s.mu.Unlock()
			if c == nil || c.id != uint32(ev.Pad) {
				continue
			}
			gone := ev.Events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0
			if !gone && ev.Events&unix.EPOLLIN != 0 {
				// A client has nothing to say on an event stream; read and
				// drop whatever it sends, and notice when it hangs up.
				for {
					m, rerr := unix.Read(int(ev.Fd), scratch[:])
					if m > 0 {
						continue
					}
					gone = m == 0 || !errors.Is(rerr, unix.EAGAIN)
					break
				}
			}
			switch {
			case gone:
				c.sub.shard.push(shardCmd{kind: cmdRemove, sub: c.sub, reason: ReasonClientGone})
			case ev.Events&unix.EPOLLOUT != 0:
				c.sub.shard.push(shardCmd{kind: cmdWritable, sub: c.sub})
			}
		}
	}
}

// prepare returns a rawConn when w's connection can be taken over.
func (s *rawServer) prepare(w http.ResponseWriter) *rawConn {
	if _, ok := w.(http.Hijacker); !ok {
		return nil
	}
	c := &rawConn{srv: s}
	c.w, c.fd = w, -1
	return c
}

// start hijacks the connection and writes the response head; what the
// handler writes next (opening comment, replay) goes out chunked, blocking
// under the write timeout.
func (c *rawConn) start(hdr http.Header) (streamWriter, error) {
	conn, brw, err := c.w.(http.Hijacker).Hijack()
	if err != nil {
		return nil, err
	}
	c.w = nil
	if _, ok := conn.(syscall.Conn); !ok {
		conn.Close()
		return nil, errors.New("herald: hijacked connection has no descriptor")
	}
	c.conn, c.brw = conn, brw
	head := headerBlock(make([]byte, 0, 512), hdr)
	deadline := time.Now().Add(c.srv.h.cfg.writeTimeout)
	conn.SetWriteDeadline(deadline)
	if _, err := brw.Write(head); err != nil {
		conn.Close()
		return nil, err
	}
	return &chunkWriter{w: brw.Writer, conn: conn, timeout: c.srv.h.cfg.writeTimeout}, nil
}

// chunkWriter writes chunked body bytes to a hijacked connection.
type chunkWriter struct {
	w       *bufio.Writer
	conn    net.Conn
	timeout time.Duration
	buf     []byte
}

func (cw *chunkWriter) Write(p []byte) (int, error) {
	cw.buf = append(cw.buf, p...)
	if len(cw.buf) >= 32<<10 {
		if err := cw.Flush(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (cw *chunkWriter) Flush() error {
	cw.conn.SetWriteDeadline(time.Now().Add(cw.timeout))
	if len(cw.buf) > 0 {
		// Size line, body and CRLF straight into the bufio.Writer (which
		// passes a body larger than its free space to the socket without
		// copying): no framed copy of up to 32 KiB per flush, which a wave
		// of resuming streams would turn into garbage by the megabyte.
		var size [20]byte
		line := append(strconv.AppendUint(size[:0], uint64(len(cw.buf)), 16), '\r', '\n')
		cw.w.Write(line)
		cw.w.Write(cw.buf)
		if _, err := cw.w.WriteString("\r\n"); err != nil {
			return err
		}
		cw.buf = cw.buf[:0]
	}
	return cw.w.Flush()
}

func appendChunk(dst, body []byte) []byte {
	dst = strconv.AppendUint(dst, uint64(len(body)), 16)
	dst = append(dst, '\r', '\n')
	dst = append(dst, body...)
	return append(dst, '\r', '\n')
}

// handOff moves the stream from the handler goroutine to the shard.
func (c *rawConn) handOff(sub *subscriber) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	conn := c.conn
	c.conn, c.brw = nil, nil
	if c.ended {
		conn.Close()
		c.srv.h.streams.Done()
		return errClientGone
	}
	var fd int
	var derr error
	rc, err := conn.(syscall.Conn).SyscallConn()
	if err == nil {
		err = rc.Control(func(orig uintptr) {
			fd, derr = unix.FcntlInt(orig, unix.F_DUPFD_CLOEXEC, 0)
		})
	}
	if err == nil {
		err = derr
	}
	// The duplicate keeps the socket open; net/http's descriptor and its
	// poller registration go away with conn.
	conn.Close()
	if err != nil {
		c.ended = true
		c.srv.h.streams.Done()
		return err
	}
	c.fd, c.sub = fd, sub
	c.id = c.srv.nextID.Add(1)
	s := c.srv
	s.mu.Lock()
	s.conns[int32(fd)] = c
	s.mu.Unlock()
	// EPOLLOUT is asked for only while bytes wait (see watchWritable):
	// with it always on, every ACK of a heartbeat would wake the poller.
	ev := unix.EpollEvent{Events: watchIdle, Fd: int32(fd), Pad: int32(c.id)}
	if err := unix.EpollCtl(s.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		c.closeLocked()
		return err
	}
	return nil
}

// abort drops a stream that failed before its hand-off.
func (c *rawConn) abort() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		c.conn.Close()
		c.conn, c.brw = nil, nil
	}
	c.ended = true
}

// write runs on the shard goroutine.
func (c *rawConn) write(batch []*message) error {
	if c.fd < 0 {
		return errWriteBroken
	}
	sh := c.sub.shard
	body := sh.scratch[:0]
	size := 0
	for _, m := range batch {
		size += len(m.wire)
	}
	body = strconv.AppendUint(body, uint64(size), 16)
	body = append(body, '\r', '\n')
	for _, m := range batch {
		body = append(body, m.wire...)
	}
	body = append(body, '\r', '\n')
	sh.scratch = body[:0]
	if cap(sh.scratch) > 1<<20 {
		sh.scratch = nil
	}
	return c.send(body)
}

var heartbeatChunk = appendChunk(nil, heartbeatWire)

func (c *rawConn) heartbeat() error {
	if len(c.out) > 0 {
		return nil // data is already on its way
	}
	return c.send(heartbeatChunk)
}

// send writes p, or queues what the socket does not take now. With the
// shard's io_uring, p joins the shard's next batch instead, and what the
// socket did not take is queued when the batch completes.
func (c *rawConn) send(p []byte) error {
	if c.fd < 0 {
		return errWriteBroken
	}
	if sh := c.sub.shard; sh.sends.ring != nil {
		if c.pending {
			sh.submitSends() // this stream's bytes stay in order
		}
		if c.fd < 0 {
			return errWriteBroken
		}
		if len(c.out) == 0 {
			sh.sends.add(c, p)
			if len(sh.sends.pending) >= sh.sends.ring.Size() {
				sh.submitSends()
			}
			return nil
		}
	}
	if len(c.out) > 0 {
		if len(c.out)+len(p) > c.sub.hub.cfg.queueBytes {
			return errSlow
		}
		c.out = append(c.out, p...)
		return c.drain()
	}
	n, err := rawWrite(c.fd, p)
	if err != nil && !errors.Is(err, unix.EAGAIN) {
		return errWriteBroken
	}
	if n < 0 {
		n = 0
	}
	if n < len(p) {
		c.out = append(c.out[:0], p[n:]...)
		c.since = time.Now()
		c.sub.shard.backlog(c.sub, true)
		if err := c.watchWritable(true); err != nil {
			return errWriteBroken
		}
	}
	return nil
}

const watchIdle = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET

// watchWritable turns the EPOLLOUT notification on or off. Re-arming an
// edge-triggered descriptor also reports the current state, so a socket
// that drained between the short write and this call is not missed.
func (c *rawConn) watchWritable(on bool) error {
	ev := unix.EpollEvent{Events: watchIdle, Fd: int32(c.fd), Pad: int32(c.id)}
	if on {
		ev.Events |= unix.EPOLLOUT
	}
	return unix.EpollCtl(c.srv.epfd, unix.EPOLL_CTL_MOD, c.fd, &ev)
}

// drain writes queued bytes once the socket has room.
func (c *rawConn) drain() error {
	for len(c.out) > 0 {
		n, err := rawWrite(c.fd, c.out)
		if n > 0 {
			c.out = c.out[n:]
			continue
		}
		if err != nil && !errors.Is(err, unix.EAGAIN) {
			return errWriteBroken
		}
		if time.Since(c.since) > c.sub.hub.cfg.writeTimeout {
			return errWriteTimeout
		}
		return nil
	}
	c.out = nil
	c.sub.shard.backlog(c.sub, false)
	if err := c.watchWritable(false); err != nil {
		return errWriteBroken
	}
	return nil
}

// overdue reports whether queued bytes have waited past the write timeout.
func (c *rawConn) overdue(now time.Time) bool {
	return len(c.out) > 0 && now.Sub(c.since) > c.sub.hub.cfg.writeTimeout
}

func (c *rawConn) end(_ DisconnectReason, graceful bool) {
	if c.pending && c.sub != nil {
		c.sub.shard.submitSends() // what the stream was sent goes first
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ended = true
	if c.fd < 0 {
		return // the handler still holds the connection and will drop it
	}
	if graceful && len(c.out) == 0 {
		unix.Write(c.fd, []byte("0\r\n\r\n"))
	}
	c.closeLocked()
}

func (c *rawConn) closeLocked() {
	if c.closed || c.fd < 0 {
		return
	}
	c.closed = true
	s := c.srv
	unix.EpollCtl(s.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	s.mu.Lock()
	if s.conns[int32(c.fd)] == c {
		delete(s.conns, int32(c.fd))
	}
	s.mu.Unlock()
	unix.Close(c.fd)
	c.fd = -1
	if len(c.out) > 0 && c.sub != nil {
		c.sub.shard.backlog(c.sub, false)
	}
	c.out = nil
	s.h.streams.Done()
}

// rawWrite writes p to a connected socket with sendto(2), without the
// scheduler hand-off of an ordinary system call. The descriptor is
// non-blocking (MSG_DONTWAIT says so again), so the call cannot park the
// thread, and skipping entersyscall/exitsyscall matters when a shard writes
// thousands of heartbeats in a row: it halves the context switches of an
// idle node. sendto rather than write: it enters the socket layer directly,
// without the file layer's checks and notifications, which measured 5–9 %
// less CPU per small write here (bench/cmd/loopback-floor -sendto).
// MSG_NOSIGNAL: a peer that is gone is an EPIPE, never a SIGPIPE.
func rawWrite(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, _, errno := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)),
		unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// sendBatch gathers a shard's writes to hijacked streams for one io_uring
// submission (WithIOUring): a round's writes and heartbeats cost one
// system call per batch instead of one each. Without a ring (the default,
// or where the kernel refuses io_uring) every write is a sendto of its own.
type sendBatch struct {
	ring              *uring.Ring
	pending, spare    []pendingSend
	arena, arenaSpare []byte // the pending bytes, copied: the caller reuses its buffer
	ops               []uring.Send
}

type pendingSend struct {
	c        *rawConn
	off, end int
}

func (b *sendBatch) open(h *Hub) {
	if !h.cfg.ioUring || !h.cfg.hijack {
		return
	}
	r, err := uring.New(256)
	if err != nil {
		h.log.Warn("io_uring unavailable: writing with one system call per stream", "err", err)
		return
	}
	b.ring = r
}

func (b *sendBatch) close() {
	if b.ring != nil {
		b.ring.Close()
		b.ring = nil
	}
}

func (b *sendBatch) add(c *rawConn, p []byte) {
	off := len(b.arena)
	b.arena = append(b.arena, p...)
	b.pending = append(b.pending, pendingSend{c: c, off: off, end: len(b.arena)})
	c.pending = true
}

// submitSends sends the pending batch and settles each stream as send
// would have: bytes the socket did not take wait for EPOLLOUT, a broken
// stream is closed.
func (s *shard) submitSends() {
	b := &s.sends
	if len(b.pending) == 0 {
		return
	}
	// Closing a stream below may add to a new batch (another stream's
	// end), so this one is swapped out first.
	pending, arena := b.pending, b.arena
	b.pending, b.spare = b.spare[:0], pending
	b.arena, b.arenaSpare = b.arenaSpare[:0], arena
	ops := b.ops[:0]
	for _, p := range pending {
		ops = append(ops, uring.Send{FD: p.c.fd, Buf: arena[p.off:p.end]})
	}
	b.ops = ops
	err := b.ring.Send(ops)
	if err == nil && len(ops) > 0 && (errors.Is(ops[0].Err, unix.EINVAL) || errors.Is(ops[0].Err, unix.EOPNOTSUPP)) {
		// A kernel whose io_uring lacks IORING_OP_SEND (before 5.6)
		// refuses every send this way; a socket never does.
		err = ops[0].Err
	}
	if err != nil {
		// The ring failed: finish this batch, and the rest of the shard's
		// life, with plain writes.
		s.hub.log.Error("io_uring failed: writing with one system call per stream", "err", err)
		b.close()
		for i := range ops {
			if ops[i].N == 0 {
				ops[i].N, ops[i].Err = rawWrite(ops[i].FD, ops[i].Buf)
			}
		}
	}
	for i, p := range pending {
		c := p.c
		c.pending = false
		if c.fd < 0 || c.sub == nil {
			continue
		}
		n, err := ops[i].N, ops[i].Err
		if err != nil && !errors.Is(err, unix.EAGAIN) {
			s.close(c.sub, reasonOf(errWriteBroken), false)
			continue
		}
		if body := arena[p.off:p.end]; n < len(body) {
			c.out = append(c.out[:0], body[n:]...)
			c.since = time.Now()
			s.backlog(c.sub, true)
			if err := c.watchWritable(true); err != nil {
				s.close(c.sub, reasonOf(errWriteBroken), false)
			}
		}
	}
	clear(pending)
	clear(ops)
}
