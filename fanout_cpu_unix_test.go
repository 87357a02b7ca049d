//go:build unix

package herald

import (
	"syscall"
	"time"
)

// processCPU is this process's user and system time so far (all threads:
// the shards and the benchmark alike).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
