package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"
)

// WorkerEnv is set to "1" in a worker process's environment, so that a
// program (or a test binary) can tell it must call ServeWorker.
const WorkerEnv = "HERALD_BENCH_WORKER"

// A worker holds part of the subscribers in its own process, past one
// process's file limit. The parent and the worker talk in JSON lines:
// the parent writes the group's spec, then "finish" with the publishers'
// acknowledged counts (or closes the pipe to stop); the worker writes its
// counters every statsEvery, then its result.
type workerMsg struct {
	Op       string       `json:"op"`
	Spec     *groupSpec   `json:"spec,omitempty"`     // start
	Expected []uint64     `json:"expected,omitempty"` // finish
	Stats    *GroupStats  `json:"stats,omitempty"`    // stats
	Result   *groupResult `json:"result,omitempty"`   // result
	Error    string       `json:"error,omitempty"`    // error
}

const statsEvery = 200 * time.Millisecond

// ServeWorker runs a worker on in and out (a worker process's standard
// input and output) until the parent asks for the result or goes away.
func ServeWorker(ctx context.Context, in io.Reader, out io.Writer) error {
	dec := json.NewDecoder(bufio.NewReader(in))
	enc := json.NewEncoder(out)
	var mu sync.Mutex
	send := func(m workerMsg) error {
		mu.Lock()
		defer mu.Unlock()
		return enc.Encode(m)
	}
	var start workerMsg
	if err := dec.Decode(&start); err != nil {
		return fmt.Errorf("bench worker: read the spec: %w", err)
	}
	if start.Op != "start" || start.Spec == nil {
		return fmt.Errorf("bench worker: expected a start message, got %q", start.Op)
	}
	RaiseFileLimit()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, err := newGroup(ctx, *start.Spec)
	if err != nil {
		send(workerMsg{Op: "error", Error: err.Error()})
		return err
	}
	g.start()

	cmds := make(chan workerMsg)
	go func() {
		defer close(cmds)
		for {
			var m workerMsg
			if err := dec.Decode(&m); err != nil {
				return // the parent closed the pipe or went away
			}
			select {
			case cmds <- m:
			case <-ctx.Done():
				return
			}
		}
	}()

	tick := time.NewTicker(statsEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			g.close()
			return ctx.Err()
		case <-tick.C:
			st := g.stats()
			if err := send(workerMsg{Op: "stats", Stats: &st}); err != nil {
				g.close()
				return fmt.Errorf("bench worker: write stats: %w", err)
			}
		case m, ok := <-cmds:
			if !ok || m.Op == "stop" {
				g.close()
				return nil
			}
			if m.Op != "finish" {
				continue
			}
			res, err := g.finish(m.Expected)
			if err != nil {
				send(workerMsg{Op: "error", Error: err.Error()})
				return err
			}
			return send(workerMsg{Op: "result", Result: res})
		}
	}
}

// groupHandle is a group of subscribers, in this process or in a worker.
type groupHandle interface {
	stats() GroupStats
	finish(ctx context.Context, expected []uint64) (*groupResult, error)
	close()
	pid() int
	err() error // a worker that failed
}

type localGroup struct{ g *group }

func (l localGroup) stats() GroupStats { return l.g.stats() }
func (l localGroup) finish(_ context.Context, expected []uint64) (*groupResult, error) {
	return l.g.finish(expected)
}
func (l localGroup) close()     { l.g.close() }
func (l localGroup) pid() int   { return os.Getpid() }
func (l localGroup) err() error { return nil }

// workerGroup is the parent's side of a worker process.
type workerGroup struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	enc   *json.Encoder

	mu      sync.Mutex
	last    GroupStats
	result  *groupResult
	failure error
	done    chan struct{} // closed when the worker's output ends
}

func defaultWorkerCommand(ctx context.Context) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this executable to start workers: %w", err)
	}
	return exec.CommandContext(ctx, exe, "bench", "--worker"), nil
}

func startWorker(ctx context.Context, cfg *Config, spec groupSpec) (*workerGroup, error) {
	mk := cfg.WorkerCommand
	if mk == nil {
		mk = defaultWorkerCommand
	}
	cmd, err := mk(ctx)
	if err != nil {
		return nil, err
	}
	cmd.Env = append(os.Environ(), WorkerEnv+"=1")
	cmd.Stderr = cfg.WorkerStderr
	cmd.WaitDelay = 5 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start a bench worker: %w", err)
	}
	w := &workerGroup{cmd: cmd, stdin: stdin, enc: json.NewEncoder(stdin), done: make(chan struct{})}
	go w.read(stdout)
	if err := w.enc.Encode(workerMsg{Op: "start", Spec: &spec}); err != nil {
		w.close()
		return nil, fmt.Errorf("send a bench worker its spec: %w", err)
	}
	return w, nil
}

func (w *workerGroup) read(r io.Reader) {
	defer close(w.done)
	dec := json.NewDecoder(bufio.NewReader(r))
	for {
		var m workerMsg
		if err := dec.Decode(&m); err != nil {
			w.mu.Lock()
			if w.result == nil && w.failure == nil {
				w.failure = fmt.Errorf("bench worker %d stopped: %w", w.cmd.Process.Pid, err)
			}
			w.mu.Unlock()
			return
		}
		w.mu.Lock()
		switch m.Op {
		case "stats":
			if m.Stats != nil {
				w.last = *m.Stats
			}
		case "result":
			w.result = m.Result
		case "error":
			w.failure = fmt.Errorf("bench worker %d: %s", w.cmd.Process.Pid, m.Error)
		}
		w.mu.Unlock()
	}
}

func (w *workerGroup) stats() GroupStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

func (w *workerGroup) err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failure
}

func (w *workerGroup) pid() int { return w.cmd.Process.Pid }

func (w *workerGroup) finish(ctx context.Context, expected []uint64) (*groupResult, error) {
	if err := w.enc.Encode(workerMsg{Op: "finish", Expected: expected}); err != nil {
		return nil, fmt.Errorf("ask bench worker %d for its result: %w", w.pid(), err)
	}
	select {
	case <-w.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.result != nil {
		return w.result, nil
	}
	if w.failure != nil {
		return nil, w.failure
	}
	return nil, errors.New("bench worker ended without a result")
}

// close ends the worker: closing its input tells it to stop.
func (w *workerGroup) close() {
	w.stdin.Close()
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-w.done:
	case <-t.C:
		w.cmd.Process.Kill()
	}
	w.cmd.Wait()
}
