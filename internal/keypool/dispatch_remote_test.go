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
	"sync/atomic"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/provider"
	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
)

// valvedLimiter is a gatedLimiter whose MayReserve says no while shut,
// although its Local has capacity: the way a Shared limiter's cached state
// lags behind Redis. Requests then queue and sleep while capacity is there,
// and the dispatch of the next request to arrive is the one that finds it,
// reserving for a waiter of another goroutine.
type valvedLimiter struct {
	*gatedLimiter
	shut atomic.Bool
}

func (v *valvedLimiter) MayReserve(now time.Time, inputTokens, outputTokens int64) bool {
	return !v.shut.Load() && v.gatedLimiter.MayReserve(now, inputTokens, outputTokens)
}

// valvedFixture is a round-robin pool of keys k0..k(n-1), each on its own
// shut valved limiter of 100 RPM, whose requests may wait a minute.
func valvedFixture(t *testing.T, n int) (*fixture, map[string]*valvedLimiter) {
	t.Helper()
	lims := map[string]*valvedLimiter{}
	keys := keyCfgs(n)
	for i := range keys {
		keys[i].RPMLimit = 100
	}
	f := newFixture(t, provider.Anthropic, PoolConfig{
		Keys:         keys,
		Strategy:     StrategyRoundRobin,
		QueueTimeout: time.Minute,
		NewLimiter: func(id string, now time.Time, limits ratelimit.Amounts) (ratelimit.Limiter, error) {
			l, err := ratelimit.NewLocal(now, limits)
			if err != nil {
				return nil, err
			}
			v := &valvedLimiter{gatedLimiter: &gatedLimiter{Local: l, entered: make(chan struct{}), release: make(chan struct{})}}
			v.shut.Store(true)
			lims[id] = v
			return v, nil
		},
	})
	return f, lims
}

func valveOf(t *testing.T, lims map[string]*valvedLimiter, keyID string) *valvedLimiter {
	t.Helper()
	v := lims[keyLimiterID(keyID)]
	if v == nil {
		t.Fatalf("no limiter for %s", keyID)
	}
	return v
}

// startAcquireCtx is startAcquire with the caller's context.
func (f *fixture) startAcquireCtx(ctx context.Context, opts AcquireOptions) <-chan remoteResult {
	ch := make(chan remoteResult, 1)
	go func() {
		l, err := f.p.Acquire(ctx, opts)
		ch <- remoteResult{l, err}
	}()
	return ch
}

// timersReach returns a channel closed once the fake clock has n timers
// pending: a waiter went (back) to sleep.
func (f *fixture) timersReach(n int) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		if f.clock.WaitTimers(10*time.Second, func(p int) bool { return p == n }) {
			close(ch)
		}
	}()
	return ch
}

// sleepers waits until n waiters sleep on the fake clock.
func (f *fixture) sleepers(n int) {
	f.t.Helper()
	if !f.clock.WaitTimers(10*time.Second, func(p int) bool { return p == n }) {
		f.t.Fatalf("%d waiters never slept (%d timers)", n, f.clock.Timers())
	}
}

// leaseOn receives a request's result and fails unless it is a lease on
// keyID.
func leaseOn(t *testing.T, name string, ch <-chan remoteResult, keyID string) Lease {
	t.Helper()
	r := <-ch
	if r.err != nil || r.l.KeyID != keyID {
		t.Fatalf("%s: Acquire = %q, %v; want a lease on %s", name, r.l.KeyID, r.err, keyID)
	}
	return r.l
}

// TestDispatchDuringRemoteReserveGrantsOnce: while a dispatch has released
// the pool's lock to reserve for the first waiter (a remote limiter's round
// trip), a request that arrives dispatches too. It must not reserve for that
// same waiter again (before the fix, a second dispatch did, and the waiter
// was granted twice: two leases for one request, then "close of closed
// channel"): it goes to sleep, and the first dispatch serves everyone, one
// lease per request.
func TestDispatchDuringRemoteReserveGrantsOnce(t *testing.T) {
	f, lims := valvedFixture(t, 2)
	k0, k1 := valveOf(t, lims, "k0"), valveOf(t, lims, "k1")

	first := f.startAcquire(AcquireOptions{Client: "c"})
	f.sleepers(1) // no key may reserve: the first request waits
	k0.shut.Store(false)
	k1.shut.Store(false)
	// The second request finds the first waiting and queues behind it; its
	// dispatch serves the first, and holds k0's round trip open.
	second := f.startAcquire(AcquireOptions{Client: "c"})
	<-k0.entered
	// A third arrives meanwhile: the first waiter is still queued (it is
	// granted only when the round trip ends), so a dispatch of its own
	// would reserve for it again, on k1.
	third := f.startAcquire(AcquireOptions{Client: "c"})
	select {
	case <-k1.entered:
		t.Fatal("a second dispatch reserved on k1 for the waiter whose reservation on k0 is in flight")
	case <-k0.entered:
		t.Fatal("a second dispatch reserved on k0 for the waiter whose reservation on k0 is in flight")
	case <-f.timersReach(2): // the third sleeps beside the first
	}

	k0.release <- struct{}{} // the first waiter's lease
	<-k1.entered             // the dispatch goes on: the second's
	k1.release <- struct{}{}
	<-k0.entered // and the third's
	k0.release <- struct{}{}
	leases := []Lease{
		leaseOn(t, "first", first, "k0"),
		leaseOn(t, "second", second, "k1"),
		leaseOn(t, "third", third, "k0"),
	}
	if c0, c1 := k0.reserveCalls(), k1.reserveCalls(); c0 != 2 || c1 != 1 {
		t.Fatalf("round trips k0 %d, k1 %d; want 2 and 1: one per request", c0, c1)
	}
	f.p.mu.Lock()
	n := f.p.queue.n
	f.p.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d waiters left queued, want 0", n)
	}
	for i := range leases {
		f.p.Settle(&leases[i], Usage{})
	}
}

// TestWaiterEndingDuringItsReserveKeepsTheLease: a waiter's wait ends (its
// client left) while another request's dispatch is reserving for it with
// the pool's lock released. It must not leave the queue then (before the
// fix it did: the dispatch then granted a lease to a request that had
// already returned, so the capacity was never settled, and unlinked the
// waiter a second time): it waits for the reservation's outcome and returns
// the lease, which its caller settles.
func TestWaiterEndingDuringItsReserveKeepsTheLease(t *testing.T) {
	f, lims := valvedFixture(t, 2)
	k0, k1 := valveOf(t, lims, "k0"), valveOf(t, lims, "k1")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := f.startAcquireCtx(ctx, AcquireOptions{Client: "c"})
	f.sleepers(1)
	k0.shut.Store(false)
	k1.shut.Store(false)
	second := f.startAcquire(AcquireOptions{Client: "c"})
	<-k0.entered // the second's dispatch reserves for the first waiter

	// The first's client leaves. The pool's lock is held here so that the
	// first, woken, stops its timer but cannot go further until it is
	// released: then the only goroutine it can race with is none (the
	// dispatch is held at k0's gate), and what it does is seen.
	f.p.mu.Lock()
	cancel()
	f.sleepers(0)
	f.p.mu.Unlock()
	select {
	case r := <-first:
		t.Fatalf("the first returned (%q, %v) while a dispatch was reserving for it", r.l.KeyID, r.err)
	case <-f.timersReach(1): // it sleeps again, for the outcome
	}

	k0.release <- struct{}{}
	l1 := leaseOn(t, "first", first, "k0")
	<-k1.entered
	k1.release <- struct{}{}
	l2 := leaseOn(t, "second", second, "k1")
	f.p.mu.Lock()
	n := f.p.queue.n
	f.p.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d waiters left queued, want 0", n)
	}
	f.p.Settle(&l1, Usage{})
	f.p.Settle(&l2, Usage{})
	if c0, c1 := k0.reserveCalls(), k1.reserveCalls(); c0 != 1 || c1 != 1 {
		t.Fatalf("round trips k0 %d, k1 %d; want 1 each", c0, c1)
	}
}
