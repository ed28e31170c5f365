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

func TestAllExhaustedByLimits(t *testing.T) {
	keys := keyCfgs(2)
	keys[0].RPMLimit, keys[1].RPMLimit = 1, 2
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys})
	f.sequence(3)
	ee := f.exhausted(AcquireOptions{})
	// k0 has 1 RPM (60s per request), k1 2 RPM (30s): k1 is back first.
	if ee.RetryAfter != 30*time.Second {
		t.Fatalf("RetryAfter = %v, want 30s", ee.RetryAfter)
	}
	if got := f.p.GetEarliestResetTime(); !got.Equal(t0.Add(30 * time.Second)) {
		t.Fatalf("earliest reset %v", got)
	}
	st := f.p.GetStats()
	if st.AvailableKeys != 0 || st.ExhaustedKeys != 2 {
		t.Fatalf("stats %+v", st)
	}
	f.clock.Advance(30 * time.Second)
	if id := f.get(); id != "k1" {
		t.Fatalf("got %s after 30s", id)
	}
}

func TestAllExhaustedByRejection(t *testing.T) {
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keyCfgs(2)})
	for range 2 {
		l := f.acquire(AcquireOptions{})
		f.reject(&l)
		f.p.Settle(&l, Usage{})
	}
	ee := f.exhausted(AcquireOptions{})
	if ee.RetryAfter != defaultRetryAfter {
		t.Fatalf("RetryAfter = %v, want the default", ee.RetryAfter)
	}
	// Nothing predictable: the default of now+1m.
	if got := f.p.GetEarliestResetTime(); !got.Equal(t0.Add(time.Minute)) {
		t.Fatalf("earliest reset %v, want now+1m", got)
	}
}

func TestAllExhaustedByCooldown(t *testing.T) {
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keyCfgs(3)})
	if err := f.p.MarkKeyExhausted("k0", t0.Add(40*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := f.p.MarkKeyExhausted("k1", t0.Add(20*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := f.p.MarkKeyExhausted("k2", t0.Add(90*time.Second)); err != nil {
		t.Fatal(err)
	}
	if ee := f.exhausted(AcquireOptions{}); ee.RetryAfter != 20*time.Second {
		t.Fatalf("RetryAfter = %v, want 20s", ee.RetryAfter)
	}
	f.clock.Advance(20 * time.Second)
	if id := f.get(); id != "k1" {
		t.Fatalf("got %s", id)
	}
}

func TestEarliestResetWhenCapacityNow(t *testing.T) {
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keyCfgs(1)})
	if got := f.p.GetEarliestResetTime(); !got.Equal(t0) {
		t.Fatalf("earliest reset %v, want now", got)
	}
}

// Retry-After is the minimum over keys of the maximum over the dimensions
// that block the pending request, and over the key's cooldown.
func TestRetryAfterConsidersEveryDimension(t *testing.T) {
	keys := keyCfgs(3)
	// k0: requests back in 6s, but input tokens for 3000 only in 50s.
	keys[0].RPMLimit, keys[0].ITPMLimit = 10, 6000
	// k1: cooling down 25s, and its output tokens are in debt for 40s.
	keys[1].OTPMLimit = 600
	// k2: requests spent for 30s.
	keys[2].RPMLimit = 2
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys})

	for range 9 {
		l := f.acquire(AcquireOptions{Exclude: []string{"k1", "k2"}})
		f.p.Settle(&l, Usage{})
	}
	l := f.acquire(AcquireOptions{Exclude: []string{"k1", "k2"}})
	f.p.Settle(&l, Usage{InputTokens: 6000}) // k0: no requests, no input left
	l = f.acquire(AcquireOptions{Exclude: []string{"k0", "k2"}})
	// k1 output: 100 left, and the next request is expected to produce 500
	// like this one (held up front): 400 tokens at 600/min, 40s.
	f.p.Settle(&l, Usage{OutputTokens: 500})
	if err := f.p.MarkKeyExhausted("k1", t0.Add(25*time.Second)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		l := f.acquire(AcquireOptions{Exclude: []string{"k0", "k1"}})
		f.p.Settle(&l, Usage{})
	}

	// A small request: k0 6s (requests; input needs 1 token: 0.01s).
	if ee := f.exhausted(AcquireOptions{}); ee.RetryAfter != 6*time.Second {
		t.Fatalf("RetryAfter = %v, want 6s", ee.RetryAfter)
	}
	// 3000 input tokens: k0 needs 30s of input refill, k1 40s (output) > its
	// 25s cooldown, k2 30s: 30s.
	if ee := f.exhausted(AcquireOptions{EstimatedInputTokens: 3000}); ee.RetryAfter != 30*time.Second {
		t.Fatalf("RetryAfter = %v, want 30s", ee.RetryAfter)
	}
	// 5000 input tokens: k0 50s, k1 40s, k2 30s.
	if ee := f.exhausted(AcquireOptions{EstimatedInputTokens: 5000}); ee.RetryAfter != 30*time.Second {
		t.Fatalf("RetryAfter = %v, want 30s", ee.RetryAfter)
	}
	// Without k2: k1's 40s beats k0's 50s.
	if ee := f.exhausted(AcquireOptions{EstimatedInputTokens: 5000, Exclude: []string{"k2"}}); ee.RetryAfter != 40*time.Second {
		t.Fatalf("RetryAfter = %v, want 40s", ee.RetryAfter)
	}
	// The small request really succeeds after its Retry-After.
	f.clock.Advance(6 * time.Second)
	if id := f.get(); id != "k0" {
		t.Fatalf("got %s", id)
	}
}

func TestExhaustedTierCacheSeesReturnedCapacity(t *testing.T) {
	keys := keyCfgs(1)
	keys[0].ITPMLimit = 1000
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys})
	l := f.acquire(AcquireOptions{EstimatedInputTokens: 1000})
	// Only the exhaustion is asserted (the helper fails the test otherwise); the error is not needed.
	_ = f.exhausted(AcquireOptions{EstimatedInputTokens: 500}) // cached
	_ = f.exhausted(AcquireOptions{EstimatedInputTokens: 800}) // from the cache
	f.p.Settle(&l, Usage{InputTokens: 400})                    // 600 back
	l2 := f.acquire(AcquireOptions{EstimatedInputTokens: 500})
	f.p.Settle(&l2, Usage{InputTokens: 500})
	if ks := f.stats("k0"); ks.ITPMRemaining != 100 {
		t.Fatalf("remaining %d", ks.ITPMRemaining)
	}
}
