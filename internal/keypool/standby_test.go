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
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/provider"
)

// standbyFixture is one key of 60 RPM (a request a second) shared by the
// clients greedy and polite, whose requests may wait a minute. greedy has
// taken all of it: 59 requests at once, after polite's one when polite
// is true.
func standbyFixture(t *testing.T, polite bool) *fixture {
	t.Helper()
	keys := keyCfgs(1)
	keys[0].RPMLimit = 60
	f := newFixture(t, provider.Anthropic, PoolConfig{
		Keys: keys, QueueTimeout: time.Minute,
		Clients: []ClientConfig{{Name: "greedy"}, {Name: "polite"}},
	})
	n := 60
	if polite {
		l := f.acquire(AcquireOptions{Client: "polite"})
		f.p.Settle(&l, Usage{})
		n--
	}
	for range n {
		l := f.acquire(AcquireOptions{Client: "greedy"})
		f.p.Settle(&l, Usage{})
	}
	return f
}

// TestStandbyKeptForClientUnderShare: greedy, far over its share while
// polite was active a second ago, waits for the next request's capacity
// and a standby beyond it; polite, arriving when the capacity is back,
// takes it at once instead of waiting for the next refill.
func TestStandbyKeptForClientUnderShare(t *testing.T) {
	f := standbyFixture(t, true)
	greedy := f.startAcquire(AcquireOptions{Client: "greedy"})
	f.sleepers(1)
	f.clock.Advance(time.Second) // one request's capacity is back
	select {
	case r := <-greedy:
		t.Fatalf("greedy took the refill (%q, %v): nothing was kept for polite", r.l.KeyID, r.err)
	case <-f.timersReach(1): // greedy still sleeps, for the standby
	}
	polite := f.startAcquire(AcquireOptions{Client: "polite"})
	select {
	case r := <-polite:
		if r.err != nil {
			t.Fatalf("polite: %v", r.err)
		}
		f.p.Settle(&r.l, Usage{})
	case <-f.timersReach(2):
		t.Fatal("polite waits although the capacity was kept for it")
	}
	// Greedy is served once the next request's capacity and its standby
	// are back: nothing is lost, only later.
	f.clock.Advance(2 * time.Second)
	if r := <-greedy; r.err != nil {
		t.Fatalf("greedy: %v", r.err)
	}
}

// TestStandbyNotKeptForClientAlone: the same greedy client with no other
// client active lately is over nobody's share: it gets the refill the moment
// it is back (the pool stays work-conserving).
func TestStandbyNotKeptForClientAlone(t *testing.T) {
	f := standbyFixture(t, false)
	greedy := f.startAcquire(AcquireOptions{Client: "greedy"})
	f.sleepers(1)
	f.clock.Advance(time.Second)
	select {
	case r := <-greedy:
		if r.err != nil {
			t.Fatalf("greedy: %v", r.err)
		}
	case <-f.timersReach(1):
		t.Fatal("greedy alone waits beyond the refill")
	}
}

// TestStandbyEndsWhenOthersGoIdle: a client over its share is held only
// while the client under it was active lately; once polite has sent
// nothing for activeWindow, greedy gets every refill at once again.
func TestStandbyEndsWhenOthersGoIdle(t *testing.T) {
	f := standbyFixture(t, true)
	f.clock.Advance(activeWindow + time.Second)
	// The key refilled meanwhile: take it all again.
	for f.stats("k0").RPMRemaining > 0 {
		l := f.acquire(AcquireOptions{Client: "greedy"})
		f.p.Settle(&l, Usage{})
	}
	greedy := f.startAcquire(AcquireOptions{Client: "greedy"})
	f.sleepers(1)
	f.clock.Advance(time.Second)
	select {
	case r := <-greedy:
		if r.err != nil {
			t.Fatalf("greedy: %v", r.err)
		}
	case <-f.timersReach(1):
		t.Fatal("greedy still held for a client idle for longer than activeWindow")
	}
}
