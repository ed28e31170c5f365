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

	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
)

// KeyStats is a snapshot of one key, safe to publish (no secret). Limits
// and remaining counts are those of the key's limiter, which keys of one
// limit group share; with several model classes, of its busiest class (the
// one with the least share left, see Classes).
type KeyStats struct {
	ID            string
	State         State
	RPMLimit      int64 // 0 = unknown
	RPMRemaining  int64 // -1 = unknown
	ITPMRemaining int64 // -1 = unknown
	OTPMRemaining int64 // -1 = unknown
	// ResetAt is when the key's known limits are all full again; zero when
	// they are full now or unknown.
	ResetAt time.Time
	// CooldownUntil is when a cooldown ends; zero when not cooling down.
	CooldownUntil time.Time
	LastError     string
	InFlight      int64

	ITPMLimit    int64 // 0 = unknown
	OTPMLimit    int64 // 0 = unknown
	TPMLimit     int64 // combined tokens (OpenAI); 0 = unknown
	TPMRemaining int64 // -1 = unknown
	LastErrorAt  time.Time
	Priority     int
	LimitGroup   string
	// Acquired counts the leases handed out for the key since it joined the
	// pool (or its value last changed).
	Acquired int64
	// Classes lists the model classes the key's limiter served, when it
	// served a request that named a model; nil otherwise.
	Classes []ClassStats
}

// PoolStats is a snapshot of the whole pool.
type PoolStats struct {
	TotalKeys     int
	AvailableKeys int
	ExhaustedKeys int // TotalKeys - AvailableKeys
	// TotalRPM and RemainingRPM add up the known request limits, counting a
	// limit group once, however many keys it has; with several model
	// classes, each group's busiest class (the least share left).
	TotalRPM     int64
	RemainingRPM int64
	// RemainingTokens adds up the tokens left this minute (input, output or
	// combined buckets) of the known token limits, a limit group once.
	RemainingTokens int64
	// Queued is how many requests wait for a key with capacity now.
	Queued int
	Keys   []KeyStats // configuration order
}

// GetStats returns a consistent snapshot of the pool. It also brings every
// key's state up to date (reporting refills and expired cooldowns).
func (p *KeyPool) GetStats() PoolStats {
	now := p.clock.Now()
	nowNs := now.UnixNano()
	p.mu.Lock()
	p.expire(now)
	snaps := make(map[*group]*ratelimit.Snapshot, len(p.groups))
	classes := make(map[*group][]ClassStats, len(p.groups))
	fullAt := make(map[*group]int64, len(p.groups))
	st := PoolStats{TotalKeys: len(p.keys), Keys: make([]KeyStats, 0, len(p.keys))}
	for _, g := range p.groups {
		s, at := p.busiest(g, now)
		snaps[g], fullAt[g] = &s, at
		classes[g] = p.classStats(g, now)
		if limited := g.readyAt > nowNs; limited != g.limited {
			p.setLimited(g, limited, now)
		}
		if r := s.Dimensions[ratelimit.Requests]; r.Limit > 0 {
			st.TotalRPM += r.Limit
			st.RemainingRPM += r.Remaining
		}
		for _, dim := range [...]ratelimit.Dimension{ratelimit.InputTokens, ratelimit.OutputTokens, ratelimit.Tokens} {
			if t := s.Dimensions[dim]; t.Limit > 0 {
				st.RemainingTokens += t.Remaining
			}
		}
	}
	for _, k := range p.keys {
		p.refresh(k, nowNs, "capacity returned")
		g := k.slot.grp
		d := &snaps[g].Dimensions
		ks := KeyStats{
			ID:            k.id,
			State:         k.state,
			RPMLimit:      d[ratelimit.Requests].Limit,
			RPMRemaining:  d[ratelimit.Requests].Remaining,
			ITPMRemaining: d[ratelimit.InputTokens].Remaining,
			OTPMRemaining: d[ratelimit.OutputTokens].Remaining,
			LastError:     k.lastError,
			InFlight:      k.inFlight.Load(),
			ITPMLimit:     d[ratelimit.InputTokens].Limit,
			OTPMLimit:     d[ratelimit.OutputTokens].Limit,
			TPMLimit:      d[ratelimit.Tokens].Limit,
			TPMRemaining:  d[ratelimit.Tokens].Remaining,
			Priority:      k.priority,
			LimitGroup:    k.groupName,
			Acquired:      k.acquired,
			Classes:       classes[g],
		}
		if at := fullAt[g]; at > nowNs {
			ks.ResetAt = time.Unix(0, at)
		}
		if at := max(k.coolUntil, g.classCoolUntil()); at > nowNs {
			ks.CooldownUntil = time.Unix(0, at)
		}
		if k.lastErrorAt != 0 {
			ks.LastErrorAt = time.Unix(0, k.lastErrorAt)
		}
		if ks.State == StateAvailable {
			st.AvailableKeys++
		}
		st.Keys = append(st.Keys, ks)
	}
	st.ExhaustedKeys = st.TotalKeys - st.AvailableKeys
	st.Queued = p.queue.n
	pending := len(p.pending) > 0
	p.mu.Unlock()
	if pending {
		p.deliver()
	}
	return st
}
