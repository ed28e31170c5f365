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
	"time"

	"github.com/keypool-dev/keypool-operator/internal/provider"
)

// Prompt-cache affinity. Providers cache prompt prefixes per organisation
// (Anthropic per organisation or workspace, OpenAI per organisation), so a
// pool that spreads one conversation over organisations pays full price for
// every turn, where one organisation would serve the repeated prefix from
// its cache at a tenth of the price and, for Anthropic, outside the input
// rate limit. With affinity on, a request that carries an affinity key (a
// hash of its session id or prompt prefix, AcquireOptions.Affinity) goes to
// the limit group that served the key last, as long as that group has
// capacity in the tier being searched; otherwise it is placed as any
// request is, and the key follows it to its new group.
//
// The pool remembers keys in a fixed-size set-associative table: memory is
// bounded by PoolConfig.AffinityEntries whatever the traffic, a lookup costs
// a few comparisons and allocates nothing, and the least recently used key
// of a full set makes room. Only hashes are kept, never request content.

// DefaultAffinityEntries is PoolConfig.AffinityEntries when left 0: room
// for that many live conversations (about 100 KiB).
const DefaultAffinityEntries = 4096

// affinityWays is the table's associativity: a key may live in any of this
// many entries of its set, so that a few hot keys that hash alike do not
// evict each other.
const affinityWays = 4

// AffinityStats counts affinity decisions since the pool was created.
type AffinityStats struct {
	// Hits went to the limit group that served their key last.
	Hits int64
	// Moves carried a remembered key whose group could not take them (no
	// capacity, excluded after a failed attempt, or gone); the key now
	// follows the group that did.
	Moves int64
	// Misses carried a key the pool did not remember (new, or evicted).
	Misses int64
	// Entries is how many keys the table remembers now; never more than
	// Capacity.
	Entries int
	// Capacity is the table's size in keys; 0 when affinity is off.
	Capacity int
}

// affinityEntry is one remembered key and the group that served it last.
type affinityEntry struct {
	key  uint64 // 0 = free
	grp  *group
	used uint64 // the table's clock at the last hit or insert
	// cached is how many prompt tokens the last request of the key left in
	// grp's prompt cache (Anthropic's cache reads and writes), and cachedAt
	// when (Unix ns): the next request on grp will likely read them, and
	// Anthropic does not count cache reads against the input limit, so the
	// pool need not find room for them (see affine). 0 when unknown.
	cached   int64
	cachedAt int64
}

// affinityCacheTTL is how long the pool trusts a prompt cache entry to
// live: Anthropic's default lifetime.
const affinityCacheTTL = 5 * time.Minute

// expectedRead is the cache read the key's next request on e.grp can count
// on at nowNs.
func (e *affinityEntry) expectedRead(nowNs int64) int64 {
	if e.cached > 0 && nowNs-e.cachedAt < int64(affinityCacheTTL) {
		return e.cached
	}
	return 0
}

// affinityTable maps affinity keys to groups. It is guarded by the pool's
// lock.
type affinityTable struct {
	entries []affinityEntry // sets of affinityWays entries
	sets    uint64          // a power of two
	clock   uint64
	stats   AffinityStats
}

// newAffinityTable returns a table of at least n entries (rounded up to a
// power of two sets).
func newAffinityTable(n int) *affinityTable {
	sets := uint64(1)
	for sets*affinityWays < uint64(max(n, affinityWays)) {
		sets <<= 1
	}
	return &affinityTable{entries: make([]affinityEntry, sets*affinityWays), sets: sets}
}

// set returns the entries key may occupy. The key is already a hash, but
// its low bits may be poor (a caller's own hash); a multiplicative mix
// spreads them over the sets.
func (t *affinityTable) set(key uint64) []affinityEntry {
	i := (key * 0x9e3779b97f4a7c15 >> 32) & (t.sets - 1)
	return t.entries[i*affinityWays : (i+1)*affinityWays]
}

// find returns key's entry, nil if the table does not remember it.
func (t *affinityTable) find(key uint64) *affinityEntry {
	set := t.set(key)
	for i := range set {
		if set[i].key == key {
			return &set[i]
		}
	}
	return nil
}

// remember records that g served key: in key's entry, else in a free one,
// else in place of the set's least recently used key.
func (t *affinityTable) remember(key uint64, g *group) {
	t.clock++
	set := t.set(key)
	var victim *affinityEntry
	for i := range set {
		e := &set[i]
		switch {
		case e.key == key:
			if e.grp != g {
				e.cached = 0 // the new group has none of it cached
			}
			e.grp, e.used = g, t.clock
			return
		case e.key == 0:
			if victim == nil || victim.key != 0 {
				victim = e
			}
		case victim == nil || victim.key != 0 && e.used < victim.used:
			victim = e
		}
	}
	if victim.key == 0 {
		t.stats.Entries++
	}
	*victim = affinityEntry{key: key, grp: g, used: t.clock}
}

// configureAffinity turns affinity on or off and sizes the table. A table
// of the same size is kept, with what it remembers. p.mu is held.
func (p *KeyPool) configureAffinity(cfg *PoolConfig) {
	p.affinityOn.Store(cfg.Affinity)
	if !cfg.Affinity {
		p.affinity = nil
		return
	}
	n := cfg.AffinityEntries
	if n <= 0 {
		n = DefaultAffinityEntries
	}
	if p.affinity != nil && len(newAffinityTable(n).entries) == len(p.affinity.entries) {
		return
	}
	p.affinity = newAffinityTable(n)
}

// affine tries the group remembered for a's affinity key, if it is in tier
// t: a reserved key, or nil. a.affine records what the search found, for
// grant to count.
func (p *KeyPool) affine(t *tier, a *attempt) *keyMetadata {
	if a.affinity == 0 || p.affinity == nil {
		return nil
	}
	if a.affGroup == nil {
		e := p.affinity.find(a.affinity)
		if e == nil || !e.grp.live {
			return nil
		}
		a.affGroup, a.affRead = e.grp, e.expectedRead(a.nowNs)
	}
	for _, s := range a.affGroup.slots {
		if s.tier != t {
			continue
		}
		// What the group's cache will serve does not count against its
		// input limit: reserve only the rest. Settle counts what the
		// provider really charged either way; without this, a group whose
		// input limit is nearly spent would look full to a request that
		// costs it little, and send it where it costs full price.
		est := a.est
		a.est = max(est-a.affRead, 0)
		k := a.trySlot(s)
		switch {
		case k != nil || !a.queued:
		case a.keptFor != nil:
			// Passing a head that holds its turn (passHolder): a request
			// whose conversation is cached somewhere moves only once it is
			// the head itself, with its own patience; until then it waits
			// for its group, or for the head when that is the group kept.
			a.affWaitAt = a.keptAt
			if at := p.slotReadyAt(s, a.now, a.est, a); at > a.nowNs && at < never {
				a.affWaitAt = at
			}
		default:
			p.holdForAffinity(s, a)
		}
		a.est = est
		return k
	}
	return nil
}

// affinityPatience is how long a queued request may keep its turn waiting
// for its affine group rather than take capacity elsewhere. Under load a
// request is queued because every group is short; whichever group refills
// first would otherwise take the request at the queue's head, at the full
// price of a prompt its own group has cached, which also spends several
// times the input capacity a cached turn does. A group's buckets keep
// filling meanwhile (they lose nothing until full), so a short wait costs
// the pool no capacity, only the others behind it some latency.
const affinityPatience = 3 * time.Second

// holdForAffinity sets a.affWaitAt when a queued request should keep its
// turn for its affine group's slot s: the group can take it within the
// request's patience, counted from the first time it waited. p.mu is held.
func (p *KeyPool) holdForAffinity(s *slot, a *attempt) {
	if a.affWaitUntil == 0 {
		a.affWaitUntil = a.nowNs + int64(affinityPatience)
	}
	if at := p.slotReadyAt(s, a.now, a.est, a); at <= a.affWaitUntil && at > a.nowNs {
		a.affWaitAt = at
	}
}

// settleAffinity records what a settled request left in its group's prompt
// cache, for the discount of the key's next request (see affinityEntry).
// Only Anthropic leaves cache reads out of the input limit. p.mu is held.
func (p *KeyPool) settleAffinity(key uint64, g *group, u *Usage, nowNs int64) {
	if key == 0 || p.affinity == nil || p.provider != provider.Anthropic {
		return
	}
	e := p.affinity.find(key)
	if e == nil || e.grp != g || *u == (Usage{}) {
		return
	}
	e.cached, e.cachedAt = u.CacheReadInputTokens+u.CacheCreationInputTokens, nowNs
}

// rememberAffinity follows a granted request's affinity key to the group
// that serves it. p.mu is held.
func (p *KeyPool) rememberAffinity(a *attempt, g *group) {
	if a.affinity == 0 || p.affinity == nil {
		return
	}
	st := &p.affinity.stats
	switch {
	case a.affGroup == g:
		st.Hits++
	case a.affGroup != nil || p.affinity.find(a.affinity) != nil:
		st.Moves++
	default:
		st.Misses++
	}
	p.affinity.remember(a.affinity, g)
}

// AffinityEnabled reports whether the pool routes by affinity key, so that
// a caller computes keys only when they are used. It takes no lock.
func (p *KeyPool) AffinityEnabled() bool { return p.affinityOn.Load() }

// AffinityStats returns the affinity counters; all zero when affinity is
// off.
func (p *KeyPool) AffinityStats() AffinityStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.affinity == nil {
		return AffinityStats{}
	}
	st := p.affinity.stats
	st.Capacity = len(p.affinity.entries)
	return st
}
