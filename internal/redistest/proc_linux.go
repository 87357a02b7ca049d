package redistest

import "syscall"

// sysProcAttr makes the server die with the test process, even when that
// is killed before its cleanup runs.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
