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

package resilience

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/testproc"
)

// outage is how long the API server stays down: long enough for the
// manager's watches to break and their retries to back off.
const outage = 8 * time.Second

// TestAPIServerRestart stops the API server (etcd keeps running) and starts
// it again on the same port with the same certificates, while a manager
// serves a pool. The proxy must keep serving the pools it has throughout,
// and the manager must reconnect by itself: a KeyPool created after the
// restart must become served.
func TestAPIServerRestart(t *testing.T) {
	c := getCluster(t)
	m := c.startManager(t, "manager")
	m.waitServing(t, "claude", 60*time.Second)

	api := c.env.ControlPlane.APIServer
	certs := keepServingCerts(t, api.CertDir, c.bins)
	stopping := time.Now()
	if err := api.Stop(); err != nil {
		// envtest waits 20 s for a graceful stop, then kills the process:
		// a crash of the API server, which the manager must survive too.
		t.Logf("the API server did not stop gracefully (%v) and was killed after %v", err, time.Since(stopping).Round(time.Millisecond))
	}
	down := time.Now()
	// envtest drops the certificate folder it made; starting from a copy of
	// the serving certificate keeps the clients' CA valid. The client CA
	// lives in the APIServer's Authn, which is reused, so client
	// certificates stay valid too.
	api.CertDir = certs

	// The data plane does not need the API server: every request of the
	// outage is served.
	served, failed := 0, 0
	for time.Since(down) < outage {
		if code := m.call("claude"); code == http.StatusOK {
			served++
		} else {
			failed++
			t.Errorf("during the outage the pool answered %d", code)
		}
	}
	var apiOut strings.Builder
	api.Out, api.Err = &lockedWriter{w: &apiOut}, &lockedWriter{w: &apiOut}
	if err := api.Start(); err != nil {
		t.Fatalf("restarting the API server: %v\n%s", err, lastLines(apiOut.String(), 40))
	}
	up := time.Now()
	select {
	case <-m.Done():
		t.Fatalf("the manager exited during the API server outage:\n%s", m.Output())
	default:
	}

	// The manager reconnects: a KeyPool created now gets built and served.
	const late = `
apiVersion: llm.keypool.dev/v1alpha1
kind: KeyPool
metadata: {name: after-restart, namespace: resilience}
spec:
  upstream: FAKE
  keys: [{secretRef: {name: keys}}]
  clientAuth: {secretRef: {name: clients}}
`
	if err := testproc.Poll(30*time.Second, 200*time.Millisecond, func() error {
		_, err := c.kubectl.Run(strings.ReplaceAll(late, "FAKE", c.fakeURL), "apply", "-f", "-")
		return err
	}); err != nil {
		t.Fatalf("the restarted API server does not take the KeyPool: %v", err)
	}
	applied := time.Since(up)
	reconnect := m.waitServing(t, "after-restart", 60*time.Second)
	if code := m.call("claude"); code != http.StatusOK {
		t.Fatalf("the old pool answered %d after the restart", code)
	}
	t.Logf("API server down %v: %d requests served, %d failed; KeyPool applied %v after the restart, served %v later",
		up.Sub(down).Round(time.Millisecond), served, failed, applied.Round(time.Millisecond), reconnect.Round(time.Millisecond))
}

// keepServingCerts copies the API server's certificate folder (serving
// certificate and key, service-account signing keys) to a folder under
// base, which envtest will reuse instead of minting a new serving CA that no
// kubeconfig trusts. The folder outlives the test: the API server keeps
// reading its certificate files until the package ends.
func keepServingCerts(t *testing.T, from, base string) string {
	t.Helper()
	to, err := os.MkdirTemp(base, "apiserver-certs-")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatalf("reading the API server's certificate folder: %v", err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(to, "apiserver.crt")); err != nil {
		t.Fatalf("the API server's serving certificate is not where envtest keeps it: %v", err)
	}
	return to
}

// lockedWriter serialises the API server's stdout and stderr into one
// buffer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestAPIServerOutageWithLeaderElection repeats the outage with leader
// election on, as config/manager deploys the manager. A leader that cannot
// renew its Lease within the renew deadline (10 s) loses it; only the status
// publisher elects a leader, so losing the Lease must stop status writes,
// never the manager or its proxy. The test still plays kubelet (restarting
// a manager that exits) so that a regression shows as exits and failed
// probes rather than a hung test.
func TestAPIServerOutageWithLeaderElection(t *testing.T) {
	c := getCluster(t)
	requireFlag(t, c.manager, "leader-election-namespace")
	args := []string{"--leader-elect", "--leader-election-namespace=" + leaseNamespace}
	first := c.startManager(t, "manager", args...)
	if err := first.WaitFor("Successfully acquired lease", 60*time.Second); err != nil {
		t.Fatal(err)
	}
	first.waitServing(t, "claude", 60*time.Second)

	api := c.env.ControlPlane.APIServer
	certs := keepServingCerts(t, api.CertDir, c.bins)
	start := time.Now()
	w := &watcher{start: start, answered: map[int]int{}}
	w.current.Store(first)
	stop, probed := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(probed)
		w.run(t, c, args, stop)
	}()

	if err := api.Stop(); err != nil {
		t.Logf("the API server did not stop gracefully (%v) and was killed", err)
	}
	api.CertDir = certs
	time.Sleep(outage) // the outage itself: nothing to wait for
	if err := api.Start(); err != nil {
		t.Fatalf("restarting the API server: %v", err)
	}
	up := time.Since(start)
	err := testproc.Poll(90*time.Second, 100*time.Millisecond, func() error {
		if code := w.current.Load().call("claude"); code != http.StatusOK {
			return fmt.Errorf("pool answered %d", code)
		}
		return nil
	})
	close(stop)
	<-probed
	if err != nil {
		t.Fatalf("the pool is not served again after the outage: %v", err)
	}
	t.Logf("API server down from 0s to %v; %s", up.Round(100*time.Millisecond), w)
	if w.exits > 0 || w.answered[http.StatusOK] == 0 || len(w.answered) > 1 {
		t.Fatalf("with --leader-elect the pool was not served throughout the outage: %s", w)
	}
}

// watcher probes the pool through the current manager and restarts the
// manager when it exits, as kubelet would.
type watcher struct {
	start   time.Time
	current atomic.Pointer[manager]

	mu                  sync.Mutex
	answered            map[int]int // probes by status (0: no answer)
	exits               int
	firstExit           time.Duration
	firstFail, lastFail time.Duration
	exitLines           []string // why the first managers exited
}

func (w *watcher) run(t *testing.T, c *cluster, args []string, stop <-chan struct{}) {
	// Probes are paced, not synchronised: one every 20 ms.
	pace := time.NewTicker(20 * time.Millisecond)
	defer pace.Stop()
	for {
		select {
		case <-stop:
			return
		case <-pace.C:
		}
		m := w.current.Load()
		select {
		case <-m.Done():
			w.mu.Lock()
			if w.exits == 0 {
				w.firstExit = time.Since(w.start)
			}
			w.exits++
			if len(w.exitLines) < 3 {
				w.exitLines = append(w.exitLines, lastErrorLine(m.Output()))
			}
			w.mu.Unlock()
			time.Sleep(time.Second) // kubelet's restart delay, shortened
			w.current.Store(c.startManager(t, "manager", args...))
			continue
		default:
		}
		code := m.call("claude")
		at := time.Since(w.start)
		w.mu.Lock()
		w.answered[code]++
		if code != http.StatusOK {
			if w.firstFail == 0 {
				w.firstFail = at
			}
			w.lastFail = at
		}
		w.mu.Unlock()
	}
}

func (w *watcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := func(d time.Duration) time.Duration { return d.Round(100 * time.Millisecond) }
	return fmt.Sprintf("manager exits: %d (first at %v); probes by status %v; pool not served from %v to %v; exit reasons: %q",
		w.exits, r(w.firstExit), w.answered, r(w.firstFail), r(w.lastFail), w.exitLines)
}

// lastErrorLine returns the last error-level log line of a manager's
// output, which says why it exited.
func lastErrorLine(out string) string {
	lines := strings.Split(out, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], `"level":"error"`) {
			return lines[i]
		}
	}
	return lastLines(out, 1)
}
