//go:build !unix

package herald

import "time"

// processCPU is not measured here: BenchmarkFanout's cpu-ns/delivery reads 0.
func processCPU() time.Duration { return 0 }
