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

// This file is a key's state machine, in one place: its states and the
// transitions reported for them, the moves between them (cooldown, circuit
// breaker, rejection) and the re-check that alone may retire a key.

// State is a key's place in its life cycle.
type State string

const (
	// StateAvailable: the key has capacity for a request now.
	StateAvailable State = "Available"
	// StateCoolingDown: the provider answered 429 (until retry-after), the
	// circuit breaker tripped, or MarkKeyExhausted was called.
	StateCoolingDown State = "CoolingDown"
	// StateRateLimited: the key's local limits (or its group's) are spent.
	// The pool notices the refill when it next looks at the key, so the
	// transition back to Available is reported then, not at the exact
	// instant; under saturation these transitions are frequent.
	StateRateLimited State = "RateLimited"
	// StateRejected: the provider answered 401 or 403; the key stays out of
	// use until its value changes.
	StateRejected State = "Rejected"
)

// Transition reports a key's state change (for Events and metrics).
type Transition struct {
	KeyID string
	From  State
	To    State
	// Reason says why, e.g. "rate limited by provider (429)" or "rejected by
	// provider (401)". It never contains a key's value.
	Reason string
}

// record sets k's state and queues the transition for the callback.
// p.mu is held.
func (p *KeyPool) record(k *keyMetadata, to State, reason string) {
	from := k.state
	k.state = to
	if p.onTransition != nil && from != "" {
		p.pending = append(p.pending, Transition{KeyID: k.id, From: from, To: to, Reason: reason})
	}
}

// deliver calls the transition callback for queued transitions, without
// p.mu held, in the order they were recorded. One goroutine delivers at a
// time; a goroutine that finds another delivering leaves its transitions to
// it, so a callback that calls back into the pool cannot deadlock.
func (p *KeyPool) deliver() {
	for {
		if !p.deliverMu.TryLock() {
			return
		}
		p.mu.Lock()
		batch, cb := p.pending, p.onTransition
		p.pending = nil
		p.mu.Unlock()
		if cb != nil {
			for _, t := range batch {
				cb(t)
			}
		}
		p.deliverMu.Unlock()
		p.mu.Lock()
		more := len(p.pending) > 0
		p.mu.Unlock()
		if !more {
			return
		}
	}
}

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

// A key is retired only for its own fault. A single 401 cannot prove that:
// the answer may be about what one client sent. So the proxy reports a 401
// that blames the key with Suspect, which takes the key out of use while the
// proxy re-checks the key's value with a cheap request of its own, and
// Confirm retires the key only when that re-check fails too.
//
// A re-check has hysteresis: one key value is re-checked at most once per
// recheckInterval. A key the check found valid stays in use for the rest of
// the interval whatever the provider answers (the request that got the 401
// still fails over), so a client whose requests make the provider blame
// keys cannot keep taking up to maxAttempts keys out of use, one re-check
// each. Concurrent suspicions of one key start one check between them.

// recheckInterval is how long after the start of a key's re-check another
// suspicion of the same value is ignored. It outlasts the proxy's check
// timeout, so a check that got no verdict is not restarted at once either.
const recheckInterval = time.Minute

// Suspect takes l's key out of use for at most timeout while its value is
// re-checked. It reports whether the caller should start the check: false
// when a check of the key is already running or started within
// recheckInterval (the key then stays in use), or the key left the pool or
// was already rejected.
func (p *KeyPool) Suspect(l *Lease, timeout time.Duration) bool {
	if l == nil || l.key == nil {
		return false
	}
	now := p.clock.Now()
	p.mu.Lock()
	k := l.key
	recent := k.checkedKey == l.APIKey && k.checkedAt != 0 && now.UnixNano()-k.checkedAt < int64(recheckInterval)
	start := k.slot != nil && !k.rejected && !k.checking && !recent && k.apiKey == l.APIKey
	if start {
		k.checking = true
		k.checkedAt, k.checkedKey = now.UnixNano(), k.apiKey
		k.noteError("provider answered that the key is invalid; re-checking it", now)
		p.coolDown(k, now.Add(timeout), now, "re-checking the key after the provider called it invalid")
	}
	pending := len(p.pending) > 0
	p.mu.Unlock()
	if pending {
		p.deliver()
	}
	return start
}

// Confirm ends the check Suspect started for keyID with value apiKey: an
// invalid key is rejected until its value changes; a valid one (or one the
// check could not judge) returns to use at once. A key whose value changed
// in the meantime is left alone: the check was about the old value.
func (p *KeyPool) Confirm(keyID, apiKey string, valid bool) {
	now := p.clock.Now()
	p.mu.Lock()
	k := p.byID[keyID]
	if k != nil && k.checking && k.apiKey == apiKey {
		k.checking = false
		if valid {
			p.endCooldown(k, now, "re-check found the key valid")
		} else {
			k.noteError("provider rejected the key, confirmed by a re-check", now)
			p.reject(k, now, "rejected by provider (401), confirmed by a re-check")
		}
	}
	pending := len(p.pending) > 0
	p.mu.Unlock()
	if pending {
		p.deliver()
	}
}
