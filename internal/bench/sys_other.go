//go:build !linux

package bench

import (
	"errors"
	"net"
	"syscall"
)

// RaiseFileLimit is supported on Linux only.
func RaiseFileLimit() (cur, max uint64, err error) {
	return 0, 0, errors.New("raising the file limit is supported on Linux only")
}

func controlNoPort(network, address string, c syscall.RawConn) error { return nil }

// arrivalReader records kernel receive times on Linux only.
type arrivalReader struct{}

func newArrivalReader(net.Conn) *arrivalReader { return nil }

func (r *arrivalReader) Read(p []byte) (int, error) { return 0, errors.New("unsupported") }

func (r *arrivalReader) arrival() int64 { return 0 }
