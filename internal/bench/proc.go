package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTicks is the unit of the CPU times in /proc/PID/stat (USER_HZ).
// The kernel fixes it at 100 on every architecture Go supports on Linux;
// reading it would need sysconf(_SC_CLK_TCK) through cgo.
const clockTicks = 100

// ProcSample is one reading of a process's counters from /proc.
type ProcSample struct {
	At      time.Time     `json:"-"`
	CPU     time.Duration `json:"cpu_ns"` // user + system time since the process started
	RSS     int64         `json:"rss_bytes"`
	HWM     int64         `json:"rss_peak_bytes"` // VmHWM: the highest RSS so far
	Threads int           `json:"threads"`
}

// ReadProc samples process pid's CPU time and memory from /proc/PID/stat
// and /proc/PID/status.
func ReadProc(pid int) (ProcSample, error) {
	now := time.Now()
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ProcSample{}, fmt.Errorf("read process %d's CPU time: %w", pid, err)
	}
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return ProcSample{}, fmt.Errorf("read process %d's memory: %w", pid, err)
	}
	s := ProcSample{At: now}
	if s.CPU, err = parseStatCPU(stat); err != nil {
		return ProcSample{}, fmt.Errorf("process %d: %w", pid, err)
	}
	if s.RSS, s.HWM, s.Threads, err = parseStatus(status); err != nil {
		return ProcSample{}, fmt.Errorf("process %d: %w", pid, err)
	}
	return s, nil
}

// parseStatCPU returns utime + stime from the contents of /proc/PID/stat.
// The second field, the command name in parentheses, may itself hold
// spaces and parentheses, so the fields are counted from the last ')'.
func parseStatCPU(b []byte) (time.Duration, error) {
	end := bytes.LastIndexByte(b, ')')
	if end < 0 {
		return 0, errors.New("malformed /proc stat: no command name")
	}
	// After ") " come fields 3 (state), 4, …; utime is field 14, stime 15.
	fields := bytes.Fields(b[end+1:])
	const utime, stime = 14 - 3, 15 - 3
	if len(fields) <= stime {
		return 0, fmt.Errorf("malformed /proc stat: %d fields after the name", len(fields))
	}
	u, err1 := strconv.ParseUint(string(fields[utime]), 10, 64)
	s, err2 := strconv.ParseUint(string(fields[stime]), 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("malformed /proc stat CPU times: %w", err)
	}
	return time.Duration(u+s) * (time.Second / clockTicks), nil
}

// parseStatus reads VmRSS, VmHWM (in kB) and Threads from /proc/PID/status.
func parseStatus(b []byte) (rss, hwm int64, threads int, err error) {
	found := 0
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		switch string(name) {
		case "VmRSS", "VmHWM":
			f := bytes.Fields(value)
			if len(f) != 2 || string(f[1]) != "kB" {
				return 0, 0, 0, fmt.Errorf("malformed /proc status line %q", line)
			}
			kb, perr := strconv.ParseInt(string(f[0]), 10, 64)
			if perr != nil {
				return 0, 0, 0, fmt.Errorf("malformed /proc status line %q: %w", line, perr)
			}
			if name[2] == 'R' {
				rss = kb << 10
			} else {
				hwm = kb << 10
			}
			found++
		case "Threads":
			n, perr := strconv.Atoi(string(bytes.TrimSpace(value)))
			if perr != nil {
				return 0, 0, 0, fmt.Errorf("malformed /proc status line %q: %w", line, perr)
			}
			threads = n
		}
	}
	if found < 2 {
		// A zombie or kernel thread has no memory lines.
		return 0, 0, 0, errors.New("no VmRSS/VmHWM in /proc status (has the process exited?)")
	}
	return rss, hwm, threads, nil
}

// Sockstat is the machine-wide TCP socket summary of /proc/net/sockstat.
// Kernel memory for socket buffers is not in any process's RSS, so it is
// reported next to the server's RSS.
type Sockstat struct {
	InUse    int   `json:"tcp_inuse"`
	Orphan   int   `json:"tcp_orphan"`
	TimeWait int   `json:"tcp_tw"`
	Alloc    int   `json:"tcp_alloc"`
	MemBytes int64 `json:"tcp_mem_bytes"` // "mem" is in pages
}

// ReadSockstat reads /proc/net/sockstat.
func ReadSockstat() (Sockstat, error) {
	b, err := os.ReadFile("/proc/net/sockstat")
	if err != nil {
		return Sockstat{}, fmt.Errorf("read socket statistics: %w", err)
	}
	return parseSockstat(b, os.Getpagesize())
}

func parseSockstat(b []byte, pageSize int) (Sockstat, error) {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		rest, ok := bytes.CutPrefix(line, []byte("TCP:"))
		if !ok {
			continue
		}
		var s Sockstat
		f := bytes.Fields(rest)
		if len(f)%2 != 0 {
			return Sockstat{}, fmt.Errorf("malformed sockstat line %q", line)
		}
		for i := 0; i < len(f); i += 2 {
			n, err := strconv.ParseInt(string(f[i+1]), 10, 64)
			if err != nil {
				return Sockstat{}, fmt.Errorf("malformed sockstat line %q: %w", line, err)
			}
			switch string(f[i]) {
			case "inuse":
				s.InUse = int(n)
			case "orphan":
				s.Orphan = int(n)
			case "tw":
				s.TimeWait = int(n)
			case "alloc":
				s.Alloc = int(n)
			case "mem":
				s.MemBytes = n * int64(pageSize)
			}
		}
		return s, nil
	}
	return Sockstat{}, errors.New("no TCP line in /proc/net/sockstat")
}
