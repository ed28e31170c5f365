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
	"slices"
	"time"
)

// LearnedGroupPrefix starts the name of a limit group the pool formed
// itself, from keys the provider said belong to one organisation.
const LearnedGroupPrefix = "org:"

// configure keeps cfg as the pool's configuration and applies it with the
// limit groups learned so far. p.mu is held.
func (p *KeyPool) configure(strategy Strategy, cfg *PoolConfig, now time.Time) {
	p.config = *cfg
	p.config.Keys = slices.Clone(cfg.Keys)
	p.apply(strategy, p.withLearnedGroups(&p.config), now)
}

// learnOrganization records that the provider named org as k's
// organisation. Keys of one organisation share its limits, so once two keys
// without a configured limitGroup report the same organisation (or one
// reports the organisation of a configured group), they are put into one
// limit group, as if it had been configured: the pool stops counting the
// organisation's capacity once per key. The group keeps the limiter of its
// first key. p.mu is held.
func (p *KeyPool) learnOrganization(k *keyMetadata, org string, now time.Time) {
	k.org = org
	eff := p.withLearnedGroups(&p.config)
	for i := range eff.Keys {
		if m := p.byID[eff.Keys[i].ID]; m != nil && m.groupName != eff.Keys[i].LimitGroup {
			p.apply(p.strategy, eff, now)
			return
		}
	}
}

// withLearnedGroups returns cfg with a LimitGroup for every key that has
// none configured but shares a learned organisation with another key: the
// configured group of a key of that organisation if there is one, else
// LearnedGroupPrefix + the organisation. It returns cfg itself when there is
// nothing to add. p.mu is held.
func (p *KeyPool) withLearnedGroups(cfg *PoolConfig) *PoolConfig {
	orgOf := func(kc *KeyConfig) string {
		if k := p.byID[kc.ID]; k != nil && k.apiKey == kc.APIKey {
			return k.org
		}
		return ""
	}
	configured := map[string]string{} // organisation -> configured group
	ungrouped := map[string]int{}     // organisation -> keys without a group
	for i := range cfg.Keys {
		kc := &cfg.Keys[i]
		org := orgOf(kc)
		switch {
		case org == "":
		case kc.LimitGroup == "":
			ungrouped[org]++
		case configured[org] == "":
			configured[org] = kc.LimitGroup
		}
	}
	var out *PoolConfig
	for i := range cfg.Keys {
		kc := &cfg.Keys[i]
		org := orgOf(kc)
		if kc.LimitGroup != "" || org == "" {
			continue
		}
		name := configured[org]
		if name == "" && ungrouped[org] >= 2 {
			name = LearnedGroupPrefix + org
		}
		if name == "" {
			continue
		}
		if out == nil {
			c := *cfg
			c.Keys = slices.Clone(cfg.Keys)
			out = &c
		}
		out.Keys[i].LimitGroup = name
	}
	if out == nil {
		return cfg
	}
	return out
}
