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
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/provider"
)

// TestConcurrentUse runs Acquire/Settle, ReportResponse, header updates,
// stats and Update at once on a frozen clock, and checks that no key (or
// limit group) ever hands out more requests than its per-minute limit and
// that the stats always add up.
func TestConcurrentUse(t *testing.T) {
	const nKeys, rpm, groupRPM = 12, 40, 50
	keys := keyCfgs(nKeys)
	for i := range keys {
		keys[i].RPMLimit = rpm
		keys[i].ITPMLimit = 1_000_000
		keys[i].Priority = i % 3
		if i < 4 { // k0..k3 share one organisation's limit
			keys[i].LimitGroup = "org"
			keys[i].RPMLimit = groupRPM
		}
	}
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys, OnTransition: func(Transition) {}})

	var grants [nKeys]atomic.Int64
	var stop atomic.Bool
	var wg, workers sync.WaitGroup
	index := map[string]int{}
	for i, k := range keys {
		index[k.ID] = i
	}
	const workerCount = 8
	for w := range workerCount {
		workers.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for range 3000 {
				l, err := f.p.Acquire(context.Background(), AcquireOptions{EstimatedInputTokens: r.Int64N(2000)})
				if err != nil {
					continue
				}
				grants[index[l.KeyID]].Add(1)
				switch r.IntN(20) {
				case 0:
					f.p.ReportResponse(&l, 500, nil)
				case 1:
					f.p.ReportError(&l, fmt.Errorf("connection reset"))
				case 2:
					// A provider reports at most what it has left: its limit
					// less what it admitted (the clock is frozen). The pool
					// may raise its picture to that, never beyond the limit.
					i := index[l.KeyID]
					limit, used := int64(rpm), grants[i].Load()
					if i < 4 {
						limit, used = groupRPM, grants[0].Load()+grants[1].Load()+grants[2].Load()+grants[3].Load()
					}
					left := max(limit-used, 0)
					f.p.ReportResponse(&l, 200, hdr("anthropic-ratelimit-requests-remaining", fmt.Sprint(r.Int64N(left+1))))
				default:
					f.p.ReportResponse(&l, 200, nil)
				}
				f.p.Settle(&l, Usage{InputTokens: r.Int64N(3000), OutputTokens: r.Int64N(500)})
			}
		})
	}
	wg.Go(func() {
		strategies := []Strategy{StrategyLeastLoaded, StrategyRoundRobin, StrategyRandom, StrategyWeighted}
		for i := 0; !stop.Load(); i++ {
			cfg := PoolConfig{Keys: append([]KeyConfig(nil), keys...), Strategy: strategies[i%4]}
			for j := range cfg.Keys {
				cfg.Keys[j].Weight = 1 + (i+j)%3
				cfg.Keys[j].Priority = (i + j) % 2
			}
			if err := f.p.Update(cfg); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Go(func() {
		for !stop.Load() {
			st := f.p.GetStats()
			if err := checkSnapshot(st, workerCount); err != nil {
				t.Errorf("stats do not add up: %v: %+v", err, st)
				return
			}
			if len(st.Keys) != nKeys {
				t.Errorf("%d keys in the stats, %d configured", len(st.Keys), nKeys)
				return
			}
			f.p.GetEarliestResetTime()
			if err := f.p.UpdateKeyFromHeaders("k5", hdr("anthropic-ratelimit-requests-limit", fmt.Sprint(rpm))); err != nil {
				t.Error(err)
				return
			}
		}
	})
	workers.Wait()
	stop.Store(true)
	wg.Wait()

	var group, total int64
	for i := range grants {
		n := grants[i].Load()
		total += n
		if i < 4 {
			group += n
		} else if n > rpm {
			t.Errorf("k%d handed out %d requests, limit %d", i, n, rpm)
		}
	}
	if group > groupRPM {
		t.Errorf("the group handed out %d requests, limit %d", group, groupRPM)
	}
	if total == 0 {
		t.Fatal("nothing granted")
	}
	// The pool's own count of leases handed out per key must match what the
	// workers received (no value changed, so no counter restarted), and
	// every lease must be settled.
	for i, ks := range f.p.GetStats().Keys {
		if want := grants[index[ks.ID]].Load(); ks.Acquired != want || ks.InFlight != 0 {
			t.Errorf("key %d (%s): pool counts %d acquired, %d in flight; the workers got %d and settled all",
				i, ks.ID, ks.Acquired, ks.InFlight, want)
		}
	}
	t.Logf("granted %d requests (group %d)", total, group)
}

// checkSnapshot checks a stats snapshot against what the test counts itself:
// the available and exhausted totals against the keys' own states, and the
// leases in flight against the workers that can hold one (each at most one).
func checkSnapshot(st PoolStats, workers int64) error {
	available, inFlight := 0, int64(0)
	for _, k := range st.Keys {
		if k.State == StateAvailable {
			available++
		}
		if k.InFlight < 0 {
			return fmt.Errorf("%s: %d leases in flight", k.ID, k.InFlight)
		}
		inFlight += k.InFlight
	}
	if st.AvailableKeys != available || st.ExhaustedKeys != len(st.Keys)-available || st.TotalKeys != len(st.Keys) {
		return fmt.Errorf("totals %d available, %d exhausted of %d; the keys' states give %d available of %d",
			st.AvailableKeys, st.ExhaustedKeys, st.TotalKeys, available, len(st.Keys))
	}
	if inFlight > workers {
		return fmt.Errorf("%d leases in flight, but only %d workers hold leases", inFlight, workers)
	}
	return nil
}

// TestConcurrentMembershipChanges adds and removes keys and rotates values
// while requests run: leases of removed keys must settle safely and the
// stats must stay consistent.
func TestConcurrentMembershipChanges(t *testing.T) {
	all := keyCfgs(8)
	for i := range all {
		all[i].RPMLimit = 1000
	}
	f := newFixture(t, provider.OpenAI, PoolConfig{Keys: all[:4]})
	// The updater records each key list before applying it (index 0 is the
	// initial one) and counts the Updates that returned: a snapshot must show
	// one of the lists between the last applied before it and the last begun
	// after it.
	var (
		appliedMu sync.Mutex
		applied   = [][]string{ids(all[:4])}
		returned  atomic.Int64
	)
	returned.Store(1)
	const workerCount = 6
	var stop atomic.Bool
	var wg, workers sync.WaitGroup
	for w := range workerCount {
		workers.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 2))
			for range 2000 {
				l, err := f.p.Acquire(context.Background(), AcquireOptions{EstimatedInputTokens: r.Int64N(100)})
				if err != nil {
					continue
				}
				if r.IntN(10) == 0 {
					f.p.ReportResponse(&l, 401, nil)
					if f.p.Suspect(&l, time.Second) {
						f.p.Confirm(l.KeyID, l.APIKey, r.IntN(2) == 0)
					}
				}
				f.p.Settle(&l, Usage{InputTokens: r.Int64N(100)})
			}
		})
	}
	wg.Go(func() {
		r := rand.New(rand.NewPCG(9, 9))
		for !stop.Load() {
			lo := r.IntN(4)
			cfg := PoolConfig{Keys: append([]KeyConfig(nil), all[lo:lo+1+r.IntN(4)]...)}
			if r.IntN(2) == 0 {
				cfg.Keys[0].APIKey = fmt.Sprintf("sk-rotated-%d", r.IntN(3))
			}
			appliedMu.Lock()
			applied = append(applied, ids(cfg.Keys))
			appliedMu.Unlock()
			if err := f.p.Update(cfg); err != nil {
				t.Error(err)
				return
			}
			returned.Add(1)
		}
	})
	wg.Go(func() {
		for !stop.Load() {
			lo := int(returned.Load()) - 1
			st := f.p.GetStats()
			appliedMu.Lock()
			candidates := applied[lo:]
			appliedMu.Unlock()
			if err := checkSnapshot(st, workerCount); err != nil {
				t.Errorf("stats do not add up: %v: %+v", err, st)
				return
			}
			got := make([]string, len(st.Keys))
			for i, k := range st.Keys {
				got[i] = k.ID
			}
			if !slices.ContainsFunc(candidates, func(c []string) bool { return slices.Equal(c, got) }) {
				t.Errorf("stats list keys %v, not one of the configurations applied then %v", got, candidates)
				return
			}
		}
	})
	workers.Wait()
	stop.Store(true)
	wg.Wait()
	for _, ks := range f.p.GetStats().Keys {
		if ks.InFlight != 0 {
			t.Errorf("%s: %d in flight after every lease settled", ks.ID, ks.InFlight)
		}
	}
}

// ids returns the keys' IDs in order.
func ids(keys []KeyConfig) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.ID
	}
	return out
}
