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
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/provider"
)

var allStrategies = []Strategy{StrategyLeastLoaded, StrategyRoundRobin, StrategyRandom, StrategyWeighted}

// affinityPool is four keys with rpm requests a minute each, with affinity
// on or off.
func affinityPool(t *testing.T, strategy Strategy, rpm int64, on bool) *fixture {
	t.Helper()
	keys := keyCfgs(4)
	for i := range keys {
		keys[i].RPMLimit = rpm
	}
	return newFixture(t, provider.Anthropic, PoolConfig{Keys: keys, Strategy: strategy, Affinity: on})
}

// use acquires for affinity key aff and settles at once.
func (f *fixture) use(aff uint64) string {
	f.t.Helper()
	l := f.acquire(AcquireOptions{Affinity: aff})
	f.p.Settle(&l, Usage{})
	return l.KeyID
}

func TestAffinitySticksWhileCapacity(t *testing.T) {
	for _, s := range allStrategies {
		t.Run(string(s), func(t *testing.T) {
			f := affinityPool(t, s, 10, true)
			first := f.use(7)
			// Other traffic moves the strategy on; the affine request stays.
			for range 2 {
				f.use(0)
				if got := f.use(7); got != first {
					t.Fatalf("affine request went to %s, want %s while it has capacity", got, first)
				}
			}
			st := f.p.AffinityStats()
			if st.Misses != 1 || st.Hits != 2 || st.Moves != 0 {
				t.Fatalf("stats %+v, want 1 miss and 2 hits", st)
			}
		})
	}
}

func TestAffinityMovesWhenExhaustedAndFollows(t *testing.T) {
	for _, s := range allStrategies {
		t.Run(string(s), func(t *testing.T) {
			f := affinityPool(t, s, 3, true)
			first := f.use(7)
			f.use(7)
			f.use(7) // first's 3 requests of the minute are spent
			moved := f.use(7)
			if moved == first {
				t.Fatalf("affine request stayed on exhausted %s", first)
			}
			// The key follows the new group, even once the old one refills.
			f.clock.Advance(time.Minute)
			if got := f.use(7); got != moved {
				t.Fatalf("after moving, request went to %s, want %s", got, moved)
			}
			if st := f.p.AffinityStats(); st.Moves != 1 {
				t.Fatalf("stats %+v, want 1 move", st)
			}
		})
	}
}

func TestAffinityRespectsExcludeAndPriority(t *testing.T) {
	keys := keyCfgs(3)
	keys[2].Priority = 1 // k2 is preferred by priority
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys, Affinity: true})
	if got := f.use(9); got != "k2" {
		t.Fatalf("first request went to %s, want the high-priority k2", got)
	}
	// A failover excludes the remembered key: the request goes elsewhere.
	l := f.acquire(AcquireOptions{Affinity: 9, Exclude: []string{"k2"}})
	f.p.Settle(&l, Usage{})
	if l.KeyID == "k2" {
		t.Fatal("excluded key was chosen for affinity")
	}
	// Affinity to a lower tier does not override priority: k2 has capacity.
	if got := f.use(9); got != "k2" {
		t.Fatalf("request went to %s, want k2: priority comes before affinity", got)
	}
}

func TestAffinityKeysShareLimitGroup(t *testing.T) {
	keys := keyCfgs(4)
	keys[0].LimitGroup, keys[1].LimitGroup = "org", "org"
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys, Affinity: true})
	first := f.use(5)
	for range 4 {
		got := f.use(5)
		if (first == "k0" || first == "k1") != (got == "k0" || got == "k1") {
			t.Fatalf("request went to %s, outside the group of %s", got, first)
		}
		if first != "k0" && first != "k1" && got != first {
			t.Fatalf("request went to %s, want %s", got, first)
		}
	}
}

func TestAffinityOffIgnoresKeys(t *testing.T) {
	f := affinityPool(t, StrategyRoundRobin, 3, false)
	got := []string{f.use(7), f.use(7), f.use(7)}
	if got[0] == got[1] || got[1] == got[2] {
		t.Fatalf("without affinity round-robin should rotate, got %v", got)
	}
	if st := f.p.AffinityStats(); st != (AffinityStats{}) {
		t.Fatalf("stats with affinity off: %+v", st)
	}
}

func TestAffinityMemoryIsBounded(t *testing.T) {
	keys := keyCfgs(2)
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys, Affinity: true, AffinityEntries: 64})
	for i := range 10_000 {
		f.use(uint64(i + 1))
	}
	st := f.p.AffinityStats()
	if st.Capacity != 64 || st.Entries != 64 {
		t.Fatalf("entries %d of capacity %d, want a full table of 64", st.Entries, st.Capacity)
	}
	// The most recent keys are remembered, the oldest evicted.
	f.p.mu.Lock()
	recent, old := f.p.affinity.find(10_000) != nil, f.p.affinity.find(1) != nil
	f.p.mu.Unlock()
	if !recent || old {
		t.Fatalf("remembered: newest %v (want true), oldest %v (want false)", recent, old)
	}
}

func TestAffinityTableEvictsLeastRecentlyUsed(t *testing.T) {
	tab := newAffinityTable(affinityWays) // one set
	g := &group{live: true}
	for k := uint64(1); k <= affinityWays; k++ {
		tab.remember(k, g)
	}
	tab.remember(1, g) // 1 is now the most recent; 2 the least
	tab.remember(99, g)
	if tab.find(2) != nil || tab.find(1) == nil || tab.find(99) == nil {
		t.Fatal("the least recently used key should have made room")
	}
}

func TestAffinityIgnoresGroupThatLeft(t *testing.T) {
	keys := keyCfgs(2)
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys, Affinity: true})
	first := f.use(4)
	f.p.mu.Lock()
	f.p.affinity.find(4).grp.live = false // as an Update that dropped it leaves it
	f.p.mu.Unlock()
	f.use(4)
	if st := f.p.AffinityStats(); st.Moves != 1 {
		t.Fatalf("stats %+v after %s's group left: want the request moved", st, first)
	}
}

// A conversation's next turn reads most of its prompt from the group's
// cache, which Anthropic does not count against the input limit: the pool
// keeps it on a group whose input limit has room for the rest only.
func TestAffinityCountsOnCacheReads(t *testing.T) {
	for _, tc := range []struct {
		prov provider.Provider
		stay bool
	}{{provider.Anthropic, true}, {provider.OpenAI, false}} {
		t.Run(tc.prov.Name(), func(t *testing.T) {
			keys := keyCfgs(2)
			for i := range keys {
				keys[i].ITPMLimit = 5000
			}
			f := newFixture(t, tc.prov, PoolConfig{Keys: keys, Affinity: true, Strategy: StrategyRoundRobin})
			l := f.acquire(AcquireOptions{Affinity: 8, EstimatedInputTokens: 3000})
			first := l.KeyID
			// The whole prompt was written to the cache (OpenAI: counted
			// as input; its cache reads count against TPM anyway).
			u := Usage{CacheCreationInputTokens: 3000}
			if tc.prov == provider.OpenAI {
				u = Usage{InputTokens: 3000}
			}
			f.p.Settle(&l, u)
			// 2000 input tokens are left on first's group; the next turn
			// is 3500 tokens, 3000 of them cached.
			l = f.acquire(AcquireOptions{Affinity: 8, EstimatedInputTokens: 3500})
			f.p.Settle(&l, Usage{CacheReadInputTokens: 3000, CacheCreationInputTokens: 500})
			if stayed := l.KeyID == first; stayed != tc.stay {
				t.Fatalf("second turn on %s (first %s): stayed %v, want %v", l.KeyID, first, stayed, tc.stay)
			}
			if tc.stay {
				if r := f.stats(first).ITPMRemaining; r != 1500 {
					t.Fatalf("remaining input tokens %d, want 1500: the cache read is not counted", r)
				}
			}
		})
	}
}

func TestAffinitySurvivesUpdate(t *testing.T) {
	keys := keyCfgs(3)
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys, Affinity: true, Strategy: StrategyRoundRobin})
	first := f.use(3)
	if err := f.p.Update(PoolConfig{Keys: keys, Affinity: true, Strategy: StrategyRoundRobin}); err != nil {
		t.Fatal(err)
	}
	if got := f.use(3); got != first {
		t.Fatalf("after an Update, request went to %s, want %s", got, first)
	}
	// Without its key the group is gone; the request is placed afresh.
	var rest []KeyConfig
	for _, k := range keys {
		if k.ID != first {
			rest = append(rest, k)
		}
	}
	if err := f.p.Update(PoolConfig{Keys: rest, Affinity: true}); err != nil {
		t.Fatal(err)
	}
	if got := f.use(3); got == first {
		t.Fatalf("request went to removed key %s", got)
	}
}

// Every conversation sticks to one key while it has capacity: with 8
// conversations over 4 keys, each conversation's turns all go to one key.
func TestAffinityManyConversations(t *testing.T) {
	keys := keyCfgs(4)
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys, Affinity: true})
	where := map[uint64]string{}
	for turn := range 5 {
		for c := uint64(1); c <= 8; c++ {
			got := f.use(c)
			if turn == 0 {
				where[c] = got
			} else if got != where[c] {
				t.Fatalf("conversation %d turn %d went to %s, want %s", c, turn, got, where[c])
			}
		}
	}
	spread := map[string]int{}
	for _, k := range where {
		spread[k]++
	}
	if len(spread) != 4 {
		t.Fatal(fmt.Sprint("new conversations should spread over the keys, got ", spread))
	}
}

// BenchmarkAffinity is an Acquire and Settle for 1000 conversations taking
// turns, with affinity off and on: on, every Acquire looks its key up and
// every grant remembers it.
func BenchmarkAffinity(b *testing.B) {
	ctx := context.Background()
	for _, n := range benchSizes {
		for _, on := range []bool{false, true} {
			b.Run(fmt.Sprintf("keys=%d/affinity=%v", n, on), func(b *testing.B) {
				keys := keyCfgs(n)
				for i := range keys {
					keys[i].RPMLimit, keys[i].ITPMLimit, keys[i].OTPMLimit = 1e12, 1e12, 1e12
				}
				p, err := NewKeyPool(provider.Anthropic, PoolConfig{Keys: keys, Affinity: on})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				var conv uint64
				for b.Loop() {
					conv = conv%1000 + 1
					l, err := p.Acquire(ctx, AcquireOptions{EstimatedInputTokens: 1200, Affinity: conv * 0x9e3779b97f4a7c15})
					if err != nil {
						b.Fatal(err)
					}
					p.Settle(&l, Usage{InputTokens: 1000, OutputTokens: 300})
				}
			})
		}
	}
}

// A queued request keeps its turn for its own group when that group can
// take it within affinityPatience, rather than take another group's
// capacity a moment earlier; beyond that it moves.
func TestAffinityQueuedRequestWaitsBrieflyForItsGroup(t *testing.T) {
	for _, tc := range []struct {
		name    string
		gap     time.Duration // how much later its own group refills
		wantOwn bool
	}{
		{"within patience", 2 * time.Second, true},
		{"beyond patience", 5 * time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys := keyCfgs(2)
			for i := range keys {
				keys[i].RPMLimit = 1
			}
			f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys, Affinity: true, QueueTimeout: time.Minute})
			other := f.use(1) // the other group's minute starts now
			f.clock.Advance(tc.gap)
			own := f.use(5) // the conversation's group, tc.gap later
			if own == other {
				t.Fatalf("both requests on %s", own)
			}
			ch := f.acquireAsync(context.Background(), AcquireOptions{Affinity: 5}, 1)
			// The other group refills first.
			f.clock.Advance(time.Minute - tc.gap)
			if tc.wantOwn {
				f.awaitTimers(1) // woken, and asleep again until its group refills
				assertQueued(t, ch)
				f.clock.Advance(tc.gap)
			}
			r := f.await(ch)
			if r.err != nil {
				t.Fatal(r.err)
			}
			f.p.Settle(&r.l, Usage{})
			if (r.l.KeyID == own) != tc.wantOwn {
				t.Fatalf("queued request got %s (its group's key %s), want own group %v", r.l.KeyID, own, tc.wantOwn)
			}
		})
	}
}

// While a queued request holds its turn for its own group, the requests
// behind it take the other groups' capacity instead of idling behind it,
// under every strategy; its own group stays its own.
func TestAffinityHoldingRequestIsPassedOnOtherGroups(t *testing.T) {
	for _, s := range allStrategies {
		t.Run(string(s), func(t *testing.T) {
			keys := keyCfgs(2)
			for i := range keys {
				keys[i].RPMLimit = 1
			}
			f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys, Strategy: s, Affinity: true,
				QueueTimeout: time.Minute})
			other := f.use(1) // the other group's minute starts now
			f.clock.Advance(2 * time.Second)
			own := f.use(5) // the conversation's group, 2 s later
			if own == other {
				t.Fatalf("both requests on %s", own)
			}
			ctx := context.Background()
			head := f.acquireAsync(ctx, AcquireOptions{Affinity: 5}, 1)
			behind := f.acquireAsync(ctx, AcquireOptions{Affinity: 7}, 2)
			// The other group refills first: the head keeps its turn for its
			// own, 2 s later, and the request behind it takes the other.
			f.clock.Advance(time.Minute - 2*time.Second)
			b := f.await(behind)
			if b.err != nil || b.l.KeyID != other {
				t.Fatalf("request behind the holder: %+v, want a lease on %s", b, other)
			}
			assertQueued(t, head)
			f.awaitTimers(1) // the holder asleep until its group refills
			f.clock.Advance(2 * time.Second)
			r := f.await(head)
			if r.err != nil || r.l.KeyID != own {
				t.Fatalf("holder: %+v, want a lease on its own group's %s", r, own)
			}
			f.p.Settle(&b.l, Usage{})
			f.p.Settle(&r.l, Usage{})
		})
	}
}

// heldGroupPool is two keys of 60,000 input tokens a minute (1000 a
// second): own, where conversation 5 is cached, with 1000 left, and the
// other empty.
func heldGroupPool(t *testing.T, s Strategy) (*fixture, string) {
	t.Helper()
	keys := keyCfgs(2)
	for i := range keys {
		keys[i].ITPMLimit = 60_000
	}
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys, Strategy: s, Affinity: true,
		QueueTimeout: time.Minute})
	l := f.acquire(AcquireOptions{Affinity: 5, EstimatedInputTokens: 59_000})
	own := l.KeyID
	f.p.Settle(&l, Usage{InputTokens: 59_000})
	l = f.acquire(AcquireOptions{EstimatedInputTokens: 60_000})
	if l.KeyID == own {
		t.Fatalf("60,000 tokens fit on %s with 1000 left", own)
	}
	f.p.Settle(&l, Usage{InputTokens: 60_000})
	return f, own
}

// The requests passing a holder do not take its group's capacity, even
// when they would fit where it does not yet.
func TestAffinityHolderKeepsItsGroup(t *testing.T) {
	for _, s := range allStrategies {
		t.Run(string(s), func(t *testing.T) {
			f, own := heldGroupPool(t, s)
			ctx := context.Background()
			// The head needs 2000 more on its own group (2 s, within its
			// patience); the request behind it would fit there now.
			head := f.acquireAsync(ctx, AcquireOptions{Affinity: 5, EstimatedInputTokens: 3000}, 1)
			behind := f.acquireAsync(ctx, AcquireOptions{EstimatedInputTokens: 500}, 2)
			assertQueued(t, behind)
			f.clock.Advance(time.Second) // the other group has 1000 now
			b := f.await(behind)
			if b.err != nil || b.l.KeyID == own {
				t.Fatalf("request behind the holder: %+v, want a lease on the other group, not %s", b, own)
			}
			f.awaitTimers(1) // the holder asleep until its group has room
			f.clock.Advance(time.Second)
			r := f.await(head)
			if r.err != nil || r.l.KeyID != own {
				t.Fatalf("holder: %+v, want a lease on its own group's %s", r, own)
			}
			f.p.Settle(&b.l, Usage{InputTokens: 500})
			f.p.Settle(&r.l, Usage{InputTokens: 3000})
		})
	}
}

// A request of a conversation cached on the group a head holds its turn
// for waits with it rather than move to another group.
func TestAffinityWaiterOfTheHeldGroupWaitsWithItsHead(t *testing.T) {
	f, own := heldGroupPool(t, StrategyRoundRobin)
	ctx := context.Background()
	head := f.acquireAsync(ctx, AcquireOptions{Affinity: 5, EstimatedInputTokens: 3000}, 1)
	same := f.acquireAsync(ctx, AcquireOptions{Affinity: 5, EstimatedInputTokens: 500}, 2)
	f.clock.Advance(time.Second) // the other group has room for it now
	assertQueued(t, same)
	f.clock.Advance(time.Second)
	h := f.await(head)
	if h.err != nil || h.l.KeyID != own {
		t.Fatalf("holder: %+v, want a lease on %s", h, own)
	}
	f.awaitTimers(1) // the other asleep until its group has room again
	f.clock.Advance(time.Second)
	r := f.await(same)
	if r.err != nil || r.l.KeyID != own {
		t.Fatalf("the conversation's next request: %+v, want a lease on %s, not a move", r, own)
	}
	f.p.Settle(&h.l, Usage{InputTokens: 3000})
	f.p.Settle(&r.l, Usage{InputTokens: 500})
}

// A request passing a holder does not move its own conversation: while its
// group has no room it waits, and it moves only once it is the head.
func TestAffinityPassingMovesNoConversation(t *testing.T) {
	keys := keyCfgs(3) // k0: conversation 5's group, k1: conversation 6's, k2: spare
	keys[0].ITPMLimit, keys[1].ITPMLimit, keys[2].ITPMLimit = 60_000, 30_000, 60_000
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys, Strategy: StrategyRoundRobin, Affinity: true,
		QueueTimeout: time.Minute})
	for _, u := range []struct {
		aff     uint64
		est     int64
		key     string
		exclude []string
	}{
		{5, 59_000, "k0", []string{"k1", "k2"}}, // 1000 left, 1000 a second
		{6, 30_000, "k1", []string{"k0", "k2"}}, // empty, 500 a second
		{0, 57_500, "k2", []string{"k0", "k1"}}, // 2500 left, 1000 a second
	} {
		l := f.acquire(AcquireOptions{Affinity: u.aff, EstimatedInputTokens: u.est, Exclude: u.exclude})
		if l.KeyID != u.key {
			t.Fatalf("setup went to %s, want %s", l.KeyID, u.key)
		}
		f.p.Settle(&l, Usage{InputTokens: u.est})
	}
	ctx := context.Background()
	// The head holds its turn for k0 (2 s). Conversation 6 needs 6 s on k1,
	// beyond its patience: as the head it would move to k2 once k2 has
	// room (0.5 s); behind a holder it waits.
	head := f.acquireAsync(ctx, AcquireOptions{Affinity: 5, EstimatedInputTokens: 3000}, 1)
	passer := f.acquireAsync(ctx, AcquireOptions{Affinity: 6, EstimatedInputTokens: 3000}, 2)
	f.clock.Advance(time.Second)
	assertQueued(t, passer)
	f.awaitTimers(2)
	f.clock.Advance(time.Second)
	h := f.await(head)
	if h.err != nil || h.l.KeyID != "k0" {
		t.Fatalf("holder: %+v, want a lease on k0", h)
	}
	// Now the head, it moves.
	r := f.await(passer)
	if r.err != nil || r.l.KeyID != "k2" {
		t.Fatalf("conversation 6 as the head: %+v, want a move to k2", r)
	}
	f.p.Settle(&h.l, Usage{InputTokens: 3000})
	f.p.Settle(&r.l, Usage{InputTokens: 3000})
}
