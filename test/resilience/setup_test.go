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

// Package resilience checks that the real manager binary survives what
// happens to controllers in production: being killed and restarted, losing
// and handing over leadership, and the API server going away for a while.
// It runs the binary against an envtest control plane with kubectl, as
// test/e2e does, with the fake provider served from the test process.
package resilience

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/keypool-dev/keypool-operator/internal/fakeprovider"
	"github.com/keypool-dev/keypool-operator/internal/testenv"
	"github.com/keypool-dev/keypool-operator/internal/testproc"
)

const (
	namespace   = "resilience"
	clientToken = "resilience-client-token"
	// leaseNamespace holds the leader-election Lease: out of a cluster the
	// manager cannot find its own namespace.
	leaseNamespace = "keypool-system"
	leaseName      = "keypool-operator.llm.keypool.dev"
)

var keyValues = []string{"res-key-1", "res-key-2", "res-key-3"}

const manifests = `
apiVersion: v1
kind: Namespace
metadata: {name: resilience}
---
apiVersion: v1
kind: Namespace
metadata: {name: keypool-system}
---
apiVersion: v1
kind: Secret
metadata: {name: keys, namespace: resilience, labels: {llm.keypool.dev/secret-type: provider-keys}}
stringData: {a: res-key-1, b: res-key-2, c: res-key-3}
---
apiVersion: v1
kind: Secret
metadata: {name: clients, namespace: resilience, labels: {llm.keypool.dev/secret-type: client-tokens}}
stringData: {app: ` + clientToken + `}
---
apiVersion: llm.keypool.dev/v1alpha1
kind: KeyPool
metadata: {name: claude, namespace: resilience}
spec:
  upstream: FAKE
  keys: [{secretRef: {name: keys}}]
  clientAuth: {secretRef: {name: clients}}
`

// cluster is the control plane, kubectl, the fake provider and the built
// manager, shared by the package's tests.
type cluster struct {
	env     *envtest.Environment
	kubectl testproc.Kubectl
	fake    *fakeprovider.Provider
	fakeURL string
	bins    string // folder of the manager binary and its named copies
	manager string // the built binary
}

var (
	shared    *cluster
	sharedErr error
	setupOnce sync.Once
	teardown  []func()
)

func TestMain(m *testing.M) {
	// envtest logs through controller-runtime's logger; the test has
	// nothing to add to its output.
	logf.SetLogger(logr.Discard())
	code := m.Run()
	for i := len(teardown) - 1; i >= 0; i-- {
		teardown[i]()
	}
	os.Exit(code)
}

// getCluster starts the shared cluster on first use.
func getCluster(t *testing.T) *cluster {
	t.Helper()
	setupOnce.Do(func() { shared, sharedErr = setUp() })
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return shared
}

func setUp() (*cluster, error) {
	c := &cluster{}
	var err error
	if c.bins, err = os.MkdirTemp("", "keypool-resilience-"); err != nil {
		return nil, err
	}
	teardown = append(teardown, func() { _ = os.RemoveAll(c.bins) })
	// No -race here: the restart and handover times are measured, and the
	// race detector would slow the binary's start several times over.
	if c.manager, err = testproc.GoBuild(context.Background(), testenv.RepoRoot(), c.bins, "manager", "./cmd/manager"); err != nil {
		return nil, err
	}

	keys := make([]fakeprovider.Key, len(keyValues))
	for i, v := range keyValues {
		keys[i] = fakeprovider.Key{Key: v, Org: "org-" + v}
	}
	c.fake = fakeprovider.New(fakeprovider.Config{Keys: keys})
	fake := httptest.NewServer(c.fake)
	teardown = append(teardown, fake.Close)
	c.fakeURL = fake.URL

	c.env, _, err = testenv.StartWith(testenv.AssetsDir(), []string{filepath.Join(testenv.RepoRoot(), "config", "crd", "bases")})
	if err != nil {
		return nil, err
	}
	teardown = append(teardown, func() { _ = c.env.Stop() })
	kubeconfig := filepath.Join(c.bins, "kubeconfig")
	if err := testenv.WriteAdminKubeconfig(c.env, kubeconfig); err != nil {
		return nil, err
	}
	c.kubectl = testproc.Kubectl{Bin: filepath.Join(testenv.AssetsDir(), "kubectl"), Kubeconfig: kubeconfig}
	if _, err := c.kubectl.Run(strings.ReplaceAll(manifests, "FAKE", c.fakeURL), "apply", "-f", "-"); err != nil {
		return nil, err
	}
	return c, nil
}

// manager is one running manager process and where it serves.
type manager struct {
	*testproc.Process
	proxyURL, probeURL string
	started            time.Time
}

// startManager starts the manager binary under name with the test's own
// flags (free ports, short intervals, debug logs) and extra ones.
func (c *cluster) startManager(t *testing.T, name string, extra ...string) *manager {
	t.Helper()
	proxyAddr, probeAddr := freeAddr(t), freeAddr(t)
	args := append([]string{
		"--proxy-bind-address=" + proxyAddr, "--health-probe-bind-address=" + probeAddr,
		"--metrics-bind-address=0", "--status-interval=1s", "--proxy-service-url=http://" + proxyAddr,
		"--shutdown-grace=2s", "--log-level=debug", "--allowed-upstreams=" + c.fakeURL,
	}, extra...)
	return c.launch(t, name, proxyAddr, probeAddr, args)
}

// launch starts the manager binary under name (a hard link, so that the
// API server records the name as the field manager of what it writes:
// client-go derives the user agent from the binary's name) with exactly
// args, which bind the proxy and the probes to proxyAddr and probeAddr.
func (c *cluster) launch(t *testing.T, name, proxyAddr, probeAddr string, args []string) *manager {
	t.Helper()
	bin := filepath.Join(c.bins, name)
	if _, err := os.Stat(bin); err != nil {
		if err := os.Link(c.manager, bin); err != nil {
			t.Fatal(err)
		}
	}
	m := &manager{proxyURL: "http://" + proxyAddr, probeURL: "http://" + probeAddr, started: time.Now()}
	var err error
	m.Process, err = testproc.Start(name, []string{"KUBECONFIG=" + c.kubectl.Kubeconfig}, bin, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Stop(10 * time.Second)
		c.checkNoSecrets(t, m)
		if t.Failed() {
			t.Logf("%s output:\n%s", name, m.Output())
		}
	})
	return m
}

// freeAddr is a free loopback host:port.
func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := testproc.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// client is shared by the probes; short timeouts keep a poll loop moving
// when a manager is down.
var client = &http.Client{Timeout: 5 * time.Second}

// call sends one API request for the pool through m's proxy and returns
// the status (0 when no response came).
func (m *manager) call(pool string) int { return callProxy(m.proxyURL, pool) }

// callProxy sends one API request for the pool to the proxy at proxyURL
// (a manager's, or a front before several) and returns the status (0 when
// no response came).
func callProxy(proxyURL, pool string) int {
	req, err := http.NewRequest(http.MethodPost, proxyURL+"/pools/"+namespace+"/"+pool+"/v1/messages",
		strings.NewReader(`{"model":"claude-test","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		return 0
	}
	req.Header.Set("X-Api-Key", clientToken)
	req.Header.Set("Anthropic-Version", "2023-06-01")
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// ready reports whether m's readiness endpoint says ready.
func (m *manager) ready() bool {
	resp, err := client.Get(m.probeURL + "/readyz")
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// waitServing waits until m's proxy answers the pool with 200.
func (m *manager) waitServing(t *testing.T, pool string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	err := testproc.Poll(timeout, 25*time.Millisecond, func() error {
		if code := m.call(pool); code != http.StatusOK {
			return fmt.Errorf("%s: pool %s answered %d", m.Name, pool, code)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, m.Output())
	}
	return time.Since(start)
}

// checkNoSecrets asserts that no key value or client token appears in the
// manager's debug log, which covers crashes, lost leadership and API server
// outages, nor in the KeyPools' status or the namespace's Events.
func (c *cluster) checkNoSecrets(t *testing.T, m *manager) {
	t.Helper()
	state, err := c.kubectl.Run("", "get", "keypools,events", "-n", namespace, "-o", "yaml")
	if err != nil {
		t.Errorf("reading status and Events: %v", err)
	}
	for _, secret := range append([]string{clientToken}, keyValues...) {
		if strings.Contains(m.Output(), secret) {
			t.Errorf("%s's log contains the secret %q", m.Name, secret)
		}
		if strings.Contains(state, secret) {
			t.Errorf("KeyPool status or Events contain the secret %q", secret)
		}
	}
}
