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

package keypool

import (
	"math"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/provider"
)

func TestGrantRateFollowsGrants(t *testing.T) {
	var g grantRate
	ns := t0.UnixNano()
	// 10 grants a second for 100s (ten time constants): about 10/s.
	for i := range 1000 {
		g.add(ns+int64(i)*int64(100*time.Millisecond), grantRateTau)
	}
	end := ns + 999*int64(100*time.Millisecond)
	if r := g.at(end, grantRateTau); math.Abs(r-10) > 0.2 {
		t.Fatalf("rate %v, want about 10/s", r)
	}
	// One time constant without grants: down to 1/e.
	if r := g.at(end+int64(grantRateTau), grantRateTau); math.Abs(r-10/math.E) > 0.2 {
		t.Fatalf("rate after a quiet tau %v, want about %v", r, 10/math.E)
	}
}

// TestPositionWaitIsTheClientsOwn: the Retry-After advice counts the
// requests of the client's own queue, served at the client's fair part of
// the grant rate, not the whole pool's queue.
func TestPositionWaitIsTheClientsOwn(t *testing.T) {
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keyCfgs(1), QueueTimeout: 30 * time.Second,
		Clients: []ClientConfig{{Name: "greedy"}, {Name: "polite"}}})
	p := f.p
	ns := t0.UnixNano()
	p.mu.Lock()
	defer p.mu.Unlock()
	greedy, polite := p.queue.client("greedy"), p.queue.client("polite")
	if d := p.positionWait(ns, greedy); d != 0 {
		t.Fatalf("no waiters: %v, want 0", d)
	}
	for i := range 1000 {
		p.grants.add(ns-int64(1000-i)*int64(100*time.Millisecond), grantRateTau)
	}
	ws := make([]*waiter, 20)
	for i := range ws {
		ws[i] = &waiter{opts: &AcquireOptions{}, cq: greedy}
		p.queue.push(ws[i])
	}
	// 20 of greedy's own waiting at 10 grants/s, all of them greedy's while
	// polite waits for nothing: 21 / 10 = 2.1s.
	if d := p.positionWait(ns, greedy); d < 2000*time.Millisecond || d > 2200*time.Millisecond {
		t.Fatalf("greedy behind its 20 at 10/s: %v, want about 2.1s", d)
	}
	// Polite's next request would be served at half the rate, first in its
	// queue: 1 / 5 = 0.2s, however long greedy's queue.
	if d := p.positionWait(ns, polite); d < 150*time.Millisecond || d > 250*time.Millisecond {
		t.Fatalf("polite with greedy's 20 queued: %v, want about 0.2s", d)
	}
	for range 980 {
		w := &waiter{opts: &AcquireOptions{}, cq: greedy}
		ws = append(ws, w)
		p.queue.push(w)
	}
	// Never beyond the queue timeout: every waiter is gone by then.
	if d := p.positionWait(ns, greedy); d != 30*time.Second {
		t.Fatalf("1000 waiters: %v, want the 30s queue timeout", d)
	}
	for _, w := range ws {
		p.queue.remove(w)
	}
}
