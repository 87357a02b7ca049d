//go:build linux

package clustertest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"

	"github.com/heraldpush/herald/internal/testbin"
)

// heraldBin is the herald binary built for this test run.
var heraldBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "herald-clustertest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	heraldBin = filepath.Join(dir, "herald")
	goBin := testbin.Find([]string{"go"}, "/usr/local/go/bin/go")
	if goBin == "" {
		fmt.Fprintln(os.Stderr, "clustertest: no go command to build herald")
		return 1
	}
	build := exec.Command(goBin, "build", "-o", heraldBin, "github.com/heraldpush/herald/cmd/herald")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "clustertest: building herald:", err)
		return 1
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "clustertest: goroutines left behind:", err)
			return 1
		}
	}
	return code
}
