/*
Copyright 2026 The keypool-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Package testproc runs the project's real binaries from tests and from the
// measuring programs (bench/cmd/loadgen): building them, starting them with their
// output kept, waiting for a log line, stopping them gracefully or killing
// them, and running kubectl. It is the one place process handling lives.
package testproc

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is a running binary with its output kept for assertions.
type Process struct {
	Name string
	cmd  *exec.Cmd
	out  *lineLog
	done chan struct{}
}

// lineLog keeps a process's output and lets a test wait for a line.
type lineLog struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced on every line
}

func (l *lineLog) add(line string) {
	l.mu.Lock()
	l.buf.WriteString(line)
	l.buf.WriteByte('\n')
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

// Output is everything the process printed so far (stdout and stderr).
func (p *Process) Output() string {
	p.out.mu.Lock()
	defer p.out.mu.Unlock()
	return p.out.buf.String()
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Pid is the process ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// WaitFor blocks until the output contains s, the process exits, or the
// timeout passes. It waits on each new line, not by polling.
func (p *Process) WaitFor(s string, timeout time.Duration) error {
	_, err := p.WaitForLine(s, timeout)
	return err
}

// WaitForLine is WaitFor returning the first whole line that contains s,
// for a process that announces what it chose (an address, a port).
func (p *Process) WaitForLine(s string, timeout time.Duration) (string, error) {
	deadline := time.After(timeout)
	for {
		p.out.mu.Lock()
		out, changed := p.out.buf.String(), p.out.changed
		p.out.mu.Unlock()
		if line, ok := lineWith(out, s); ok {
			return line, nil
		}
		select {
		case <-changed:
		case <-p.done:
			return "", fmt.Errorf("%s exited before printing %q:\n%s", p.Name, s, p.Output())
		case <-deadline:
			return "", fmt.Errorf("%s did not print %q within %v:\n%s", p.Name, s, timeout, p.Output())
		}
	}
}

// lineWith returns the first line of out that contains s.
func lineWith(out, s string) (string, bool) {
	i := strings.Index(out, s)
	if i < 0 {
		return "", false
	}
	start := strings.LastIndexByte(out[:i], '\n') + 1
	end := strings.IndexByte(out[i:], '\n')
	if end < 0 {
		return out[start:], true
	}
	return out[start : i+end], true
}

// Start runs bin with args and extra environment, keeping its output.
func Start(name string, env []string, bin string, args ...string) (*Process, error) {
	return StartIn("", name, env, bin, args...)
}

// StartIn is Start in the working directory dir ("" for the caller's).
func StartIn(dir, name string, env []string, bin string, args ...string) (*Process, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	p := &Process{Name: name, cmd: cmd, out: &lineLog{changed: make(chan struct{})}, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			p.out.add(sc.Text())
		}
	}()
	go func() {
		_ = cmd.Wait()
		_ = pw.Close()
		close(p.done)
	}()
	return p, nil
}

// Stop sends SIGTERM and waits for a graceful exit, killing after grace.
func (p *Process) Stop(grace time.Duration) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.Kill()
	}
}

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// ExitCode is the exit code of a process that has exited (-1 before).
func (p *Process) ExitCode() int { return p.cmd.ProcessState.ExitCode() }

// Kill sends SIGKILL (no shutdown, no lease release: a crash or an OOM
// kill) and waits for the process to be gone.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// GoBuild builds the package pkg of the module at root into dir/name, with
// extra go build flags (e.g. "-race").
func GoBuild(ctx context.Context, root, dir, name, pkg string, flags ...string) (string, error) {
	out := filepath.Join(dir, name)
	args := append(append([]string{"build"}, flags...), "-o", out, pkg)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w: %s", pkg, err, msg)
	}
	return out, nil
}

// Kubectl runs the real kubectl against a control plane.
type Kubectl struct {
	Bin, Kubeconfig string
}

// Run runs kubectl with args, stdin as its standard input when not empty.
func (k Kubectl) Run(stdin string, args ...string) (string, error) {
	cmd := exec.Command(k.Bin, append([]string{"--kubeconfig", k.Kubeconfig}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// Poll calls cond every interval until it returns nil or timeout passes,
// and returns the last error. It is for process-level state (a port that
// answers, a Lease that changes hands) that offers no event to wait on.
func Poll(timeout, interval time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(interval)
	}
}
