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
// with the highest current weight is chosen, and the total of the weights is
// subtracted from it. Over any stretch of sum(weights) picks each key is
// chosen weight times, interleaved (5,1,1 gives a a b a c a a). It visits
// every key of the tier on each pick, as nginx does.
type weighted struct {
	t *tier
}

// Strategy implements KeySelector.
func (*weighted) Strategy() Strategy { return StrategyWeighted }

func (w *weighted) pick(a *attempt) (*keyMetadata, bool) {
	var best *keyMetadata
	var total int64
	for _, k := range w.t.keys {
		if !a.candidate(k) {
			continue
		}
		k.cw += k.weight
		total += k.weight
		if best == nil || k.cw > best.cw {
			best = k
		}
	}
	if best == nil {
		return nil, true
	}
	if a.reserve(best) {
		best.cw -= total
		return best, true
	}
	// The best key has no room for this request's input estimate: undo the
	// round and leave the search to the pool's scan.
	for _, k := range w.t.keys {
		if a.candidate(k) {
			k.cw -= k.weight
		}
	}
	return nil, false
}

func (*weighted) changed(*slot, int64) {}
