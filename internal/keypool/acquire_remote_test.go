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
	"context"
	"sync"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/provider"
	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
)

// gatedLimiter is a real Local limiter whose Reserve waits at a gate, the
// way a shared one waits for Redis; it makes round trips, so the pool
// reserves on it without its lock.
type gatedLimiter struct {
	*ratelimit.Local
	entered chan struct{} // a Reserve reached the gate
	release chan struct{} // lets one Reserve through
	mu      sync.Mutex
	calls   int
}

var _ ratelimit.Limiter = (*gatedLimiter)(nil)

// RoundTrips makes the pool reserve on it without its lock, as on a shared
// limiter.
func (*gatedLimiter) RoundTrips() bool { return true }

func (g *gatedLimiter) MayReserve(now time.Time, inputTokens, outputTokens int64) bool {
	w, _ := g.TimeToCapacity(now, inputTokens, outputTokens)
	return w <= 0
}

func (g *gatedLimiter) Reserve(now time.Time, inputTokens, outputTokens int64) (ratelimit.Reservation, bool) {
	g.mu.Lock()
	g.calls++
	g.mu.Unlock()
	g.entered <- struct{}{}
	<-g.release
	return g.Local.Reserve(now, inputTokens, outputTokens)
}

func (g *gatedLimiter) reserveCalls() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls
}

// gatedFixture is a pool of keys k0..k(n-1), each on its own gated limiter
// (limits from the key's configuration).
func gatedFixture(t *testing.T, n int, rpm, itpm int64) (*fixture, map[string]*gatedLimiter) {
	t.Helper()
	lims := map[string]*gatedLimiter{}
	keys := keyCfgs(n)
	for i := range keys {
		keys[i].RPMLimit, keys[i].ITPMLimit = rpm, itpm
	}
	f := newFixture(t, provider.Anthropic, PoolConfig{
		Keys:     keys,
		Strategy: StrategyRoundRobin,
		NewLimiter: func(id string, now time.Time, limits ratelimit.Amounts) (ratelimit.Limiter, error) {
			l, err := ratelimit.NewLocal(now, limits)
			if err != nil {
				return nil, err
			}
			g := &gatedLimiter{Local: l, entered: make(chan struct{}), release: make(chan struct{})}
			lims[id] = g
			return g, nil
		},
	})
	return f, lims
}

type remoteResult struct {
	l   Lease
	err error
}

func (f *fixture) startAcquire(opts AcquireOptions) <-chan remoteResult {
	ch := make(chan remoteResult, 1)
	go func() {
		l, err := f.p.Acquire(context.Background(), opts)
		ch <- remoteResult{l, err}
	}()
	return ch
}

func gateOf(t *testing.T, lims map[string]*gatedLimiter, keyID string) *gatedLimiter {
	t.Helper()
	g := lims[keyLimiterID(keyID)]
	if g == nil {
		t.Fatalf("no limiter for %s", keyID)
	}
	return g
}

// TestRemoteReserveRunsWithoutThePoolLock: while one request waits for its
// limiter's round trip, the pool answers others, and a second request
// reserves concurrently on another key.
func TestRemoteReserveRunsWithoutThePoolLock(t *testing.T) {
	f, lims := gatedFixture(t, 2, 100, 0)
	k0, k1 := gateOf(t, lims, "k0"), gateOf(t, lims, "k1")

	first := f.startAcquire(AcquireOptions{})
	<-k0.entered // round-robin starts at k0
	// The pool's lock is free: stats and a second Acquire get through.
	if st := f.p.GetStats(); len(st.Keys) != 2 {
		t.Fatalf("stats list %d keys, want 2", len(st.Keys))
	}
	second := f.startAcquire(AcquireOptions{})
	<-k1.entered
	k1.release <- struct{}{}
	k0.release <- struct{}{}
	for _, ch := range []<-chan remoteResult{first, second} {
		r := <-ch
		if r.err != nil {
			t.Fatalf("Acquire: %v", r.err)
		}
		f.p.Settle(&r.l, Usage{})
	}
}

// TestRemoteReserveRefusedTriesNextKey: another replica takes k0's last
// capacity between the choice and the round trip; the request is served by
// k1 instead, and k0 is not asked again.
func TestRemoteReserveRefusedTriesNextKey(t *testing.T) {
	f, lims := gatedFixture(t, 2, 1, 0)
	k0, k1 := gateOf(t, lims, "k0"), gateOf(t, lims, "k1")

	res := f.startAcquire(AcquireOptions{})
	<-k0.entered
	if _, ok := k0.Local.Reserve(f.clock.Now(), 0, ratelimit.LearnedOutput); !ok { // the other replica
		t.Fatal("k0 had no capacity to take")
	}
	k0.release <- struct{}{}
	<-k1.entered
	k1.release <- struct{}{}
	r := <-res
	if r.err != nil || r.l.KeyID != "k1" {
		t.Fatalf("Acquire = %q, %v; want k1", r.l.KeyID, r.err)
	}
	if n := k0.reserveCalls(); n != 1 {
		t.Fatalf("k0 asked %d times, want 1", n)
	}
}

// TestRemoteReserveHandedBackWhenKeyLeft: the key chosen is cooled down
// while its round trip runs; the reservation goes back (the input estimate
// returns) and the request gets the next key.
func TestRemoteReserveHandedBackWhenKeyLeft(t *testing.T) {
	f, lims := gatedFixture(t, 2, 100, 1000)
	k0, k1 := gateOf(t, lims, "k0"), gateOf(t, lims, "k1")

	res := f.startAcquire(AcquireOptions{EstimatedInputTokens: 400})
	<-k0.entered
	if err := f.p.MarkKeyExhausted("k0", f.clock.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	k0.release <- struct{}{}
	<-k1.entered
	k1.release <- struct{}{}
	r := <-res
	if r.err != nil || r.l.KeyID != "k1" {
		t.Fatalf("Acquire = %q, %v; want k1", r.l.KeyID, r.err)
	}
	if in := k0.Snapshot(f.clock.Now()).Dimensions[ratelimit.InputTokens].Remaining; in != 1000 {
		t.Fatalf("k0 input remaining %d after the hand-back, want 1000", in)
	}
}

// TestRemoteReserveSkipsKeysClearlyOutOfCapacity: a limiter that knows it
// has no room is not asked (no round trip), and the request is told when
// to retry at once.
func TestRemoteReserveSkipsKeysClearlyOutOfCapacity(t *testing.T) {
	f, lims := gatedFixture(t, 1, 1, 0)
	k0 := gateOf(t, lims, "k0")
	if _, ok := k0.Local.Reserve(f.clock.Now(), 0, ratelimit.LearnedOutput); !ok {
		t.Fatal("k0 had no capacity to take")
	}
	ee := f.exhausted(AcquireOptions{})
	if n := k0.reserveCalls(); n != 0 {
		t.Fatalf("k0 asked %d times while clearly out of capacity, want 0", n)
	}
	if ee.RetryAfter <= 0 || ee.RetryAfter > time.Minute {
		t.Fatalf("RetryAfter = %v, want within a minute", ee.RetryAfter)
	}
}
