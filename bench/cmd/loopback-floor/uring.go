//go:build linux

package main

import (
	"fmt"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// A minimal io_uring, enough to submit a batch of send(2)s and reap their
// completions: what a server could do to write to many sockets with one
// system call. No library: package syscall has no io_uring, and this is a
// measurement, not a transport.

const (
	sysIOUringSetup = 425
	sysIOUringEnter = 426
	opSend          = 26 // IORING_OP_SEND
	enterGetEvents  = 1  // IORING_ENTER_GETEVENTS
	offSQEs         = 0x10000000
)

// uringParams is struct io_uring_params.
type uringParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFD uint32
	resv                                                                   [3]uint32
	sqHead, sqTail, sqMask, sqRingEntries, sqFlags, sqDropped, sqArray     uint32
	sqResv1                                                                uint32
	sqUserAddr                                                             uint64
	cqHead, cqTail, cqMask, cqRingEntries, cqOverflow, cqCQEs, cqFlags     uint32
	cqResv1                                                                uint32
	cqUserAddr                                                             uint64
}

// uringSQE is struct io_uring_sqe (64 bytes).
type uringSQE struct {
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

// uringCQE is struct io_uring_cqe.
type uringCQE struct {
	userData uint64
	res      int32
	flags    uint32
}

type uring struct {
	fd             int
	size           uint32
	sqTail, sqMask *uint32
	sqArray        []uint32
	sqes           []uringSQE
	cqHead, cqTail *uint32
	cqMask         *uint32
	cqes           []uringCQE
}

func newUring(entries uint32) (*uring, error) {
	var p uringParams
	fd, _, errno := syscall.Syscall(sysIOUringSetup, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return nil, fmt.Errorf("io_uring_setup: %w", errno)
	}
	r := &uring{fd: int(fd), size: p.sqEntries}
	ringSize := max(int(p.sqArray+p.sqEntries*4), int(p.cqCQEs+p.cqEntries*uint32(unsafe.Sizeof(uringCQE{}))))
	mem, err := syscall.Mmap(r.fd, 0, ringSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("mmap io_uring rings: %w", err)
	}
	base := unsafe.Pointer(&mem[0])
	r.sqTail = (*uint32)(unsafe.Add(base, p.sqTail))
	r.sqMask = (*uint32)(unsafe.Add(base, p.sqMask))
	r.sqArray = unsafe.Slice((*uint32)(unsafe.Add(base, p.sqArray)), p.sqEntries)
	r.cqHead = (*uint32)(unsafe.Add(base, p.cqHead))
	r.cqTail = (*uint32)(unsafe.Add(base, p.cqTail))
	r.cqMask = (*uint32)(unsafe.Add(base, p.cqMask))
	r.cqes = unsafe.Slice((*uringCQE)(unsafe.Add(base, p.cqCQEs)), p.cqEntries)
	sqes, err := syscall.Mmap(r.fd, offSQEs, int(p.sqEntries)*int(unsafe.Sizeof(uringSQE{})), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("mmap io_uring entries: %w", err)
	}
	r.sqes = unsafe.Slice((*uringSQE)(unsafe.Pointer(&sqes[0])), p.sqEntries)
	return r, nil
}

// sendAll sends msg to every descriptor in fds, as many per io_uring_enter
// as the ring holds, and calls done(i, err) as the i-th send completes.
func (r *uring) sendAll(fds []int, msg []byte, done func(i int, err error)) {
	for first := 0; first < len(fds); {
		n := uint32(min(len(fds)-first, int(r.size)))
		tail := atomic.LoadUint32(r.sqTail)
		mask := *r.sqMask
		for i := uint32(0); i < n; i++ {
			slot := (tail + i) & mask
			r.sqes[slot] = uringSQE{
				opcode: opSend, fd: int32(fds[first+int(i)]),
				addr: uint64(uintptr(unsafe.Pointer(&msg[0]))), len: uint32(len(msg)),
				msgFlags: syscall.MSG_DONTWAIT | syscall.MSG_NOSIGNAL, userData: uint64(first + int(i)),
			}
			r.sqArray[slot] = slot
		}
		atomic.StoreUint32(r.sqTail, tail+n)
		for reaped, submit := uint32(0), n; reaped < n; submit = 0 {
			if _, _, errno := syscall.RawSyscall6(sysIOUringEnter, uintptr(r.fd), uintptr(submit), 1, enterGetEvents, 0, 0); errno != 0 && errno != syscall.EINTR {
				panic(fmt.Sprintf("io_uring_enter: %v", errno))
			}
			head, ctail := atomic.LoadUint32(r.cqHead), atomic.LoadUint32(r.cqTail)
			for ; head != ctail; head++ {
				c := r.cqes[head&*r.cqMask]
				var err error
				if c.res < 0 {
					err = syscall.Errno(-c.res)
				} else if int(c.res) < len(msg) {
					err = fmt.Errorf("short send: %d of %d bytes", c.res, len(msg))
				}
				done(int(c.userData), err)
				reaped++
			}
			atomic.StoreUint32(r.cqHead, head)
		}
		first += int(n)
	}
}

// processCPU is the user and system time of every thread of this process.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
