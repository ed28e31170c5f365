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

// retryAt is when the request of a first has a key with capacity: the
// minimum over keys of the latest of the key's cooldown and the refill of
// each limit dimension the request needs. p.mu is held.
func (p *KeyPool) retryAt(a *attempt) int64 {
	at := never
	for _, t := range p.tiers {
		if e := &t.exhausted; len(a.exclude) == 0 && !a.held && a.keptFor == nil && a.cls == 0 && e.valid && e.est == a.est &&
			e.out == a.outTokens() {
			at = min(at, e.until)
		} else {
			at = min(at, p.tierReadyAt(t, a))
		}
	}
	return at
}

// tierReadyAt is the earliest time any slot of t can take a's request.
func (p *KeyPool) tierReadyAt(t *tier, a *attempt) int64 {
	at := never
	for _, s := range t.slots {
		at = min(at, p.slotReadyAt(s, a.now, a.est, a))
	}
	return at
}

// slotReadyAt is when s can take a request with est input tokens: when one
// of its keys is usable (not rejected or excluded, its cooldown over) and its
// limiter has room. a may be nil (no exclusions).
func (p *KeyPool) slotReadyAt(s *slot, now time.Time, est int64, a *attempt) int64 {
	if a != nil && s.grp == a.keptFor {
		return never // a queue's head holds its turn for it (passHolder)
	}
	nowNs := now.UnixNano()
	member := never
	for _, k := range s.keys {
		if k.slot == nil || k.rejected || (a != nil && a.excluded(k)) {
			continue
		}
		member = min(member, max(k.coolUntil, nowNs))
	}
	if member == never {
		return never
	}
	held := a != nil && a.held
	if held {
		est += a.reserveIn
	}
	out := ratelimit.LearnedOutput
	if a != nil {
		out = a.outTokens()
	}
	room := s.grp.readyAt // for a minimal request with the learned output
	if a != nil && a.cls != 0 {
		c := p.class(s.grp, a.cls, now)
		d, _ := c.lim.TimeToCapacity(now, est, out)
		return max(member, nowNs+int64(d), c.coolUntil)
	}
	if est > 1 || out >= 0 {
		d, _ := s.grp.lim.TimeToCapacity(now, est, out)
		room = nowNs + int64(d)
	}
	if held {
		// A held request also waits for the group's standby.
		room = max(room, s.grp.readyAt+s.grp.standby(nowNs))
	}
	return max(member, room)
}

// GetEarliestResetTime returns when some key will have capacity for a
// request: now if one has it now, the end of the earliest cooldown or limit
// refill otherwise, and now+1m when that cannot be predicted (every key
// rejected).
func (p *KeyPool) GetEarliestResetTime() time.Time {
	now := p.clock.Now()
	p.mu.Lock()
	p.expire(now)
	a := attempt{now: now, nowNs: now.UnixNano()}
	at := never
	for _, t := range p.tiers {
		at = min(at, p.tierReadyAt(t, &a))
	}
	pending := len(p.pending) > 0
	p.mu.Unlock()
	if pending {
		p.deliver()
	}
	switch {
	case at == never:
		return now.Add(defaultRetryAfter)
	case at <= a.nowNs:
		return now
	}
	return now.Add(time.Duration(at - a.nowNs))
}
