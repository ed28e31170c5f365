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
	"math/bits"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
)

// Class-aware key choice. Limit groups differ in which dimension binds
// them (one has input tokens to spare, another requests, a third output
// tokens), so the same request is cheap in one group and expensive in
// another. least-loaded scores every group of a tier by what the request
// costs there (fitCost) and takes the cheapest group with capacity. When
// the pool is saturated, a queued request first looks only at the groups
// where it fits (cost within fitSlack of its cheapest group); if none of
// them has room, a bounded look-ahead in its client's queue lets a later
// request of the same client take a group that fits it and that the head
// does not fit, and only then does the head take whatever group has room
// (work-conserving).

// fitSlack: a group fits a request when the request costs no more than
// this much times its cost in its cheapest group. Measured with cmd/sim
// (150% demand): 1.25 and 1.5 served alike, 1.1 less (the second-best
// group of a class is then never offered it first).
const fitSlack = 1.25

// fitLookAhead is how many of the head's client's later waiters a dispatch
// offers a group that fits them before the head takes a group that does
// not fit it. Measured with cmd/sim: 16 served more than 8 (a queue
// whose head does not fit the free group often has no fitting request in
// its next 8); 32 no more than 16.
const fitLookAhead = 16

// maxRouted is the most slots a tier may have for the scored choice; a
// larger tier keeps least-loaded's index (the score reads every group).
const maxRouted = 32

// Fit modes of an attempt.
const (
	fitAny   = iota // any group with room, cheapest first
	fitHead         // only groups that fit; mark them as the head's
	fitAhead        // only groups that fit and are not marked the head's
)

// numBands is the number of input-size bands the pool learns output per
// request for: four per power of two.
const numBands = 256

// outputBands learns how many output tokens requests of each input size
// produce, as a moving average per band of input estimates. A group's
// limiter only learns its own average; the score needs the request's own,
// and prompts of different sizes tend to ask for different output sizes.
type outputBands struct {
	avg [numBands]float32
	any float64 // over every band: for a band not seen yet
}

// bandOf is the band of an input estimate: the power of two it lies in
// and which quarter of it.
func bandOf(est int64) uint8 {
	if est <= 0 {
		return 0
	}
	l := bits.Len64(uint64(est))
	sub := 0
	if l >= 3 {
		sub = int(est>>(l-3)) & 3
	}
	return uint8(min(l*4+sub, numBands-1))
}

// learn records a settled request's output tokens; zero output (a failed
// request) teaches nothing.
func (o *outputBands) learn(band uint8, out int64) {
	if out <= 0 {
		return
	}
	const alpha = 0.1
	if a := &o.avg[band]; *a == 0 {
		*a = float32(out)
	} else {
		*a += alpha * (float32(out) - *a)
	}
	if o.any == 0 {
		o.any = float64(out)
	} else {
		o.any += alpha * (float64(out) - o.any)
	}
}

// expect is the output tokens a request of band is expected to produce.
func (o *outputBands) expect(band uint8) float64 {
	if a := o.avg[band]; a > 0 {
		return float64(a)
	}
	return o.any
}

// fitCost is what the request of a costs in g, as a share of g's
// per-minute limits, in the dimension it uses most there (known
// dimensions only): the share of a minute g needs to refill what the
// request takes. ok is false when g knows no limit. A sum over the
// dimensions, or shares weighted by how empty each bucket is, served
// fewer requests in cmd/sim than the largest share.
func (a *attempt) fitCost(g *group) (cost float64, ok bool) {
	take := [ratelimit.NumDimensions]float64{1, float64(a.est), a.out, float64(a.est) + a.out}
	limits := &g.limits
	if a.cls != 0 {
		limits = &a.p.class(g, a.cls, a.now).limits
	}
	for d, l := range limits {
		if l > 0 {
			ok = true
			cost = max(cost, take[d]/float64(l))
		}
	}
	return cost, ok
}

// pickByFit tries t's groups cheapest first (see fitCost), only those
// that fit in the fit modes. handled is false when the tier is not scored
// (one slot, too many, or no limits known): the caller uses least-loaded's
// order.
func (a *attempt) pickByFit(t *tier) (k *keyMetadata, handled bool) {
	n := len(t.slots)
	if n < 2 || n > maxRouted {
		return nil, false
	}
	var cost [maxRouted]float64
	best, known := a.score(t, &cost)
	if !known {
		return nil, false
	}
	limit := math.Inf(1)
	if a.fit != fitAny {
		limit = best * fitSlack
	}
	var tried uint32
	for {
		j := cheapest(t, &cost, limit, tried)
		if j < 0 {
			return nil, true
		}
		tried |= 1 << j
		s := t.slots[j]
		switch a.fit {
		case fitHead:
			s.grp.fitMark = a.p.fitSeq
		case fitAhead:
			if s.grp.fitMark == a.p.fitSeq {
				continue // kept for the head
			}
		}
		if k := a.trySlot(s); k != nil {
			return k, true
		}
	}
}

// score fills cost with the request's cost in each slot of t (+Inf for a
// slot without usable keys) and returns the least; known is false when no
// group knows a limit.
func (a *attempt) score(t *tier, cost *[maxRouted]float64) (best float64, known bool) {
	best = math.Inf(1)
	for i, s := range t.slots {
		cost[i] = math.Inf(1)
		if s.usable == 0 {
			continue
		}
		c, ok := a.fitCost(s.grp)
		known = known || ok
		cost[i] = c
		best = min(best, c)
	}
	return best, known
}

// cheapest is the index of the cheapest slot not tried costing at most
// limit, the least loaded among equals; -1 if none.
func cheapest(t *tier, cost *[maxRouted]float64, limit float64, tried uint32) int {
	j := -1
	for i := range t.slots {
		if tried&(1<<i) != 0 || cost[i] > limit || math.IsInf(cost[i], 1) {
			continue
		}
		if j < 0 || cost[i] < cost[j] || (cost[i] == cost[j] && t.slots[i].before(t.slots[j])) {
			j = i
		}
	}
	return j
}

// serveFit serves the queue's head w: from a group that fits it; failing
// that, one of the next fitLookAhead waiters of its client from a group
// that fits that one and not the head (whose own groups are kept for it,
// so that a long request is not passed over by short ones on them);
// failing that, w from any group with room, so that no capacity idles
// while a request waits. A claimed booking is served at once, and only
// least-loaded scores groups by fit: under the other strategies the head
// is served alone, as before. A head that holds its turn for the group
// caching its conversation's prompt is passed on every other group (see
// passHolder), whatever the strategy. It returns the waiter served. p.mu
// is held.
func (p *KeyPool) serveFit(now time.Time, w *waiter, m dispatchMode) (Lease, int64, bool, *waiter) {
	fit := p.strategy == StrategyLeastLoaded && !w.opts.claim
	head := m
	if fit {
		p.fitSeq++
		head.fit = fitHead
	}
	l, at, ok := p.serve(now, w, head)
	switch {
	case ok:
		return l, at, ok, w
	case p.scratch.affWaitAt != 0:
		return p.passHolder(now, w, at, m)
	case !fit:
		return l, at, ok, w
	}
	ahead := m
	ahead.fit = fitAhead
	i := 0
	for o := w.next; o != nil && i < fitLookAhead; o = o.next {
		i++
		if l, _, ok := p.serve(now, o, ahead); ok {
			return l, at, ok, o
		}
	}
	l, at, ok = p.serve(now, w, m)
	return l, at, ok, w
}

// passHolder serves, while the head w holds its turn until at for its
// affine group (the one caching its conversation's prompt, affinity.go),
// one of its client's next fitLookAhead waiters from any other group: the
// head keeps its place and its group's capacity, and the queue behind it
// does not idle on the others' (it did, and round-robin with affinity
// served less than without). A waiter whose conversation is cached on a
// group takes only that group, and waits otherwise: it moves only once it
// is the head, with its own patience (affine), so that passing the head
// moves no conversation. The other waiters take any group with room, even
// under least-loaded, so that one that finds none names a time when one
// will have room, and the dispatch returns when the head or one of them
// expects capacity. Searches meanwhile neither read nor write the tier's
// exhausted cache, which does not know the held group is kept. p.mu is
// held.
func (p *KeyPool) passHolder(now time.Time, w *waiter, at int64, m dispatchMode) (Lease, int64, bool, *waiter) {
	m.keptFor, m.keptAt = p.scratch.affGroup, at
	i := 0
	for o := w.next; o != nil && i < fitLookAhead; o = o.next {
		i++
		l, oat, ok := p.serve(now, o, m)
		if ok {
			return l, at, true, o
		}
		at = min(at, oat) // the dispatch is due again when one of them can pass
	}
	return Lease{}, at, false, w
}
