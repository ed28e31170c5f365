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

package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/testenv"
	"github.com/keypool-dev/keypool-operator/internal/testproc"
)

// TestLocalCluster is what `make run` does on a machine with no cluster: a
// local control plane, the manager against it, and the printed kubectl
// commands applying the demo KeyPool, which turns Ready. Ctrl-C stops all.
func TestLocalCluster(t *testing.T) {
	root := testenv.RepoRoot()
	bins := t.TempDir()
	manager, err := testproc.GoBuild(context.Background(), root, bins, "manager", "./cmd/manager", "-race")
	if err != nil {
		t.Fatal(err)
	}
	local, err := testproc.GoBuild(context.Background(), root, bins, "localcluster", "./hack/localcluster", "-race")
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	p, err := testproc.StartIn(root, "localcluster", nil, local, "--assets", testenv.AssetsDir(), "--manager", manager,
		"--kubeconfig-out", kubeconfig, "--",
		// Ports the kernel picks as the manager binds: nothing here dials them.
		"--proxy-bind-address=127.0.0.1:0", "--health-probe-bind-address=127.0.0.1:0", "--status-interval=1s",
		// As `make run` (RUN_ARGS): the demo's fake provider is an allowed upstream.
		"--allowed-upstreams=http://127.0.0.1:9090")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(30 * time.Second) })
	if err := p.WaitFor("proxy listening", 90*time.Second); err != nil {
		t.Fatal(err)
	}

	// The printed commands, as a newcomer would copy them.
	var apply, get []string
	for _, line := range strings.Split(p.Output(), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) > 3 && f[3] == "apply":
			apply = f
		case len(f) > 3 && f[3] == "get":
			get = f
		}
	}
	if apply == nil || get == nil {
		t.Fatalf("no kubectl commands printed:\n%s", p.Output())
	}
	k := testproc.Kubectl{Bin: apply[0], Kubeconfig: kubeconfig}
	if _, err := k.Run("", append(apply[3:4], "-f", filepath.Join(root, "config", "samples", "demo"))...); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Run("", "wait", "--for=condition=Ready", "keypool/demo", "--timeout=60s"); err != nil {
		t.Fatal(err)
	}
	out, err := k.Run("", get[3:]...)
	if err != nil || !strings.Contains(out, "demo") {
		t.Fatalf("%s: %v %s", strings.Join(get, " "), err, out)
	}

	// Ctrl-C: the manager stops, then the control plane; the exit is clean.
	if err := p.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	case <-time.After(60 * time.Second):
		t.Fatalf("localcluster did not stop on SIGINT:\n%s", p.Output())
	}
	if code := p.ExitCode(); code != 0 {
		t.Fatalf("localcluster exit code %d:\n%s", code, p.Output())
	}
	if !strings.Contains(p.Output(), "stopping the control plane") {
		t.Fatalf("control plane not stopped:\n%s", p.Output())
	}
}
