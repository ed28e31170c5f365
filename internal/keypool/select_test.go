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
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/provider"
)

func TestRoundRobinExactSequence(t *testing.T) {
	f := newFixture(t, provider.Anthropic, PoolConfig{Strategy: StrategyRoundRobin, Keys: keyCfgs(3)})
	got := strings.Join(f.sequence(7), " ")
	if want := "k0 k1 k2 k0 k1 k2 k0"; got != want {
		t.Fatalf("sequence %q, want %q", got, want)
	}
}

func TestRoundRobinSkipsUnavailableKeys(t *testing.T) {
	f := newFixture(t, provider.Anthropic, PoolConfig{Strategy: StrategyRoundRobin, Keys: keyCfgs(4)})
	if err := f.p.MarkKeyExhausted("k1", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	l := f.acquire(AcquireOptions{})
	f.reject(&l) // k0 rejected
	f.p.Settle(&l, Usage{})
	got := strings.Join(f.sequence(4), " ")
	if want := "k2 k3 k2 k3"; got != want {
		t.Fatalf("sequence %q, want %q", got, want)
	}
}

func TestWeightedSmoothSequence(t *testing.T) {
	keys := keyCfgs(3)
	keys[0].Weight, keys[1].Weight, keys[2].Weight = 5, 1, 1
	f := newFixture(t, provider.Anthropic, PoolConfig{Strategy: StrategyWeighted, Keys: keys})
	got := strings.Join(f.sequence(14), " ")
	// nginx's smooth weighted round-robin for 5,1,1: a a b a c a a, repeated.
	if want := "k0 k0 k1 k0 k2 k0 k0 k0 k0 k1 k0 k2 k0 k0"; got != want {
		t.Fatalf("sequence %q, want %q", got, want)
	}
}

func TestWeightedDefaultWeightAndSkip(t *testing.T) {
	keys := keyCfgs(3)
	keys[0].Weight = 2 // k1, k2: 0 and -1 mean 1
	keys[2].Weight = -1
	f := newFixture(t, provider.Anthropic, PoolConfig{Strategy: StrategyWeighted, Keys: keys})
	c := counts(f.sequence(400))
	if c["k0"] != 200 || c["k1"] != 100 || c["k2"] != 100 {
		t.Fatalf("counts %v, want 200/100/100", c)
	}
	if err := f.p.MarkKeyExhausted("k0", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	c = counts(f.sequence(100))
	if c["k0"] != 0 || c["k1"] != 50 || c["k2"] != 50 {
		t.Fatalf("counts with k0 cooling %v", c)
	}
}

// TestWeightedMatchesNginx plays random weights, cooldowns and exclusions
// against nginx's smooth weighted round-robin, written out as nginx does it
// (every key visited on every pick): the picks must be the same.
func TestWeightedMatchesNginx(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	keys := keyCfgs(9)
	for i := range keys {
		keys[i].Weight = 1 + rng.IntN(4)
	}
	f := newFixture(t, provider.Anthropic, PoolConfig{Strategy: StrategyWeighted, Keys: keys})
	cw := make([]int, len(keys))
	coolUntil := make([]time.Time, len(keys))
	for step := range 3000 {
		now := f.clock.Now()
		switch rng.IntN(20) {
		case 0:
			i := rng.IntN(len(keys))
			until := now.Add(time.Duration(1+rng.IntN(5)) * time.Second)
			if err := f.p.MarkKeyExhausted(keys[i].ID, until); err != nil {
				t.Fatal(err)
			}
			if until.After(coolUntil[i]) { // a longer cooldown in place stays
				coolUntil[i] = until
			}
			continue
		case 1:
			f.clock.Advance(time.Second)
			continue
		}
		var exclude []string
		if rng.IntN(10) == 0 {
			exclude = []string{keys[rng.IntN(len(keys))].ID}
		}
		best, total := -1, 0
		for i := range keys {
			if now.Before(coolUntil[i]) || slices.Contains(exclude, keys[i].ID) {
				continue
			}
			cw[i] += keys[i].Weight
			total += keys[i].Weight
			if best < 0 || cw[i] > cw[best] {
				best = i
			}
		}
		l, err := f.p.Acquire(context.Background(), AcquireOptions{Exclude: exclude})
		if best < 0 {
			if err == nil {
				t.Fatalf("step %d: got %s, nginx has no key", step, l.KeyID)
			}
			continue
		}
		cw[best] -= total
		if err != nil || l.KeyID != keys[best].ID {
			t.Fatalf("step %d: got %q (%v), nginx picks %s", step, l.KeyID, err, keys[best].ID)
		}
		f.p.Settle(&l, Usage{})
	}
}

func TestRandomIsUniform(t *testing.T) {
	f := newFixture(t, provider.Anthropic, PoolConfig{Strategy: StrategyRandom, Keys: keyCfgs(4)})
	const n = 40000
	c := counts(f.sequence(n))
	for id, got := range c {
		// Expected 10000, sd ~87: 6 sd is far outside chance.
		if got < 9500 || got > 10500 {
			t.Fatalf("%s picked %d of %d, want about %d (%v)", id, got, n, n/4, c)
		}
	}
	if len(c) != 4 {
		t.Fatalf("counts %v", c)
	}
	// Unavailable keys are never picked.
	if err := f.p.MarkKeyExhausted("k3", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if c := counts(f.sequence(3000)); c["k3"] != 0 || c["k0"] < 800 || c["k1"] < 800 || c["k2"] < 800 {
		t.Fatalf("counts with k3 cooling %v", c)
	}
}

func TestLeastLoadedSpreadsEvenlyWithoutHeaders(t *testing.T) {
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keyCfgs(3)})
	c := counts(f.sequence(300))
	for _, id := range []string{"k0", "k1", "k2"} {
		if c[id] < 98 || c[id] > 102 {
			t.Fatalf("counts %v, want 100 each", c)
		}
	}
	// In turn, not "always the first key".
	if got := f.sequence(3); len(slices.Compact(slices.Sorted(slices.Values(got)))) != 3 {
		t.Fatalf("three picks %v hit the same key", got)
	}
}

func TestLeastLoadedSpreadsLimitedKeysOnFrozenClock(t *testing.T) {
	keys := keyCfgs(3)
	for i := range keys {
		keys[i].RPMLimit = 100
	}
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys})
	c := counts(f.sequence(300))
	if c["k0"] != 100 || c["k1"] != 100 || c["k2"] != 100 {
		t.Fatalf("counts %v, want 100 each", c)
	}
	// Only the exhaustion is asserted (the helper fails the test otherwise); the error is not needed.
	_ = f.exhausted(AcquireOptions{})
}

func TestLeastLoadedPrefersHighestRemainingShare(t *testing.T) {
	keys := keyCfgs(3)
	keys[0].RPMLimit, keys[1].RPMLimit, keys[2].RPMLimit = 100, 100, 100
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys})
	// The provider says k0 has 90% left, k1 50%, k2 20%.
	for id, rem := range map[string]string{"k0": "90", "k1": "50", "k2": "20"} {
		if err := f.p.UpdateKeyFromHeaders(id, hdr("anthropic-ratelimit-requests-remaining", rem)); err != nil {
			t.Fatal(err)
		}
	}
	// k0 until it is down to k1's share, then they alternate, k2 last.
	seq := f.sequence(40)
	if c := counts(seq[:40]); c["k0"] != 40 {
		t.Fatalf("first 40 picks %v, want all k0", c)
	}
	c := counts(f.sequence(60))
	if c["k2"] != 0 || c["k0"] < 29 || c["k1"] < 29 {
		t.Fatalf("next 60 picks %v, want k0/k1 alternating", c)
	}
	// Shares by dimension: a key low on output tokens is less loaded...
	keys = keyCfgs(2)
	keys[0].RPMLimit, keys[0].OTPMLimit = 100, 1000
	keys[1].RPMLimit, keys[1].OTPMLimit = 100, 1000
	f = newFixture(t, provider.Anthropic, PoolConfig{Keys: keys})
	l := f.acquire(AcquireOptions{})
	f.p.Settle(&l, Usage{OutputTokens: 500}) // its key now has 50% output left
	for range 10 {
		if id := f.get(); id == l.KeyID {
			t.Fatalf("picked %s, which has half its output tokens left", id)
		}
	}
}

func TestLeastLoadedOneThousandKeys(t *testing.T) {
	keys := keyCfgs(1000)
	for i := range keys {
		keys[i].RPMLimit = 10
	}
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys})
	c := counts(f.sequence(10000))
	if len(c) != 1000 {
		t.Fatalf("%d keys used, want 1000", len(c))
	}
	for id, n := range c {
		if n != 10 {
			t.Fatalf("%s used %d times, want 10", id, n)
		}
	}
	// Only the exhaustion is asserted (the helper fails the test otherwise); the error is not needed.
	_ = f.exhausted(AcquireOptions{})
}

func TestExcludeSkipsTriedKeys(t *testing.T) {
	for _, s := range []Strategy{StrategyLeastLoaded, StrategyRoundRobin, StrategyRandom, StrategyWeighted} {
		t.Run(string(s), func(t *testing.T) {
			f := newFixture(t, provider.Anthropic, PoolConfig{Strategy: s, Keys: keyCfgs(3)})
			for range 20 {
				l := f.acquire(AcquireOptions{Exclude: []string{"k0", "k2"}})
				if l.KeyID != "k1" {
					t.Fatalf("got %s with k0, k2 excluded", l.KeyID)
				}
				f.p.Settle(&l, Usage{})
			}
			// Only the exhaustion is asserted (the helper fails the test otherwise); the error is not needed.
			_ = f.exhausted(AcquireOptions{Exclude: []string{"k0", "k1", "k2"}})
		})
	}
}

func TestPriorityTiers(t *testing.T) {
	keys := keyCfgs(4)
	keys[0].Priority, keys[1].Priority = 2, 2 // high
	keys[2].Priority = 1
	keys[3].Priority = 0
	keys[0].RPMLimit, keys[1].RPMLimit, keys[2].RPMLimit = 2, 2, 1
	for _, s := range []Strategy{StrategyLeastLoaded, StrategyRoundRobin, StrategyRandom, StrategyWeighted} {
		t.Run(string(s), func(t *testing.T) {
			f := newFixture(t, provider.Anthropic, PoolConfig{Strategy: s, Keys: keys})
			got := f.sequence(7)
			if c := counts(got[:4]); c["k0"] != 2 || c["k1"] != 2 {
				t.Fatalf("high tier first: %v", got)
			}
			if got[4] != "k2" || got[5] != "k3" || got[6] != "k3" {
				t.Fatalf("then normal, then low: %v", got)
			}
			// The high tier is back as soon as it has capacity.
			f.clock.Advance(30 * time.Second)
			if id := f.get(); id != "k0" && id != "k1" {
				t.Fatalf("got %s after the high tier refilled", id)
			}
			// Excluding the high tier's keys falls back too.
			l := f.acquire(AcquireOptions{Exclude: []string{"k0", "k1"}})
			if l.KeyID != "k2" && l.KeyID != "k3" {
				t.Fatalf("got %s", l.KeyID)
			}
		})
	}
}

func TestLimitGroupSharesCapacity(t *testing.T) {
	keys := keyCfgs(3)
	keys[0].LimitGroup, keys[1].LimitGroup = "org-a", "org-a"
	keys[0].RPMLimit, keys[1].RPMLimit = 10, 10
	keys[2].RPMLimit = 5
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys})
	var got []string
	for {
		id, _, err := f.p.GetKey(context.Background())
		if err != nil {
			break
		}
		got = append(got, id)
	}
	c := counts(got)
	if c["k0"]+c["k1"] != 10 || c["k2"] != 5 {
		t.Fatalf("grants %v: org-a must give 10 in all, not 20", c)
	}
	if c["k0"] != 5 || c["k1"] != 5 {
		t.Fatalf("grants %v: keys of a group take turns", c)
	}
	st := f.p.GetStats()
	if st.TotalRPM != 15 {
		t.Fatalf("TotalRPM = %d, want 15 (the group counted once)", st.TotalRPM)
	}
	// A header on one key of the group is learned by both.
	f.clock.Advance(time.Minute)
	if err := f.p.UpdateKeyFromHeaders("k0", hdr("anthropic-ratelimit-requests-remaining", "0")); err != nil {
		t.Fatal(err)
	}
	if s0, s1 := f.state("k0"), f.state("k1"); s0 != StateRateLimited || s1 != StateRateLimited {
		t.Fatalf("states %s %s, want both RateLimited", s0, s1)
	}
}
