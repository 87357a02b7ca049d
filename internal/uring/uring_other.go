//go:build !linux

// Package uring sends on many sockets with one system call, through a
// Linux io_uring. Elsewhere New fails and callers keep to write(2).
package uring

import "errors"

// A Send is one send(2) in a batch: Buf to the socket FD.
type Send struct {
	FD  int
	Buf []byte
	N   int
	Err error
}

// A Ring is an io_uring for batches of sends (Linux only).
type Ring struct{}

// New fails: io_uring is Linux's.
func New(entries int) (*Ring, error) { return nil, errors.New("uring: io_uring is Linux only") }

// Size is 0.
func (r *Ring) Size() int { return 0 }

// Send fails.
func (r *Ring) Send(batch []Send) error { return errors.New("uring: io_uring is Linux only") }

// Close does nothing.
func (r *Ring) Close() error { return nil }
