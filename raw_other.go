//go:build !linux

package herald

import (
	"net/http"
	"time"
)

type rawPlatform struct{}
type rawConnPlatform struct{}

// newRawServer returns nil: hijacked streams are served only on Linux.
func newRawServer(*Hub) *rawServer { return nil }

func (*rawServer) close()                                {}
func (*rawServer) prepare(http.ResponseWriter) *rawConn  { return nil }
func (*rawConn) start(http.Header) (streamWriter, error) { panic("unreachable") }
func (*rawConn) handOff(*subscriber) error               { panic("unreachable") }
func (*rawConn) abort()                                  {}
func (*rawConn) write([]*message) error                  { return errWriteBroken }
func (*rawConn) heartbeat() error                        { return errWriteBroken }
func (*rawConn) end(DisconnectReason, bool)              {}
func (*rawConn) drain() error                            { return nil }
func (*rawConn) overdue(time.Time) bool                  { return false }

// sendBatch is Linux's (io_uring); elsewhere there is nothing to batch.
type sendBatch struct{}

func (*sendBatch) open(*Hub) {}
func (*sendBatch) close()    {}
func (*shard) submitSends()  {}
