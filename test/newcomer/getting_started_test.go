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

// Package newcomer follows docs/getting-started.md as a newcomer would: the
// shell blocks of its "Try it on your machine" section, copied from the page
// and run as they are, in their terminals.
package newcomer

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/testenv"
)

const (
	page    = "docs/getting-started.md"
	section = "## Try it on your machine"
)

// TestGettingStartedOnYourMachine runs the section's three shell blocks:
// the first (`make run`: the local control plane and the manager) and the
// second (`make fake-provider`) as the long-running terminals they are, the
// third once both listen. It passes when the third block's streamed answer
// arrives event by event through the proxy, complete, and the pool is
// listed. No cluster may answer through the kubeconfig, so `make run`
// takes the local control plane, as on a newcomer's laptop.
func TestGettingStartedOnYourMachine(t *testing.T) {
	blocks := shellBlocks(t)
	if len(blocks) != 3 {
		t.Fatalf("%s %q: want 3 shell blocks (operator, fake provider, client), got %d", page, section, len(blocks))
	}
	for _, addr := range []string{"127.0.0.1:8080", "127.0.0.1:8081", "127.0.0.1:9090"} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("the page uses %s, which is taken: %v", addr, err)
		}
		_ = ln.Close()
	}
	env := append(os.Environ(), "KUBECONFIG="+filepath.Join(t.TempDir(), "none"))

	operator := startTerminal(t, "terminal 1", blocks[0], env)
	fake := startTerminal(t, "terminal 2", blocks[1], env)
	// The first run of make run may build the manager and vet the module.
	operator.waitFor(t, "proxy listening", 15*time.Minute)
	fake.waitFor(t, "fakeprovider listening", 5*time.Minute)

	cmd := exec.Command("bash", "-euo", "pipefail", "-c", blocks[2])
	cmd.Dir = testenv.RepoRoot()
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("terminal 3: %v\n%s\n--- terminal 1:\n%s", err, out, operator.output())
	}
	text := string(out)
	events := []string{"event: message_start", "event: content_block_delta", "event: message_delta", "event: message_stop"}
	last := -1
	for _, e := range events {
		i := strings.Index(text, e)
		if i < 0 || i < last {
			t.Fatalf("terminal 3: no %q after the previous events in the streamed answer:\n%s", e, text)
		}
		last = i
	}
	if !strings.Contains(text, "demo") || !strings.Contains(text, "least-loaded") {
		t.Errorf("terminal 3: kubectl get keypools does not list the demo pool:\n%s", text)
	}
}

// shellBlocks returns the ```sh blocks of the section, in order.
func shellBlocks(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), page))
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	var cur []string
	in, inBlock := false, false
	for _, l := range strings.Split(string(raw), "\n") {
		switch {
		case strings.HasPrefix(l, "## "):
			in = l == section
		case !in:
		case l == "```sh":
			inBlock, cur = true, nil
		case l == "```" && inBlock:
			inBlock = false
			blocks = append(blocks, strings.Join(cur, "\n"))
		case inBlock:
			cur = append(cur, l)
		}
	}
	return blocks
}

// terminal is a long-running block in a process group of its own, so that
// Ctrl-C reaches every process it started, as in a real terminal.
type terminal struct {
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

func (tm *terminal) Write(p []byte) (int, error) {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return tm.out.Write(p)
}

func (tm *terminal) output() string {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return tm.out.String()
}

func startTerminal(t *testing.T, name, block string, env []string) *terminal {
	t.Helper()
	tm := &terminal{name: name, done: make(chan struct{})}
	tm.cmd = exec.Command("bash", "-euo", "pipefail", "-c", block)
	tm.cmd.Dir = testenv.RepoRoot()
	tm.cmd.Env = env
	tm.cmd.Stdout, tm.cmd.Stderr = tm, tm
	tm.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := tm.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	go func() { _ = tm.cmd.Wait(); close(tm.done) }()
	t.Cleanup(func() {
		// Ctrl-C, then, if the terminal is still busy after a minute, kill.
		_ = syscall.Kill(-tm.cmd.Process.Pid, syscall.SIGINT)
		select {
		case <-tm.done:
		case <-time.After(time.Minute):
			_ = syscall.Kill(-tm.cmd.Process.Pid, syscall.SIGKILL)
			<-tm.done
		}
	})
	return tm
}

// waitFor waits until the terminal printed s, failing if it exits first or
// timeout passes.
func (tm *terminal) waitFor(t *testing.T, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(tm.output(), s) {
		select {
		case <-tm.done:
			t.Fatalf("%s exited before printing %q:\n%s", tm.name, s, tm.output())
		case <-deadline:
			t.Fatalf("%s printed no %q within %s:\n%s", tm.name, s, timeout, tm.output())
		case <-tick.C:
		}
	}
}
