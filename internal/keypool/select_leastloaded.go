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

// heapProbes is how many of the best partly spent slots least-loaded tries
// before leaving the search to the pool's full scan. A slot near the top of
// the heap lacks room only for a request whose input estimate exceeds its
// remaining input tokens.
const heapProbes = 8

// leastLoaded picks the slot with the highest remaining share. Every bucket
// refills over the same minute, so a slot's share at any instant is fixed by
// the time its buckets are full again (its group's fullAt): the earlier, the
// larger. Slots that are full (fullAt passed) are all tied at 100% and wait
// in a FIFO, so that ties go in turn; the others wait in a min-heap by
// fullAt. Neither order changes as time passes, so nothing is rescanned: a
// slot moves only when its own capacity changes, in O(log n).
//
// A single scoring pass over the slots would be simpler, and fit.go does
// one for tiers of up to maxRouted slots; but it reads every group: about
// 80 ns at 100 slots and 2.1 us at 1,000 on the 2-core machine where
// BenchmarkGetKey's whole least-loaded pick with limits stays near 300 ns.
// So the heap, the FIFO and the selector's changed hook stay.
type leastLoaded struct {
	t          *tier
	head, tail *slot // FIFO of full slots
	partial    indexedHeap[*slot]
	seq        uint64
}

func newLeastLoaded(t *tier) *leastLoaded { return &leastLoaded{t: t} }

// Strategy implements KeySelector.
func (*leastLoaded) Strategy() Strategy { return StrategyLeastLoaded }

func (l *leastLoaded) pick(a *attempt) (*keyMetadata, bool) {
	if k, handled := a.pickByFit(l.t); handled {
		return k, true
	}
	// Slots that have filled up since they were last touched join the FIFO,
	// the longest full first.
	for l.partial.len() > 0 && l.partial.top().grp.fullAt <= a.nowNs {
		l.pushBack(l.partial.pop())
	}
	// A full slot has room for any request unless its keys are excluded.
	for s := l.head; s != nil; s = s.nxt {
		if k := a.trySlot(s); k != nil {
			return k, false
		}
	}
	for i := 0; i < l.partial.len() && i < heapProbes; i++ {
		if k := a.trySlot(l.partial.items[i]); k != nil {
			return k, false
		}
	}
	return nil, false
}

func (l *leastLoaded) changed(s *slot, _ *keyMetadata, now int64) {
	l.seq++
	s.seq = l.seq // among equals, the least recently changed goes first
	switch {
	case s.usable == 0:
		l.unlist(s)
		if l.partial.contains(s) {
			l.partial.remove(s)
		}
	case s.grp.fullAt <= now:
		// Full: to the back of the FIFO, so that full slots take turns.
		if l.partial.contains(s) {
			l.partial.remove(s)
		}
		l.unlist(s)
		l.pushBack(s)
	default:
		l.unlist(s)
		if l.partial.contains(s) {
			l.partial.fix(s)
		} else {
			l.partial.push(s)
		}
	}
}

func (l *leastLoaded) pushBack(s *slot) {
	s.prev, s.nxt, s.inList = l.tail, nil, true
	if l.tail != nil {
		l.tail.nxt = s
	} else {
		l.head = s
	}
	l.tail = s
}

func (l *leastLoaded) unlist(s *slot) {
	if !s.inList {
		return
	}
	if s.prev != nil {
		s.prev.nxt = s.nxt
	} else {
		l.head = s.nxt
	}
	if s.nxt != nil {
		s.nxt.prev = s.prev
	} else {
		l.tail = s.prev
	}
	s.prev, s.nxt, s.inList = nil, nil, false
}
