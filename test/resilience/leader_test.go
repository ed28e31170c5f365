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
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/testproc"
)

// handoverBudget bounds a handover after the leader was killed: the Lease
// (15 s) must expire before another replica may take it, then the new
// leader writes at once.
const handoverBudget = 45 * time.Second

// TestLeaderHandover runs two managers with leader election. Both build the
// pools and serve the proxy; only the leader writes status. The test tells
// the writers apart by the field manager the API server records for the
// status subresource (each replica runs under its own binary name), and
// follows the Lease. Killing the leader with SIGKILL (no lease release)
// hands status writing to the other replica once the Lease expires.
func TestLeaderHandover(t *testing.T) {
	c := getCluster(t)
	requireFlag(t, c.manager, "leader-election-namespace")
	elect := []string{"--leader-elect", "--leader-election-namespace=" + leaseNamespace}
	a := c.startManager(t, "manager-a", elect...)
	if err := a.WaitFor("Successfully acquired lease", 60*time.Second); err != nil {
		t.Fatal(err)
	}
	b := c.startManager(t, "manager-b", elect...)
	// Both replicas serve the proxy for the same KeyPool, leader or not.
	a.waitServing(t, "claude", 60*time.Second)
	b.waitServing(t, "claude", 60*time.Second)
	leaderID := leaseHolder(t, c)

	// Make the status change (a key gets rejected), through the leader's
	// proxy, and wait for it to be written.
	if err := c.fake.RevokeKey(keyValues[0]); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.fake.RestoreKey(keyValues[0]) })
	for range 3 {
		a.call("claude")
	}
	waitKeyState(t, c, "keys/a", "Rejected", 20*time.Second)
	writers := statusWriters(t, c)
	if _, ok := writers["manager-b"]; ok || writers["manager-a"].IsZero() {
		t.Fatalf("status writers %v: want manager-a (the leader) only", writers)
	}
	if strings.Contains(b.Output(), "Successfully acquired lease") {
		t.Fatal("manager-b acquired the lease while manager-a held it")
	}

	// Kill the leader: no release, so the Lease must expire first.
	a.Kill()
	killed := time.Now()
	if err := b.WaitFor("Successfully acquired lease", handoverBudget); err != nil {
		t.Fatal(err)
	}
	acquired := time.Since(killed)
	if id := leaseHolder(t, c); id == leaderID {
		t.Fatalf("Lease still held by %s", id)
	}

	// The new leader writes status: restore the key, rotate nothing, and
	// let a request through b's proxy change what b's pool reports.
	if err := c.fake.RestoreKey(keyValues[0]); err != nil {
		t.Fatal(err)
	}
	if err := c.fake.RevokeKey(keyValues[1]); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.fake.RestoreKey(keyValues[1]) })
	for range 3 {
		b.call("claude")
	}
	waitKeyState(t, c, "keys/b", "Rejected", 20*time.Second)
	written := time.Since(killed)
	writers = statusWriters(t, c)
	if writers["manager-b"].IsZero() {
		t.Fatalf("status writers %v: want manager-b after the handover", writers)
	}
	if code := b.call("claude"); code != 200 {
		t.Fatalf("the surviving replica's proxy answered %d", code)
	}
	t.Logf("handover after SIGKILL of the leader: lease acquired by manager-b after %v, its first status write seen after %v",
		acquired.Round(time.Millisecond), written.Round(time.Millisecond))
}

// requireFlag fails with a clear message when the manager lacks a flag the
// scenario needs.
func requireFlag(t *testing.T, bin, flag string) {
	t.Helper()
	out, _ := exec.Command(bin, "--help").CombinedOutput()
	if !strings.Contains(string(out), "-"+flag) {
		t.Fatalf("the manager has no --%s flag: out of a cluster, controller-runtime cannot find the "+
			"namespace for the leader-election Lease and the manager exits at start with --leader-elect", flag)
	}
}

// leaseHolder returns the leader-election Lease's holder identity.
func leaseHolder(t *testing.T, c *cluster) string {
	t.Helper()
	out, err := c.kubectl.Run("", "get", "lease", "-n", leaseNamespace, leaseName, "-o", "jsonpath={.spec.holderIdentity}")
	if err != nil || out == "" {
		t.Fatalf("reading the Lease: %q %v", out, err)
	}
	return out
}

// statusWriters returns, per field manager, when it last wrote the
// KeyPool's status subresource.
func statusWriters(t *testing.T, c *cluster) map[string]time.Time {
	t.Helper()
	out, err := c.kubectl.Run("", "get", "keypool", "-n", namespace, "claude", "--show-managed-fields", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var kp struct {
		Metadata struct {
			ManagedFields []struct {
				Manager     string    `json:"manager"`
				Subresource string    `json:"subresource"`
				Time        time.Time `json:"time"`
			} `json:"managedFields"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal([]byte(out), &kp); err != nil {
		t.Fatal(err)
	}
	writers := map[string]time.Time{}
	for _, mf := range kp.Metadata.ManagedFields {
		if mf.Subresource == "status" {
			writers[mf.Manager] = mf.Time
		}
	}
	return writers
}

// waitKeyState waits until the KeyPool's status shows the key in state.
func waitKeyState(t *testing.T, c *cluster, key, state string, timeout time.Duration) {
	t.Helper()
	err := testproc.Poll(timeout, 200*time.Millisecond, func() error {
		out, err := c.kubectl.Run("", "get", "keypool", "-n", namespace, "claude", "-o",
			fmt.Sprintf(`jsonpath={.status.keys[?(@.name=="%s")].state}`, key))
		if err != nil {
			return err
		}
		if out != state {
			return fmt.Errorf("status of %s is %q, want %q", key, out, state)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
