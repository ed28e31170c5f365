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

// Levels returns every organisation's default bucket levels now, by
// organisation name. A simulation reads them at the edges of its measured
// window: what a window can admit is what the buckets held at its start
// plus their refill. Model classes with buckets of their own are in
// ClassLevels.
func (p *Provider) Levels() map[string]Levels {
	now := p.clock.Now()
	out := map[string]Levels{}
	for _, k := range p.keys {
		if _, seen := out[k.org.name]; !seen {
			out[k.org.name] = k.org.shared.levels(now)
		}
	}
	return out
}

// ClassLevels returns the levels of every model class that has buckets of
// its own (Limits.Classes, or one SeparateModels created), by organisation
// name and then class name. Organisations without such classes are absent.
func (p *Provider) ClassLevels() map[string]map[string]Levels {
	now := p.clock.Now()
	out := map[string]map[string]Levels{}
	for _, k := range p.keys {
		if _, seen := out[k.org.name]; seen {
			continue
		}
		sets := k.org.classSets()
		if len(sets) == 0 {
			continue
		}
		m := make(map[string]Levels, len(sets))
		for class, s := range sets {
			m[class] = s.levels(now)
		}
		out[k.org.name] = m
	}
	return out
}
