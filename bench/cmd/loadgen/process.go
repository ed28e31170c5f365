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

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/testproc"
)

// startTimeout bounds how long a child process may take to announce its
// address.
const startTimeout = 20 * time.Second

// The programs the harness builds, by import path rather than ./cmd/...: the
// fake provider is the operator module's, and the harness may be started
// from any folder of the bench module.
const (
	fakeProviderPkg = "github.com/keypool-dev/keypool-operator/cmd/fakeprovider"
	proxyServerPkg  = "github.com/keypool-dev/keypool-operator/bench/cmd/proxyserver"
)

// buildBinaries compiles the fake provider and the proxy server into dir and
// returns their paths.
func buildBinaries(ctx context.Context, dir string) (fake, proxy string, err error) {
	if fake, err = testproc.GoBuild(ctx, "", dir, "fakeprovider", fakeProviderPkg); err != nil {
		return "", "", err
	}
	if proxy, err = testproc.GoBuild(ctx, "", dir, "proxyserver", proxyServerPkg); err != nil {
		return "", "", err
	}
	return fake, proxy, nil
}

// process is a child process that announced "... listening on http://ADDR"
// (and optionally, before that, "... pprof on http://ADDR").
type process struct {
	*testproc.Process
	url   string // base URL from the "listening on" line
	pprof string // base URL from the "pprof on" line, if any
}

// startProcess runs bin with args and waits for its "listening on" line.
func startProcess(name, bin string, args ...string) (*process, error) {
	return startProcessEnv(name, nil, bin, args...)
}

// startProcessEnv is startProcess with env added to the environment.
func startProcessEnv(name string, env []string, bin string, args ...string) (*process, error) {
	tp, err := testproc.Start(name, env, bin, args...)
	if err != nil {
		return nil, err
	}
	p := &process{Process: tp}
	if p.url, err = announced(tp, " listening on ", startTimeout); err != nil {
		p.stop()
		return nil, err
	}
	// Programs print the pprof line before the listening line, so its
	// absence now means there is none.
	if strings.Contains(tp.Output(), " pprof on ") {
		if p.pprof, err = announced(tp, " pprof on ", 0); err != nil {
			p.stop()
			return nil, err
		}
	}
	return p, nil
}

// announced waits for the line "... <marker> URL" and returns the URL,
// refusing anything but 127.0.0.1.
func announced(p *testproc.Process, marker string, timeout time.Duration) (string, error) {
	line, err := p.WaitForLine(marker, timeout)
	if err != nil {
		return "", err
	}
	_, u, _ := strings.Cut(line, marker)
	u = strings.TrimSpace(u)
	if err := requireLoopback(u); err != nil {
		return "", fmt.Errorf("%s: %w", p.Name, err)
	}
	return u, nil
}

// stop sends SIGTERM and waits; after 10 s it kills the process. Later
// calls return at once.
func (p *process) stop() { p.Stop(10 * time.Second) }

// pid is the child's process id.
func (p *process) pid() int { return p.Pid() }

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
