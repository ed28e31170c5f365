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

import "math/rand/v2"

// randomDraws is how many uniform draws random makes before probing in
// order from a random start. With most keys available the draws succeed and
// the choice is exactly uniform among them.
const randomDraws = 4

// random picks uniformly among the tier's keys that can take the request.
type random struct {
	t *tier
}

// Strategy implements KeySelector.
func (*random) Strategy() Strategy { return StrategyRandom }

func (r *random) pick(a *attempt) (*keyMetadata, bool) {
	keys := r.t.keys
	n := len(keys)
	for range randomDraws {
		if k := keys[rand.IntN(n)]; a.tryKey(k) {
			return k, true
		}
	}
	start := rand.IntN(n)
	for i := range n {
		idx := start + i
		if idx >= n {
			idx -= n
		}
		if k := keys[idx]; a.tryKey(k) {
			return k, true
		}
	}
	return nil, true
}

func (*random) changed(*slot, *keyMetadata, int64) {}
