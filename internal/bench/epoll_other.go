//go:build !linux

package bench

import (
	"errors"
	"net"
)

const epollSupported = false

// reader is the epoll engine's reader, which exists on Linux only.
type reader struct{}

func newReaders(*group, int) ([]*reader, error) {
	return nil, errors.New("the epoll subscriber engine is supported on Linux only")
}

func (r *reader) run()                  {}
func (r *reader) add(c *pollConn) error { return errors.New("no epoll engine on this platform") }

func detachFD(net.Conn) (int, error) { return -1, errors.New("no epoll engine on this platform") }

func closeFD(int) {}
