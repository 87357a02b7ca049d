//go:build linux

// Package uring sends on many sockets with one system call, through a
// Linux io_uring. It holds only what Herald's write path needs: a ring owned
// by one goroutine, batches of send(2) with MSG_DONTWAIT, and their results.
// Package syscall and x/sys have no io_uring, and the liburing ports are far
// larger than this.
package uring

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"unsafe"
)

const (
	sysSetup       = 425 // io_uring_setup
	sysEnter       = 426 // io_uring_enter
	opSend         = 26  // IORING_OP_SEND
	enterGetEvents = 1   // IORING_ENTER_GETEVENTS
	offSQRing      = 0
	offSQEs        = 0x10000000
)

// params is struct io_uring_params.
type params struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFD uint32
	resv                                                                   [3]uint32
	sqHead, sqTail, sqMask, sqRingEntries, sqFlags, sqDropped, sqArray     uint32
	sqResv1                                                                uint32
	sqUserAddr                                                             uint64
	cqHead, cqTail, cqMask, cqRingEntries, cqOverflow, cqCQEs, cqFlags     uint32
	cqResv1                                                                uint32
	cqUserAddr                                                             uint64
}

// sqe is struct io_uring_sqe (64 bytes).
type sqe struct {
	opcode, flags uint8
	ioprio        uint16
	fd            int32
	off, addr     uint64
	len, msgFlags uint32
	userData      uint64
	bufIndex      uint16
	personality   uint16
	spliceFDIn    int32
	addr3, pad    uint64
}

// cqe is struct io_uring_cqe.
type cqe struct {
	userData uint64
	res      int32
	flags    uint32
}

// A Send is one send(2) in a batch: Buf to the socket FD. Ring.Send sets N
// and Err.
type Send struct {
	FD  int
	Buf []byte
	N   int   // bytes the socket took
	Err error // syscall.EAGAIN when it took none and would block
}

// A Ring is an io_uring for batches of sends. It is not safe for
// concurrent use: one goroutine owns it.
type Ring struct {
	fd      int
	size    int
	rings   []byte // the mapped submission and completion rings
	entries []byte // the mapped submission entries
	sqTail  *uint32
	sqMask  uint32
	sqArray []uint32
	sqes    []sqe
	cqHead  *uint32
	cqTail  *uint32
	cqMask  uint32
	cqes    []cqe
}

// New sets up a ring for batches of up to entries sends (rounded up to a
// power of two by the kernel). It fails where the kernel has no io_uring or
// a sandbox refuses it (ENOSYS, EPERM): the caller then keeps to write(2).
func New(entries int) (*Ring, error) {
	if entries < 1 {
		return nil, errors.New("uring: entries must be positive")
	}
	var p params
	fd, _, errno := syscall.Syscall(sysSetup, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return nil, fmt.Errorf("uring: io_uring_setup: %w", errno)
	}
	r := &Ring{fd: int(fd), size: int(p.sqEntries)}
	size := max(int(p.sqArray+p.sqEntries*4), int(p.cqCQEs+p.cqEntries*uint32(unsafe.Sizeof(cqe{}))))
	var err error
	// One mapping serves both rings (IORING_FEAT_SINGLE_MMAP, Linux 5.4).
	if r.rings, err = syscall.Mmap(r.fd, offSQRing, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE); err != nil {
		syscall.Close(r.fd)
		return nil, fmt.Errorf("uring: map rings: %w", err)
	}
	if r.entries, err = syscall.Mmap(r.fd, offSQEs, int(p.sqEntries)*int(unsafe.Sizeof(sqe{})), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE); err != nil {
		syscall.Munmap(r.rings)
		syscall.Close(r.fd)
		return nil, fmt.Errorf("uring: map entries: %w", err)
	}
	base := unsafe.Pointer(&r.rings[0])
	r.sqTail = (*uint32)(unsafe.Add(base, p.sqTail))
	r.sqMask = *(*uint32)(unsafe.Add(base, p.sqMask))
	r.sqArray = unsafe.Slice((*uint32)(unsafe.Add(base, p.sqArray)), p.sqEntries)
	r.cqHead = (*uint32)(unsafe.Add(base, p.cqHead))
	r.cqTail = (*uint32)(unsafe.Add(base, p.cqTail))
	r.cqMask = *(*uint32)(unsafe.Add(base, p.cqMask))
	r.cqes = unsafe.Slice((*cqe)(unsafe.Add(base, p.cqCQEs)), p.cqEntries)
	r.sqes = unsafe.Slice((*sqe)(unsafe.Pointer(&r.entries[0])), p.sqEntries)
	return r, nil
}

// Size is the most sends one call submits; Send splits longer batches.
func (r *Ring) Size() int { return r.size }

// Send submits every send in batch, MSG_DONTWAIT|MSG_NOSIGNAL, and waits
// for all of them: a non-blocking send completes at once, so the wait is
// the kernel's time on the sockets, not the peers'. It returns an error
// only when the ring itself fails; each send's result is in its N and Err.
// The buffers must stay unchanged until Send returns.
func (r *Ring) Send(batch []Send) error {
	for len(batch) > 0 {
		n := min(len(batch), r.size)
		if err := r.send(batch[:n]); err != nil {
			return err
		}
		batch = batch[n:]
	}
	return nil
}

func (r *Ring) send(batch []Send) error {
	tail := atomic.LoadUint32(r.sqTail)
	for i := range batch {
		s := &batch[i]
		s.N, s.Err = 0, nil
		slot := (tail + uint32(i)) & r.sqMask
		e := sqe{opcode: opSend, fd: int32(s.FD), len: uint32(len(s.Buf)),
			msgFlags: syscall.MSG_DONTWAIT | syscall.MSG_NOSIGNAL, userData: uint64(i)}
		if len(s.Buf) > 0 {
			e.addr = uint64(uintptr(unsafe.Pointer(&s.Buf[0])))
		}
		r.sqes[slot] = e
		r.sqArray[slot] = slot
	}
	// The kernel reads the entries once it sees the new tail.
	atomic.StoreUint32(r.sqTail, tail+uint32(len(batch)))
	submit, done := len(batch), 0
	for done < len(batch) {
		n, _, errno := syscall.Syscall6(sysEnter, uintptr(r.fd), uintptr(submit), uintptr(len(batch)-done), enterGetEvents, 0, 0)
		switch {
		case errno == syscall.EINTR || errno == syscall.EAGAIN || errno == syscall.EBUSY:
			// Nothing was submitted by this call (a call that submits
			// and is then interrupted returns the count): reap what
			// completed and call again.
		case errno != 0:
			return fmt.Errorf("uring: io_uring_enter: %w", errno)
		default:
			submit -= int(n)
		}
		head, ctail := atomic.LoadUint32(r.cqHead), atomic.LoadUint32(r.cqTail)
		for ; head != ctail; head++ {
			c := r.cqes[head&r.cqMask]
			s := &batch[c.userData]
			if c.res < 0 {
				s.Err = syscall.Errno(-c.res)
			} else {
				s.N = int(c.res)
			}
			done++
		}
		atomic.StoreUint32(r.cqHead, head)
	}
	return nil
}

// Close releases the ring.
func (r *Ring) Close() error {
	syscall.Munmap(r.entries)
	syscall.Munmap(r.rings)
	return syscall.Close(r.fd)
}
