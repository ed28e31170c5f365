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

package ratelimit

import (
	"math"
	"time"
)

// Epsilon absorbs float rounding in refill arithmetic: a level within Epsilon of a
// whole unit counts as that unit.
const Epsilon = 1e-6

// Always is the Unix-nanosecond time used for "since forever": the outlook
// of a dimension with no known limit.
const Always = math.MinInt64

// bucket is one dimension: a token bucket holding up to one Window's worth
// of the effective limit and refilling linearly over one Window. Its state
// is a level as of a time; the level at any later time follows from the
// rate, so nothing runs in between. The level may go negative: a request's
// real usage is charged after it, and the debt delays the next one.
//
// It is its own rather than golang.org/x/time/rate's Limiter: the model
// needs to set the level (to a provider's remaining count) and to return
// unused units, which that API offers only through tricks (a rate raised
// for one nanosecond), and each of its calls takes a lock the owning
// Local already holds.
type bucket struct {
	configured int64   // from the pool's configuration; 0 = none
	learned    int64   // from provider headers; 0 = none
	limit      int64   // effective: the lower known of the two; 0 = unknown
	perNs      float64 // refill: limit per nanosecond
	unitNs     float64 // and its inverse, nanoseconds per unit
	tokens     float64 // level at `at`; at most limit, negative when in debt
	at         int64   // Unix ns of tokens; never moves back

	resetAt time.Time   // last reset the provider reported
	floor   int64       // what the smallest request needs; <= 1 means one unit
	shadow  usageWindow // consumption while the limit is unknown
}

// has reports whether the bucket holds what a demand of n units needs at t.
// A minimal demand (n <= 1) needs the floor.
func (b *bucket) has(t time.Time, n int64) bool {
	if !b.known() {
		return true
	}
	if n <= 1 {
		n = b.floor
	}
	return b.level(t)+Epsilon >= b.need(n)
}

func (b *bucket) known() bool { return b.limit > 0 }

// level is the units in the bucket at t; negative when in debt.
func (b *bucket) level(t time.Time) float64 {
	l := b.tokens
	if d := t.UnixNano() - b.at; d > 0 {
		l += float64(d) * b.perNs
	}
	return min(l, float64(b.limit))
}

// set makes l the level at t (or at the bucket's own time, if t is
// earlier: a caller that read the clock before another took its turn).
func (b *bucket) set(t time.Time, l float64) {
	b.tokens, b.at = min(l, float64(b.limit)), max(b.at, t.UnixNano())
}

// need is what a demand of n units must find in the bucket: at least one
// unit (an empty bucket means the provider would refuse), and at most a full
// bucket (a demand larger than the whole limit would otherwise never fit).
func (b *bucket) need(n int64) float64 {
	return float64(min(max(n, 1), b.limit))
}

// debit takes n units, going into debt if the bucket holds fewer.
func (b *bucket) debit(t time.Time, n int64) {
	if n <= 0 {
		return
	}
	if !b.known() {
		b.shadow.add(t, float64(n))
		return
	}
	b.set(t, b.level(t)-float64(n))
}

// credit returns x units (capped at a full bucket).
func (b *bucket) credit(t time.Time, x float64) {
	if x <= 0 {
		return
	}
	if !b.known() {
		b.shadow.add(t, -x)
		return
	}
	b.set(t, b.level(t)+x)
}

// adjust charges delta units (or returns -delta units).
func (b *bucket) adjust(t time.Time, delta int64) {
	if delta > 0 {
		b.debit(t, delta)
	} else if delta < 0 {
		b.credit(t, float64(-delta))
	}
}

// capTo lowers the level to at most ceiling (which may be negative) and
// reports whether it did. It never raises the level.
func (b *bucket) capTo(t time.Time, ceiling float64) bool {
	if b.level(t)-ceiling <= Epsilon {
		return false
	}
	b.set(t, ceiling)
	return true
}

// raiseMin is the least a raise must add: smaller differences are the
// refill arithmetic's and the provider's whole-unit rounding.
const raiseMin = 1

// raiseTo raises the level to target (at most a full bucket) when target is
// at least raiseMin above it, and reports whether it did. Only a bucket
// whose limit is the provider's own is raised: a lower configured limit is
// the operator's cap, which the provider's remaining count says nothing
// about.
func (b *bucket) raiseTo(t time.Time, target float64) bool {
	if !b.known() || b.learned == 0 || b.limit != b.learned {
		return false
	}
	if min(target, float64(b.limit))-b.level(t) < raiseMin {
		return false
	}
	b.set(t, target)
	return true
}

// setLimits records the configured and learned limits and applies the
// effective one in place: the level is kept (and capped by a smaller
// bucket), only rate and size change. A dimension that becomes known starts
// from a full bucket minus what was used in the last Window while it was
// unknown, so learning a limit never hands out capacity already spent.
func (b *bucket) setLimits(t time.Time, configured, learned int64) {
	b.configured, b.learned = max(configured, 0), max(learned, 0)
	eff := b.configured
	if b.learned > 0 && (eff == 0 || b.learned < eff) {
		eff = b.learned
	}
	switch {
	case eff == b.limit:
		return
	case eff == 0:
		used := float64(b.limit) - b.level(t)
		b.limit, b.perNs, b.unitNs = 0, 0, 0
		b.shadow = usageWindow{}
		b.shadow.add(t, max(used, 0))
	case b.limit == 0:
		used := b.shadow.used(t)
		b.setRate(eff)
		b.tokens, b.at = float64(eff), max(b.at, t.UnixNano())
		b.capTo(t, float64(eff)-used)
	default:
		l := b.level(t)
		b.setRate(eff)
		b.set(t, l)
	}
}

// setRate makes limit the bucket's size and its refill per Window.
func (b *bucket) setRate(limit int64) {
	b.limit = limit
	b.perNs = float64(limit) / float64(Window.Nanoseconds())
	b.unitNs = float64(Window.Nanoseconds()) / float64(limit)
}

// ResetSlack is how far a reported reset time may lie beyond the model's
// own refill before it lowers the level: providers round reset times up to
// the second, and clocks differ a little.
const ResetSlack = time.Second

// observe applies what the provider reported and reports whether the level
// was lowered. A remaining count caps the level; a limit changes the learned
// limit in place; a reset further away than the bucket's own refill says the
// provider refills more slowly (a daily quota, a fixed window), so the level
// must be low enough to be full only then. A remaining count without any
// known limit cannot be modelled and is ignored.
//
// inFlight is what requests in flight are expected to be charged but the
// provider's figures do not include yet (output tokens are charged as they
// are generated); it is taken off the reported level.
func (b *bucket) observe(t time.Time, o Observation, inFlight float64) bool {
	if !o.Reported() {
		return false
	}
	if o.Limit > 0 {
		b.setLimits(t, b.configured, o.Limit)
	}
	if !o.Reset.IsZero() {
		b.resetAt = o.Reset
	}
	if !b.known() {
		return false
	}
	lowered := false
	if o.Remaining >= 0 {
		lowered = b.capTo(t, float64(o.Remaining)-inFlight)
	}
	if ahead := o.Reset.Sub(t) - ResetSlack; !o.Reset.IsZero() && ahead > 0 {
		ceiling := float64(b.limit) - float64(ahead)/b.unitNanos() - inFlight
		lowered = b.capTo(t, ceiling) || lowered
	}
	return lowered
}

// unitNanos is how many nanoseconds one unit takes to refill.
func (b *bucket) unitNanos() float64 { return b.unitNs }

// fullAt is when a bucket at level l at now (Unix ns) is full, in Unix
// nanoseconds.
func (b *bucket) fullAt(now int64, l float64) int64 {
	if !b.known() {
		return Always
	}
	if l >= float64(b.limit)-Epsilon {
		return now
	}
	return now + int64(math.Ceil((float64(b.limit)-l)*b.unitNanos()))
}

// readyAt is when a bucket at level l at now (Unix ns) holds what the
// smallest request needs (one unit, or the floor), in Unix nanoseconds; at
// or before now when it holds it then.
func (b *bucket) readyAt(now int64, l float64) int64 {
	if !b.known() {
		return Always
	}
	need := b.need(b.floor)
	if l+Epsilon >= need {
		return now - int64((l-need)*b.unitNanos())
	}
	return now + int64(math.Ceil((need-l)*b.unitNanos()))
}

// wait is how long until a bucket at level l holds need units.
func (b *bucket) wait(l, need float64) time.Duration {
	if !b.known() || l+Epsilon >= need {
		return 0
	}
	return time.Duration(math.Ceil((need - l) * b.unitNanos()))
}
