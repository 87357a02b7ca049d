//go:build !linux

package redistest

import "syscall"

// sysProcAttr has no parent-death signal outside Linux: a test process
// killed before its cleanup leaves the server running.
func sysProcAttr() *syscall.SysProcAttr { return nil }
