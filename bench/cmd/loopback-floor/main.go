//go:build linux

// Command loopback-floor measures what no SSE server on this machine can beat:
// the cost of putting one small write on each of N loopback TCP streams, with
// nothing between the writer and the socket but the write system call.
//
// It opens N connected socket pairs in one process, then, each round, writes
// one message of -size bytes to every server-side socket from -writers
// threads while -readers threads drain the client sides through epoll (as a
// load generator on the same machine would). On loopback the kernel delivers
// the bytes into the receiver's queue inside the sender's write call, so the
// moment a write returns is the moment its data arrived: the distribution of
// those moments over a round is the lowest "publish to arrival" latency any
// server can show for one update to N subscribers on this machine, and the
// writers' own CPU time per write is the lowest server CPU per delivery (or
// per heartbeat, with -size 7).
//
//	go run ./cmd/loopback-floor -n 9900                       # a 160-byte event to 9,900 streams
//	go run ./cmd/loopback-floor -n 9900 -size 7 -readers 0    # a chunked heartbeat, nobody reading
//	go run ./cmd/loopback-floor -n 9900 -uring                # batched through Herald's io_uring
//
// N is bounded by the process's file limit: two descriptors per stream.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/heraldpush/herald/internal/uring"
)

func main() {
	n := flag.Int("n", 9900, "streams (two file descriptors each)")
	size := flag.Int("size", 160, "bytes per write (160: a 100-byte event with its id and framing; 7: a chunked heartbeat)")
	writers := flag.Int("writers", runtime.NumCPU(), "writer threads (a server's dispatch threads)")
	readers := flag.Int("readers", runtime.NumCPU(), "reader threads draining the client sides (0: nobody reads)")
	rounds := flag.Int("rounds", 20, "rounds, one write per stream each")
	pause := flag.Duration("pause", 200*time.Millisecond, "pause between rounds (lets the readers drain)")
	useSend := flag.Bool("sendto", false, "write with sendto(2) instead of write(2)")
	useUring := flag.Bool("uring", false, "send through an io_uring per writer, a batch of up to 256 sends per system call, as Herald's shards do (arrival: when its batch completes)")
	flag.Parse()
	if *n < 1 || *size < 1 || *writers < 1 || *readers < 0 || *rounds < 1 {
		fmt.Fprintln(os.Stderr, "loopback-floor: -n, -size, -writers and -rounds must be positive, -readers not negative")
		os.Exit(2)
	}
	// Nothing here needs collecting, and a collection in the middle of a
	// round would be counted as the kernel's time.
	debug.SetGCPercent(-1)
	if err := raiseFileLimit(2**n + 64); err != nil {
		fmt.Fprintln(os.Stderr, "loopback-floor:", err)
		os.Exit(1)
	}
	server, client, err := pairs(*n)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loopback-floor:", err)
		os.Exit(1)
	}
	for r := 0; r < *readers; r++ {
		if err := startReader(client[r:], *readers); err != nil {
			fmt.Fprintln(os.Stderr, "loopback-floor:", err)
			os.Exit(1)
		}
	}

	msg := make([]byte, *size)
	for i := range msg {
		msg[i] = 'x'
	}
	rings := make([]*uring.Ring, *writers)
	if *useUring {
		for w := range rings {
			if rings[w], err = uring.New(256); err != nil {
				fmt.Fprintln(os.Stderr, "loopback-floor:", err)
				os.Exit(1)
			}
		}
	}
	cpu0 := processCPU()
	arrivals := make([]time.Duration, 0, *n**rounds)
	var roundTimes []time.Duration
	var cpu time.Duration
	for round := 0; round < *rounds; round++ {
		at := make([]time.Duration, *n)
		cpus := make([]time.Duration, *writers)
		start := time.Now()
		var wg sync.WaitGroup
		for w := 0; w < *writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				before := threadCPU()
				defer func() { cpus[w] = threadCPU() - before }()
				if *useUring {
					// One batch of the ring's size per system call; a
					// batch's sends count as arrived when it returns.
					var batch []uring.Send
					var index []int
					for i := w; i < *n; i += *writers {
						batch = append(batch, uring.Send{FD: server[i], Buf: msg})
						index = append(index, i)
						if len(batch) == rings[w].Size() || i+*writers >= *n {
							if err := rings[w].Send(batch); err != nil {
								panic(err)
							}
							for j, s := range batch {
								if s.Err != nil || s.N != len(msg) {
									panic(fmt.Sprintf("send to stream %d: %d bytes, %v", index[j], s.N, s.Err))
								}
								at[index[j]] = time.Since(start)
							}
							batch, index = batch[:0], index[:0]
						}
					}
					return
				}
				for i := w; i < *n; i += *writers {
					wr := write
					if *useSend {
						wr = send
					}
					if _, err := wr(server[i], msg); err != nil {
						panic(fmt.Sprintf("write to stream %d: %v", i, err))
					}
					at[i] = time.Since(start)
				}
			}()
		}
		wg.Wait()
		for _, c := range cpus {
			cpu += c
		}
		roundTimes = append(roundTimes, slices.Max(at))
		arrivals = append(arrivals, at...)
		time.Sleep(*pause)
	}

	slices.Sort(arrivals)
	pct := func(q float64) time.Duration {
		return arrivals[int(q*float64(len(arrivals)-1))].Round(100 * time.Microsecond)
	}
	var sum time.Duration
	for _, r := range roundTimes {
		sum += r
	}
	writes := float64(*n * *rounds)
	fmt.Printf("loopback-floor: %d streams, %d-byte writes, %d writer / %d reader threads, %d rounds, %d CPUs\n",
		*n, *size, *writers, *readers, *rounds, runtime.NumCPU())
	fmt.Printf("  arrival after the round starts: p50 %v  p90 %v  p99 %v  max %v\n", pct(.5), pct(.9), pct(.99), pct(1))
	fmt.Printf("  round (last write done): mean %v\n", (sum / time.Duration(len(roundTimes))).Round(100*time.Microsecond))
	fmt.Printf("  writer CPU per write: %.2f µs (user+system, the writers' threads only)\n", float64(cpu.Nanoseconds())/1e3/writes)
	fmt.Printf("  process CPU per write: %.2f µs (every thread: writers, readers, any kernel work on the process's behalf; pauses included)\n", float64((processCPU()-cpu0).Nanoseconds())/1e3/writes)
}

// pairs connects n TCP streams over loopback and returns the raw descriptors
// of both ends: server (blocking, for write) and client (non-blocking, for
// the epoll readers).
func pairs(n int) (server, client []int, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	defer ln.Close()
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return nil, nil, fmt.Errorf("stream %d: %w", i, err)
		}
		s, err := ln.Accept()
		if err != nil {
			return nil, nil, fmt.Errorf("stream %d: %w", i, err)
		}
		sfd, err := detach(s.(*net.TCPConn))
		if err != nil {
			return nil, nil, err
		}
		cfd, err := detach(c.(*net.TCPConn))
		if err != nil {
			return nil, nil, err
		}
		if err := syscall.SetNonblock(cfd, true); err != nil {
			return nil, nil, err
		}
		server = append(server, sfd)
		client = append(client, cfd)
	}
	return server, client, nil
}

// detach takes a descriptor of its own for c (blocking) and closes c.
func detach(c *net.TCPConn) (int, error) {
	defer c.Close()
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	fd := -1
	var dupErr error
	if err := raw.Control(func(s uintptr) { fd, dupErr = syscall.Dup(int(s)) }); err != nil {
		return 0, err
	}
	if dupErr != nil {
		return 0, fmt.Errorf("dup: %w", dupErr)
	}
	return fd, syscall.SetNonblock(fd, false)
}

// startReader drains every step-th descriptor of fds from a thread of its
// own with an edge-triggered epoll.
func startReader(fds []int, step int) error {
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	for i := 0; i < len(fds); i += step {
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN | epollET, Fd: int32(fds[i])}
		if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, fds[i], &ev); err != nil {
			return err
		}
	}
	go func() {
		runtime.LockOSThread()
		events := make([]syscall.EpollEvent, 256)
		buf := make([]byte, 4096)
		for {
			k, err := syscall.EpollWait(ep, events, -1)
			if err != nil {
				continue // EINTR
			}
			for _, e := range events[:k] {
				for {
					m, err := syscall.Read(int(e.Fd), buf)
					if err != nil || m < len(buf) {
						break
					}
				}
			}
		}
	}()
	return nil
}

// write is one write system call without the runtime's scheduler hooks, as a
// server that writes to a non-blocking socket it knows to be writable would
// make it.
func write(fd int, p []byte) (int, error) {
	n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if errno != 0 {
		return int(n), errno
	}
	return int(n), nil
}

// send is write as sendto(2) with MSG_DONTWAIT|MSG_NOSIGNAL: the socket
// layer directly, without the file layer of write(2).
func send(fd int, p []byte) (int, error) {
	n, _, errno := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), syscall.MSG_DONTWAIT|syscall.MSG_NOSIGNAL, 0, 0)
	if errno != 0 {
		return int(n), errno
	}
	return int(n), nil
}

// threadCPU is the calling thread's user and system time.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	const rusageThread = 1 // RUSAGE_THREAD
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// raiseFileLimit lifts the soft file limit to the hard one and checks that
// want descriptors fit.
func raiseFileLimit(want int) error {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return err
	}
	rl.Cur = rl.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return err
	}
	if uint64(want) > rl.Cur {
		return fmt.Errorf("%d streams need %d open files; the limit is %d", (want-64)/2, want, rl.Cur)
	}
	return nil
}

// epollET is EPOLLET as the uint32 an EpollEvent holds (package syscall
// declares it negative).
const epollET = 1 << 31

// processCPU is the user and system time of every thread of this process.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
