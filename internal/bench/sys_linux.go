//go:build linux

package bench

import (
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
