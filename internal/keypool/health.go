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
	"fmt"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
)

// This file holds the state machine's moves. Every function here runs with
// p.mu held and records the transitions it causes.

// refresh brings k's reported state up to date, recording a transition.
func (p *KeyPool) refresh(k *keyMetadata, now int64, reason string) {
	if st := k.derive(now); st != k.state {
		p.record(k, st, reason)
	}
}

// touch takes note that g's limiter changed: it re-reads the outlook,
// repositions g's slots in their selectors, lowers the exhaustion horizon of
// tiers that wait for them, and reports keys that ran out of capacity or got
// it back.
func (p *KeyPool) touch(g *group, now time.Time) {
	if !g.live {
		return
	}
	g.load()
	nowNs := now.UnixNano()
	for _, s := range g.slots {
		s.tier.sel.changed(s, nil, nowNs)
		if e := &s.tier.exhausted; e.valid {
			e.until = min(e.until, p.slotReadyAt(s, now, e.est, nil))
		}
	}
	if limited := g.readyAt > nowNs; limited != g.limited {
		p.setLimited(g, limited, now)
	}
}

// setLimited records that g's local limits are spent (or no longer are) and
// reports the state of its keys.
func (p *KeyPool) setLimited(g *group, limited bool, now time.Time) {
	g.limited = limited
	reason := "capacity returned"
	if limited {
		reason = "local rate limit reached"
		if _, d := g.lim.TimeToCapacity(now, 0, ratelimit.LearnedOutput); d >= 0 {
			reason = fmt.Sprintf("local %s limit reached", d)
		}
	}
	nowNs := now.UnixNano()
	for _, s := range g.slots {
		for _, k := range s.keys {
			p.refresh(k, nowNs, reason)
		}
	}
}

// setUsable updates the bookkeeping after k's usability may have changed
// from was.
func (p *KeyPool) setUsable(k *keyMetadata, was bool, now time.Time) {
	is := k.usable()
	if is == was || k.slot == nil {
		return
	}
	s := k.slot
	if is {
		s.usable++
		s.tier.exhausted.valid = false
		p.notify()
	} else {
		s.usable--
	}
	s.tier.sel.changed(s, k, now.UnixNano())
}

// coolDown keeps k out of use until until (a longer cooldown already in
// place stays).
func (p *KeyPool) coolDown(k *keyMetadata, until, now time.Time, reason string) {
	u, nowNs := until.UnixNano(), now.UnixNano()
	if k.slot == nil || u <= nowNs {
		return
	}
	was := k.usable()
	if u > k.coolUntil {
		k.coolUntil = u
		if p.cooling.contains(k) {
			p.cooling.fix(k)
		} else {
			p.cooling.push(k)
		}
	}
	p.setUsable(k, was, now)
	p.refresh(k, nowNs, reason)
}

// reject keeps k out of use until its value changes.
func (p *KeyPool) reject(k *keyMetadata, now time.Time, reason string) {
	if k.slot == nil || k.rejected {
		return
	}
	was := k.usable()
	k.rejected = true
	p.setUsable(k, was, now)
	p.refresh(k, now.UnixNano(), reason)
}

// endCooldown ends k's cooldown now, whatever its length.
func (p *KeyPool) endCooldown(k *keyMetadata, now time.Time, reason string) {
	if !p.cooling.contains(k) {
		return
	}
	was := k.usable()
	p.cooling.remove(k)
	k.coolUntil = 0
	p.setUsable(k, was, now)
	p.refresh(k, now.UnixNano(), reason)
}

// expire ends the cooldowns that are over.
func (p *KeyPool) expire(now time.Time) {
	nowNs := now.UnixNano()
	for p.cooling.len() > 0 && p.cooling.top().coolUntil <= nowNs {
		k := p.cooling.pop()
		was := k.usable()
		k.coolUntil = 0
		p.setUsable(k, was, now)
		p.refresh(k, nowNs, "cooldown over")
	}
}

// noteError records a key's last error. Messages are built by the pool from
// status codes and error texts with the key's value removed.
func (k *keyMetadata) noteError(msg string, now time.Time) {
	k.lastError, k.lastErrorAt = msg, now.UnixNano()
}
