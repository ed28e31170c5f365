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

package fakeprovider

// Levels is what an organisation's buckets hold at one instant, in requests
// and tokens (fractions included). OutputTokens is negative while output
// charged after the fact has put the bucket into debt. A dimension without
// a limit reads 0.
type Levels struct {
	Requests     float64 `json:"requests"`
	InputTokens  float64 `json:"input_tokens"`
	OutputTokens float64 `json:"output_tokens"`
}

// Levels returns every organisation's bucket levels now, by organisation
// name. A simulation reads them at the edges of its measured window: what a
// window can admit is what the buckets held at its start plus their refill.
func (p *Provider) Levels() map[string]Levels {
	now := p.clock.Now()
	out := map[string]Levels{}
	for _, k := range p.keys {
		o := k.org
		if _, seen := out[o.name]; seen {
			continue
		}
		var l Levels
		if o.limited {
			o.mu.Lock()
			read := func(d dim) float64 {
				b := &o.b[d]
				if b.limit == 0 {
					return 0
				}
				b.advance(now)
				return float64(b.level) / unitsPerToken
			}
			l = Levels{Requests: read(dimRequests), InputTokens: read(dimInput), OutputTokens: read(dimOutput)}
			o.mu.Unlock()
		}
		out[o.name] = l
	}
	return out
}
