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
	"net/http"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/testproc"
)

// restartBudget is how long a restarted manager may take to serve its pools
// again: "within seconds", with room for a loaded CI machine.
const restartBudget = 30 * time.Second

// TestKilledManagerRestarts kills the manager with SIGKILL (a crash or an
// OOM kill: no shutdown, nothing released) and starts it again. The new
// process has nothing in memory: it must rebuild the pools from the API
// server and serve them within seconds. The test measures the timeline of
// the new process: socket bound, readiness, first answer for the pool, and
// whether any request was refused as for an unknown pool (401: not built yet) while the
// replica already reported ready.
func TestKilledManagerRestarts(t *testing.T) {
	c := getCluster(t)
	first := c.startManager(t, "manager")
	first.waitServing(t, "claude", 60*time.Second)

	first.Kill()
	killed := time.Now()
	second := c.startManager(t, "manager")

	var tl timeline
	err := testproc.Poll(restartBudget, 10*time.Millisecond, func() error {
		code := second.call("claude")
		tl.observe(time.Since(killed), code, second.ready)
		if code != http.StatusOK {
			return fmt.Errorf("pool answered %d", code)
		}
		return nil
	})
	t.Logf("restart timeline after SIGKILL: %s", tl)
	if err != nil {
		t.Fatalf("restarted manager does not serve the pool within %v: %v\n%s", restartBudget, err, second.Output())
	}
	if tl.notFoundWhileReady > 0 {
		// The readiness gate opens when the proxy listens, before the
		// controller has built the pools: during that window a replica in
		// a Service answers "no KeyPool" for pools that exist.
		t.Logf("FINDING: %d requests answered 401 (pool not built) while /readyz reported ready (window %v)",
			tl.notFoundWhileReady, tl.lastNotFound-tl.firstNotFound)
	}
}

// timeline records what a restarted replica answered, by time since the kill.
type timeline struct {
	firstAnswer, firstReady, firstOK time.Duration
	firstNotFound, lastNotFound      time.Duration
	notFound, notFoundWhileReady, n  int
}

func (tl *timeline) observe(at time.Duration, code int, ready func() bool) {
	tl.n++
	if code != 0 && tl.firstAnswer == 0 {
		tl.firstAnswer = at
	}
	if code == http.StatusUnauthorized { // a valid token refused: the pool is not built (yet)
		if tl.notFound == 0 {
			tl.firstNotFound = at
		}
		tl.notFound++
		tl.lastNotFound = at
		if ready() {
			tl.notFoundWhileReady++
		}
	}
	if tl.firstReady == 0 && ready() {
		tl.firstReady = at
	}
	if code == http.StatusOK && tl.firstOK == 0 {
		tl.firstOK = at
	}
}

func (tl timeline) String() string {
	r := func(d time.Duration) string { return d.Round(time.Millisecond).String() }
	return fmt.Sprintf("first answer %s, ready %s, serving the pool %s; %d probes, %d answered 401 (%d while ready)",
		r(tl.firstAnswer), r(tl.firstReady), r(tl.firstOK), tl.n, tl.notFound, tl.notFoundWhileReady)
}
