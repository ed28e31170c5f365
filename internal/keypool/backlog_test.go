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
		g.add(ns + int64(i)*int64(100*time.Millisecond))
	}
	end := ns + 999*int64(100*time.Millisecond)
	if r := g.at(end); math.Abs(r-10) > 0.2 {
		t.Fatalf("rate %v, want about 10/s", r)
	}
	// One time constant without grants: down to 1/e.
	if r := g.at(end + int64(grantRateTau)); math.Abs(r-10/math.E) > 0.2 {
		t.Fatalf("rate after a quiet tau %v, want about %v", r, 10/math.E)
	}
}

func TestBacklogWaitDelaysRetryAfterBehindTheQueue(t *testing.T) {
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keyCfgs(1), QueueTimeout: 30 * time.Second})
	p := f.p
	ns := t0.UnixNano()
	p.mu.Lock()
	defer p.mu.Unlock()
	if d := p.backlogWait(ns); d != 0 {
		t.Fatalf("no waiters: %v, want 0", d)
	}
	for i := range 1000 {
		p.grants.add(ns - int64(1000-i)*int64(100*time.Millisecond))
	}
	// 20 waiting at 10 grants/s: 2s before a newcomer's turn.
	p.waiters = 20
	if d := p.backlogWait(ns); d < 1900*time.Millisecond || d > 2100*time.Millisecond {
		t.Fatalf("20 waiters at 10/s: %v, want about 2s", d)
	}
	// Never beyond the queue timeout: every waiter is gone by then.
	p.waiters = 1000
	if d := p.backlogWait(ns); d != 30*time.Second {
		t.Fatalf("1000 waiters: %v, want the 30s queue timeout", d)
	}
	p.waiters = 0
}
