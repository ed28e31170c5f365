package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// startTimeout bounds how long a child process may take to announce its
// address.
const startTimeout = 20 * time.Second

// buildBinaries compiles the fake provider and the proxy server into dir and
// returns their paths.
func buildBinaries(ctx context.Context, dir string) (fake, proxy string, err error) {
	fake = filepath.Join(dir, "fakeprovider")
	proxy = filepath.Join(dir, "proxyserver")
	for bin, pkg := range map[string]string{fake: "./cmd/fakeprovider", proxy: "./test/perf/proxyserver"} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return "", "", fmt.Errorf("go build %s: %w", pkg, err)
		}
	}
	return fake, proxy, nil
}

// process is a child process that announced "... listening on http://ADDR"
// (and optionally "... pprof on http://ADDR") on its standard output.
type process struct {
	name  string
	cmd   *exec.Cmd
	url   string        // base URL from the "listening on" line
	pprof string        // base URL from the "pprof on" line, if any
	done  chan struct{} // closed when the process has exited
	err   error         // cmd.Wait's result, once done is closed
	once  sync.Once
}

// startProcess runs bin with args and waits for its "listening on" line.
func startProcess(ctx context.Context, name, bin string, args ...string) (*process, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("%s stdout: %w", name, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, done: make(chan struct{})}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		announced := false
		for sc.Scan() {
			line := sc.Text()
			if _, u, ok := strings.Cut(line, " pprof on "); ok {
				p.pprof = strings.TrimSpace(u)
			}
			if _, u, ok := strings.Cut(line, " listening on "); ok && !announced {
				p.url = strings.TrimSpace(u)
				announced = true
				close(ready)
			}
		}
		p.err = cmd.Wait()
		close(p.done)
	}()
	select {
	case <-ready:
		if err := requireLoopback(p.url); err != nil {
			p.stop()
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if p.pprof != "" {
			if err := requireLoopback(p.pprof); err != nil {
				p.stop()
				return nil, fmt.Errorf("%s pprof: %w", name, err)
			}
		}
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("%s exited before listening: %w", name, p.err)
	case <-time.After(startTimeout):
		p.stop()
		return nil, fmt.Errorf("%s did not announce its address within %s", name, startTimeout)
	}
}

// stop sends SIGTERM and waits; after 10 s it kills the process. Later
// calls do nothing.
func (p *process) stop() {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
}

// pid is the child's process id.
func (p *process) pid() int { return p.cmd.Process.Pid }

// rssMiB reads VmRSS of process pid from /proc, in MiB.
func rssMiB(pid int) (float64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read status of %d: %w", pid, err)
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
		if err != nil {
			return 0, fmt.Errorf("parse VmRSS %q: %w", rest, err)
		}
		return kb / 1024, nil
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// rssSampler records the peak RSS of a process until stopped.
type rssSampler struct {
	stopc chan struct{}
	peak  chan float64
}

// sampleRSS polls the RSS of pid every 50 ms.
func sampleRSS(pid int) *rssSampler {
	s := &rssSampler{stopc: make(chan struct{}), peak: make(chan float64, 1)}
	go func() {
		var peak float64
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			if v, err := rssMiB(pid); err == nil && v > peak {
				peak = v
			}
			select {
			case <-s.stopc:
				s.peak <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

// stop ends sampling and returns the peak in MiB.
func (s *rssSampler) stop() float64 {
	close(s.stopc)
	return <-s.peak
}
