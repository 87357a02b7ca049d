//go:build linux

package bench

import (
	"encoding/binary"
	"io"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// RaiseFileLimit raises this process's soft limit on open files to its
// hard limit and returns the limit now in force and the hard limit.
func RaiseFileLimit() (cur, max uint64, err error) {
	var l unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &l); err != nil {
		return 0, 0, err
	}
	if l.Cur < l.Max {
		want := l
		want.Cur = l.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &want); err == nil {
			l = want
		}
	}
	return l.Cur, l.Max, nil
}

// controlNoPort sets IP_BIND_ADDRESS_NO_PORT on a socket that binds a
// source address before connecting: the kernel then picks the source port
// at connect time, per destination, instead of reserving a port at bind
// time, so each source address is good for a full ephemeral range per
// server address.
func controlNoPort(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	})
	if err != nil {
		return err
	}
	// Not fatal: without it, binding merely uses up ports sooner.
	_ = serr
	return nil
}

// arrivalReader reads a TCP connection with recvmsg and keeps the kernel's
// receive timestamp (SO_TIMESTAMPNS) of the newest bytes read. A delivery's
// latency is then measured to when its bytes reached this machine's socket,
// not to when this busy load generator got round to reading them, so that
// the client's own queueing (it shares the cores with the server) does not
// count against the server.
type arrivalReader struct {
	rc   syscall.RawConn
	oob  []byte
	last int64 // Unix nanoseconds of the newest bytes read; 0: unknown
}

// newArrivalReader returns a reader of c that records arrival times, or
// nil where the kernel does not provide them.
func newArrivalReader(c net.Conn) *arrivalReader {
	if unix.SizeofCmsghdr != 16 {
		return nil // the parsing below assumes a 64-bit layout
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		return nil
	}
	return &arrivalReader{rc: rc, oob: make([]byte, 64)}
}

func (r *arrivalReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n, oobn int
	var rerr error
	err := r.rc.Read(func(fd uintptr) bool {
		n, oobn, _, _, rerr = unix.Recvmsg(int(fd), p, r.oob, 0)
		return rerr != unix.EAGAIN
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, io.EOF
	}
	if ts := parseTimestampNS(r.oob[:oobn]); ts > 0 {
		r.last = ts
	}
	return n, nil
}

// arrival returns the receive time of the newest bytes read, or 0.
func (r *arrivalReader) arrival() int64 { return r.last }

// parseTimestampNS finds an SCM_TIMESTAMPNS message (a struct timespec)
// in control data laid out for 64-bit Linux.
func parseTimestampNS(oob []byte) int64 {
	for len(oob) >= 16 {
		l := int(binary.NativeEndian.Uint64(oob[0:8]))
		level := int32(binary.NativeEndian.Uint32(oob[8:12]))
		typ := int32(binary.NativeEndian.Uint32(oob[12:16]))
		if l < 16 || l > len(oob) {
			return 0
		}
		if level == unix.SOL_SOCKET && typ == unix.SCM_TIMESTAMPNS && l >= 32 {
			sec := int64(binary.NativeEndian.Uint64(oob[16:24]))
			nsec := int64(binary.NativeEndian.Uint64(oob[24:32]))
			return sec*1e9 + nsec
		}
		// Control messages are aligned to 8 bytes.
		oob = oob[min((l+7)&^7, len(oob)):]
	}
	return 0
}
