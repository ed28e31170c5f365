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

// weighted is nginx's smooth weighted round-robin: every round, each key
// that can take a request adds its weight to its current weight, the key
// with the highest current weight is chosen (the first in configuration
// order among equals), and the total of the weights is subtracted from it.
// Over any stretch of sum(weights) picks each key is chosen weight times,
// interleaved (5,1,1 gives a a b a c a a).
//
// nginx visits every key on each pick (13-22 us at 1,000 keys here). So a
// key's current weight is kept as round*weight - q, round being the rounds
// played: adding the weights is round++, and among keys of one weight the
// order of current weights is the order of q, which changes only for the
// key chosen. Keys of one weight wait in a heap by q; a pick compares the
// heads of the weights (one or a few in practice), O(weights + log n).
// Keys cooling down or rejected leave the rounds with their current
// weight, as nginx skips them, and come back with it. A retry (a request
// excluding keys it tried), or a round whose best key's group has no room
// now, is played over every key as nginx plays it, the keys that cannot
// take the request sitting it out. One difference remains: a key whose
// group ran out of room keeps adding its weight in the fast rounds until it
// is the best, and then sits out until its group has room again; nginx
// would have had it sit out from the start.
type weighted struct {
	t       *tier
	round   int64
	total   int64 // the weights of the keys in play
	classes []*weightClass
	keys    []swKey // the tier's keys, in configuration order
}

// weightClass is the keys in play of one weight: a binary min-heap by
// (q, idx), the keys held in the entries. It is written out rather than an
// indexedHeap: every pick sifts the chosen key down the heap (10 levels at
// 1,000 keys), where calls through the generic heap's dictionary and reads
// through a pointer per comparison cost about 100 ns a pick.
type weightClass struct {
	weight int64
	heap   []swEntry
}

// swEntry is a key in play: its place in the order, and its record.
type swEntry struct {
	q   int64 // the current weight is round*weight - q
	idx int   // in configuration order: the tie-break
	s   *swKey
}

func (c *weightClass) less(i, j int) bool {
	a, b := &c.heap[i], &c.heap[j]
	return a.q < b.q || (a.q == b.q && a.idx < b.idx)
}

func (c *weightClass) swap(i, j int) {
	h := c.heap
	h[i], h[j] = h[j], h[i]
	h[i].s.hi, h[j].s.hi = i, j
}

func (c *weightClass) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !c.less(j, i) {
			return
		}
		c.swap(i, j)
		j = i
	}
}

// down sifts i down and reports whether it moved.
func (c *weightClass) down(i0 int) bool {
	i, n := i0, len(c.heap)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		j := l
		if r := l + 1; r < n && c.less(r, l) {
			j = r
		}
		if !c.less(j, i) {
			break
		}
		c.swap(i, j)
		i = j
	}
	return i > i0
}

// fix restores the order after entry i's q changed.
func (c *weightClass) fix(i int) {
	if !c.down(i) {
		c.up(i)
	}
}

func (c *weightClass) push(s *swKey, q int64) {
	s.hi = len(c.heap)
	c.heap = append(c.heap, swEntry{q: q, idx: s.idx, s: s})
	c.up(s.hi)
}

// remove takes s out and returns its q.
func (c *weightClass) remove(s *swKey) int64 {
	i, last := s.hi, len(c.heap)-1
	q := c.heap[i].q
	if i != last {
		c.swap(i, last)
	}
	c.heap[last] = swEntry{}
	c.heap = c.heap[:last]
	s.hi = -1
	if i != last {
		c.fix(i)
	}
	return q
}

// order restores the order after any number of keys' q changed.
func (c *weightClass) order() {
	for i := len(c.heap)/2 - 1; i >= 0; i-- {
		c.down(i)
	}
}

// swKey is one key's place in the rounds.
type swKey struct {
	k     *keyMetadata
	class *weightClass
	idx   int   // in configuration order
	cw    int64 // out of play: the current weight it left with
	hi    int   // in class.heap; -1 = out of play
	sat   bool  // sat out the round being played over every key
}

// q is s's entry's q; s is in play.
func (s *swKey) q() *int64 { return &s.class.heap[s.hi].q }

func newWeighted(t *tier) *weighted {
	w := &weighted{t: t, keys: make([]swKey, len(t.keys))}
	byWeight := map[int64]*weightClass{}
	for i, k := range t.keys {
		c := byWeight[k.weight]
		if c == nil {
			c = &weightClass{weight: k.weight}
			byWeight[k.weight] = c
			w.classes = append(w.classes, c)
		}
		w.keys[i] = swKey{k: k, class: c, idx: i, hi: -1}
		if k.usable() {
			w.enter(&w.keys[i])
		}
	}
	return w
}

// Strategy implements KeySelector.
func (*weighted) Strategy() Strategy { return StrategyWeighted }

func (w *weighted) cw(s *swKey) int64 { return w.round*s.class.weight - *s.q() }

func (w *weighted) enter(s *swKey) {
	s.class.push(s, w.round*s.class.weight-s.cw)
	w.total += s.class.weight
}

func (w *weighted) leave(s *swKey) {
	s.cw = w.round*s.class.weight - s.class.remove(s)
	w.total -= s.class.weight
}

func (w *weighted) pick(a *attempt) (*keyMetadata, bool) {
	if len(a.exclude) > 0 {
		// A retry: the keys it tried sit the round out, as in nginx. Rare
		// enough to visit every key.
		return w.pickEvery(a)
	}
	w.round++
	var best *swKey
	for _, c := range w.classes {
		if len(c.heap) == 0 {
			continue
		}
		s := c.heap[0].s
		if best == nil || w.cw(s) > w.cw(best) || (w.cw(s) == w.cw(best) && s.idx < best.idx) {
			best = s
		}
	}
	if best == nil {
		w.round--
		return nil, true
	}
	if !a.candidate(best.k) {
		w.round--
		return w.pickEvery(a)
	}
	if !a.reserve(best.k) {
		// No room for this request's input estimate: undo the round and
		// leave the search to the pool's scan.
		w.round--
		return nil, false
	}
	*best.q() += w.total
	best.class.fix(best.hi)
	return best.k, true
}

// pickEvery plays one round over every key in play, as nginx does.
func (w *weighted) pickEvery(a *attempt) (*keyMetadata, bool) {
	w.round++
	var best *swKey
	var total int64
	for i := range w.keys {
		s := &w.keys[i]
		if s.hi < 0 {
			continue
		}
		if s.sat = !a.candidate(s.k); s.sat {
			*s.q() += s.class.weight // its current weight stays
			continue
		}
		total += s.class.weight
		if best == nil || w.cw(s) > w.cw(best) {
			best = s
		}
	}
	ok := best != nil && a.reserve(best.k)
	if ok {
		*best.q() += total
	} else {
		w.round--
	}
	for i := range w.keys {
		if s := &w.keys[i]; s.sat {
			s.sat = false
			if !ok {
				*s.q() -= s.class.weight
			}
		}
	}
	if !ok {
		// Without a best key the tier has nothing for the request; with
		// one, that key has no room for its input estimate: the pool's
		// scan looks further.
		return nil, best == nil
	}
	for _, c := range w.classes {
		c.order()
	}
	return best.k, true
}

// changed implements KeySelector: a key whose usability changed enters or
// leaves the rounds.
func (w *weighted) changed(_ *slot, k *keyMetadata, _ int64) {
	if k == nil {
		return
	}
	switch s := &w.keys[k.rank]; {
	case k.usable() && s.hi < 0:
		w.enter(s)
	case !k.usable() && s.hi >= 0:
		w.leave(s)
	}
}
