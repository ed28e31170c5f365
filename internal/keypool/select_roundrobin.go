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

// roundRobin takes the tier's keys in configuration order, skipping keys
// that cannot take the request.
type roundRobin struct {
	t    *tier
	next int
}

// Strategy implements KeySelector.
func (*roundRobin) Strategy() Strategy { return StrategyRoundRobin }

func (r *roundRobin) pick(a *attempt) (*keyMetadata, bool) {
	keys := r.t.keys
	n := len(keys)
	for i := range n {
		idx := r.next + i
		if idx >= n {
			idx -= n
		}
		if k := keys[idx]; a.tryKey(k) {
			if r.next = idx + 1; r.next == n {
				r.next = 0
			}
			return k, true
		}
	}
	return nil, true
}

func (*roundRobin) changed(*slot, *keyMetadata, int64) {}
