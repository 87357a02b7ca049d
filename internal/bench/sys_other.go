//go:build !linux

package bench

import (
	"errors"
	"syscall"
)

// RaiseFileLimit is supported on Linux only.
func RaiseFileLimit() (cur, max uint64, err error) {
	return 0, 0, errors.New("raising the file limit is supported on Linux only")
}

func controlNoPort(network, address string, c syscall.RawConn) error { return nil }
