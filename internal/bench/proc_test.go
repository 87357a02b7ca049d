package bench

import (
	"os"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// A command name with spaces and parentheses, as a process may choose.
	stat := "1234 (my (weird) name) S 1 1234 1234 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 12 0 100 2000000 500 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	d, err := parseStatCPU([]byte(stat))
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 * time.Second; d != want { // (250 + 50) ticks at 100 Hz
		t.Fatalf("cpu %v, want %v", d, want)
	}
	for _, bad := range []string{"", "1 (x", "1 (x) S 1 2", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 zz 50 0 0"} {
		if _, err := parseStatCPU([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParseStatus(t *testing.T) {
	status := "Name:\therald\nState:\tS (sleeping)\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nThreads:\t7\n"
	rss, hwm, threads, err := parseStatus([]byte(status))
	if err != nil {
		t.Fatal(err)
	}
	if rss != 100<<20 || hwm != 200<<20 || threads != 7 {
		t.Fatalf("rss %d hwm %d threads %d", rss, hwm, threads)
	}
	if _, _, _, err := parseStatus([]byte("Name:\tzombie\nThreads:\t1\n")); err == nil {
		t.Error("a status without memory lines parsed")
	}
	if _, _, _, err := parseStatus([]byte("VmRSS:\t12 MB\nVmHWM:\t1 kB\n")); err == nil {
		t.Error("a status in the wrong unit parsed")
	}
}

func TestParseSockstat(t *testing.T) {
	in := "sockets: used 300\nTCP: inuse 40 orphan 1 tw 5 alloc 45 mem 12\nUDP: inuse 2 mem 1\n"
	s, err := parseSockstat([]byte(in), 4096)
	if err != nil {
		t.Fatal(err)
	}
	if s != (Sockstat{InUse: 40, Orphan: 1, TimeWait: 5, Alloc: 45, MemBytes: 12 * 4096}) {
		t.Fatalf("%+v", s)
	}
	if _, err := parseSockstat([]byte("UDP: inuse 2\n"), 4096); err == nil {
		t.Error("no TCP line parsed")
	}
	if _, err := parseSockstat([]byte("TCP: inuse x\n"), 4096); err == nil {
		t.Error("a malformed TCP line parsed")
	}
}

func TestReadProcSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc here:", err)
	}
	s, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.RSS <= 0 || s.HWM < s.RSS || s.Threads < 1 || s.CPU < 0 {
		t.Fatalf("implausible sample %+v", s)
	}
	if _, err := ReadSockstat(); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadProc(1 << 30); err == nil {
		t.Fatal("a process that cannot exist was read")
	}
}
