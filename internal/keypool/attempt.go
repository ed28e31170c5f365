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
	"math"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
)

// attempt is one search for a key. The pool keeps one and reuses it under
// its lock, so that selectors can be handed a pointer without it escaping
// to the heap on every request.
type attempt struct {
	p       *KeyPool
	now     time.Time
	nowNs   int64
	est     int64
	exclude []string

	key *keyMetadata // result
	res ratelimit.Reservation

	// Prompt-cache affinity (affinity.go): the request's key, and the group
	// remembered for it once looked up.
	affinity uint64
	affGroup *group
	affRead  int64 // prompt tokens affGroup's cache is expected to serve
	// affWaitAt: a queued request keeps its turn until then, when its
	// affine group can take it (0 = it does not wait for it).
	affWaitAt int64
	// affWaitUntil is AcquireOptions.affinityWaitUntil, copied in and out
	// by search (keeping the pointer would move every caller's options to
	// the heap).
	affWaitUntil int64

	// Remote limiters (see acquire_remote.go): chosen is set when key was
	// chosen without reserving, because its limiter needs a round trip;
	// refused lists the groups whose round trip refused this request.
	chosen  bool
	refused []*group
	// dispatchMode is how the queue's dispatch searches for a waiter.
	dispatchMode

	// out is the output tokens the request is expected to produce (fit.go).
	out float64
	// admitted: out is the request's own output, which the provider admits
	// at the start (AcquireOptions.ReserveOutputTokens), so the limiter does
	// not hold it (ratelimit.Limiter.ReserveAdmitted).
	admitted bool

	// cls is the request's model class (classes.go); 0, the default,
	// draws on the groups' own limiters. cs is the class state key's
	// reservation was taken from (nil for the default class).
	cls int
	cs  *classState
}

// dispatchMode is how the queue's dispatch (waiting.go) searches for a
// waiter; the zero value is a plain Acquire's search.
type dispatchMode struct {
	// queued: the search is for a queued waiter, which may keep its turn
	// for its affine group (affinity.go).
	queued bool
	// held: the request's client is over its share, so a group must keep
	// its standby, and reserveIn input tokens on top of the request's own
	// (standby.go).
	held      bool
	reserveIn int64
	// fit is the class-aware choice's mode: which groups the search may
	// take (fit.go).
	fit int
	// keptFor is the group a queue's head holds its turn for until keptAt,
	// which the requests passing it may not take (passHolder); nil when
	// none.
	keptFor *group
	keptAt  int64
}

func (a *attempt) reset(now time.Time, opts *AcquireOptions, m dispatchMode) {
	a.now, a.nowNs = now, now.UnixNano()
	a.est = max(opts.EstimatedInputTokens, 0)
	a.exclude = opts.Exclude
	a.affinity, a.affGroup, a.affRead = opts.Affinity, nil, 0
	a.affWaitAt, a.affWaitUntil = 0, opts.affinityWaitUntil
	a.key, a.res, a.chosen = nil, ratelimit.Reservation{}, false
	a.dispatchMode, a.out = m, a.p.bands.expect(bandOf(a.est))
	a.cls, a.cs = opts.class, nil
	a.admitted = opts.ReserveOutputTokens > 0
	if a.admitted {
		a.out = float64(opts.ReserveOutputTokens)
	}
}

func (a *attempt) excluded(k *keyMetadata) bool {
	for _, id := range a.exclude {
		if id == k.id {
			return true
		}
	}
	return false
}

// candidate reports whether k may be tried at all: usable, not excluded,
// and its limiter has room for a minimal request.
func (a *attempt) candidate(k *keyMetadata) bool {
	return k.usable() && a.ready(k.slot.grp) && !a.excluded(k)
}

// tryKey reserves capacity on k if it is a candidate.
func (a *attempt) tryKey(k *keyMetadata) bool {
	return a.candidate(k) && a.reserve(k)
}

// trySlot reserves capacity on s's limiter for the slot's next usable,
// not excluded key, taking the keys in turn; nil if it cannot.
func (a *attempt) trySlot(s *slot) *keyMetadata {
	if s.usable == 0 || !a.ready(s.grp) {
		return nil
	}
	n := len(s.keys)
	for i := range n {
		idx := s.next + i
		if idx >= n {
			idx -= n
		}
		k := s.keys[idx]
		if !k.usable() || a.excluded(k) {
			continue
		}
		if !a.reserve(k) {
			return nil // the other keys share the same limiter
		}
		if s.next = idx + 1; s.next == n {
			s.next = 0
		}
		return k
	}
	return nil
}

// reserve takes the request's capacity from k's limiter.
func (a *attempt) reserve(k *keyMetadata) bool {
	g := k.slot.grp
	if g == a.keptFor {
		return false // a queue's head holds its turn for it
	}
	if a.cls != 0 {
		return a.reserveClass(k, g)
	}
	if g.limited && g.readyAt <= a.nowNs {
		a.p.setLimited(g, false, a.now) // refilled since last looked at
	}
	if g.remote {
		// Only chosen here; the pool reserves without its lock.
		if a.wasRefused(g) || !g.lim.MayReserve(a.now, a.est, a.outTokens()) {
			return false
		}
		a.key, a.chosen = k, true
		return true
	}
	r, ok := a.take(g.lim, a.now)
	if !ok {
		return false
	}
	a.key, a.res = k, r
	return true
}

// reserveClass is reserve for a request of a model class: the class's
// limiter of g, alone, takes it.
func (a *attempt) reserveClass(k *keyMetadata, g *group) bool {
	c := a.p.class(g, a.cls, a.now)
	if fitsNever(&c.limits, a.est) {
		return false // it can never fit here (neverFits)
	}
	if c.remote {
		if a.wasRefused(g) || !c.lim.MayReserve(a.now, a.est, a.outTokens()) {
			return false
		}
		a.key, a.cs, a.chosen = k, c, true
		return true
	}
	r, ok := a.take(c.lim, a.now)
	c.load()
	if !ok {
		return false
	}
	a.key, a.cs, a.res = k, c, r
	return true
}

// take reserves the request on lim (see reserveOn).
func (a *attempt) take(lim ratelimit.Limiter, now time.Time) (ratelimit.Reservation, bool) {
	return reserveOn(lim, now, a.est, a.outTokens(), a.admitted)
}

// reserveOn reserves est input and out output tokens on lim, the output
// held unless the provider admits it at the start (admitted).
func reserveOn(lim ratelimit.Limiter, now time.Time, est, out int64, admitted bool) (ratelimit.Reservation, bool) {
	if admitted {
		return lim.ReserveAdmitted(now, est, out)
	}
	return lim.Reserve(now, est, out)
}

// outTokens is the output the request is expected to produce, for its
// limiter to hold until it settles: what the pool learned prompts of its
// size produce (fit.go), or, before it learned any, the limiter's own
// average. Holding the request's own expectation, rather than the
// average of whatever the group served, keeps a group short of output
// tokens from admitting long answers it then pays for with the requests
// that would have fitted (measured with cmd/sim: the largest gain in
// served/bound at 150% demand, see bench/performance.md).
func (a *attempt) outTokens() int64 {
	if a.out <= 0 {
		return ratelimit.LearnedOutput
	}
	return int64(math.Ceil(a.out))
}

// wasRefused reports whether a round trip already refused this request on
// g's limiter.
func (a *attempt) wasRefused(g *group) bool {
	for _, r := range a.refused {
		if r == g {
			return true
		}
	}
	return false
}
