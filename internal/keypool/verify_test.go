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
	"sync"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/provider"
)

// TestRecheckAtMostOncePerInterval: a key that a re-check found valid is
// not taken out of use again by the next request the provider blames it
// for: one key is re-checked at most once per recheckInterval, so a client
// whose requests make the provider answer 401 cannot keep the pool's keys
// out of use. After the interval a new suspicion starts a new check, and a
// new value of the key is checked at once.
func TestRecheckAtMostOncePerInterval(t *testing.T) {
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keyCfgs(2)})
	suspect := func() bool {
		t.Helper()
		l := f.acquire(AcquireOptions{Exclude: []string{"k1"}})
		started := f.p.Suspect(&l, time.Minute)
		f.p.Settle(&l, Usage{})
		if started {
			f.p.Confirm(l.KeyID, l.APIKey, true)
		}
		return started
	}
	if !suspect() {
		t.Fatal("first suspicion started no check")
	}
	f.clock.Advance(recheckInterval / 2)
	if suspect() {
		t.Fatal("a second suspicion within the interval started another check")
	}
	if st := f.state("k0"); st != StateAvailable {
		t.Fatalf("key %s after a suspicion within the interval, want it in use", st)
	}
	f.clock.Advance(recheckInterval / 2)
	if !suspect() {
		t.Fatal("a suspicion after the interval started no check")
	}
}

// TestManySuspicionsOneCheck: requests that all see the provider blame one
// key at once start one check between them.
func TestManySuspicionsOneCheck(t *testing.T) {
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keyCfgs(2)})
	const n = 32
	leases := make([]Lease, n)
	for i := range leases {
		leases[i] = f.acquire(AcquireOptions{Exclude: []string{"k1"}})
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		started int
	)
	for i := range leases {
		wg.Go(func() {
			if f.p.Suspect(&leases[i], time.Minute) {
				mu.Lock()
				started++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if started != 1 {
		t.Fatalf("%d checks started by %d suspicions, want 1", started, n)
	}
	for i := range leases {
		f.p.Settle(&leases[i], Usage{})
	}
}
