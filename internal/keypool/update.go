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
	"cmp"
	"slices"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
)

// Update changes the pool in place to cfg while requests run: keys may be
// added or removed, and limits, priorities, weights, limit groups, strategy,
// queue timeout, access and the transition callback may change (cfg replaces
// them all, so pass the callback again). A key whose ID and APIKey are
// unchanged keeps what the pool learned about it (limiter levels and learned
// limits, cooldown, rejection, breaker, counters); a key whose APIKey changed
// starts afresh (a Rejected key becomes usable again). A limit group keeps
// its limiter; a key joining a new group brings its own limiter's state to
// it; a key leaving a group starts a fresh limiter. Leases of removed keys
// may still be reported and settled. Clock is fixed at creation and ignored
// here. On error nothing changes.
func (p *KeyPool) Update(cfg PoolConfig) error {
	strategy, err := cfg.validate()
	if err != nil {
		return err
	}
	now := p.clock.Now()
	p.mu.Lock()
	p.configure(strategy, &cfg, now)
	p.mu.Unlock()
	p.deliver()
	return nil
}

// apply installs a validated configuration. p.mu is held.
func (p *KeyPool) apply(strategy Strategy, cfg *PoolConfig, now time.Time) {
	p.epoch++
	access := cfg.Access
	p.access.Store(&access)
	p.strategy, p.queueTimeout, p.onTransition = strategy, cfg.QueueTimeout, cfg.OnTransition
	p.maxWaiters = cfg.MaxWaiters
	if p.maxWaiters == 0 {
		p.maxWaiters = DefaultMaxWaiters
	}
	p.configureClients(cfg)
	p.configureAffinity(cfg)

	keys, byID, replaced, prevGroup := p.reconcileKeys(cfg.Keys)
	groups, named, groupOf := p.assignGroups(cfg.Keys, keys, prevGroup, now)

	// Keys that left the pool, or whose value changed, keep no place in it.
	for _, k := range p.keys {
		if byID[k.id] != k {
			k.slot = nil
			if p.cooling.contains(k) {
				p.cooling.remove(k)
			}
		}
	}
	tiers := buildTiers(strategy, keys, groupOf, now)
	for _, k := range keys {
		if k.coolUntil > 0 && !p.cooling.contains(k) {
			p.cooling.push(k)
		}
	}
	p.keys, p.byID, p.groups, p.named, p.tiers = keys, byID, groups, named, tiers
	p.configureClasses(cfg.ModelClasses, now)

	// Report what changed; new keys start without a transition.
	nowNs := now.UnixNano()
	p.expire(now)
	for _, k := range keys {
		switch {
		case k.state == "":
			k.state = k.derive(nowNs)
		case replaced[k]:
			p.refresh(k, nowNs, "key value changed")
		default:
			p.refresh(k, nowNs, "pool updated")
		}
	}
	p.notify()
}

// reconcileKeys returns the records for cfg's keys: the existing record of
// every key whose value is unchanged (with the group it drew on), a fresh
// one otherwise.
func (p *KeyPool) reconcileKeys(cfg []KeyConfig) (keys []*keyMetadata, byID map[string]*keyMetadata,
	replaced map[*keyMetadata]bool, prevGroup map[*keyMetadata]*group) {
	keys = make([]*keyMetadata, len(cfg))
	byID = make(map[string]*keyMetadata, len(cfg))
	replaced = map[*keyMetadata]bool{}
	prevGroup = make(map[*keyMetadata]*group, len(cfg))
	for i := range cfg {
		kc := &cfg[i]
		k := p.byID[kc.ID]
		switch {
		case k == nil:
			k = newKey(kc)
		case k.apiKey != kc.APIKey:
			fresh := newKey(kc)
			fresh.state = k.state // so that the change is reported
			replaced[fresh] = true
			k = fresh
		case k.slot != nil:
			prevGroup[k] = k.slot.grp
		}
		k.priority, k.weight, k.groupName = kc.Priority, kc.weight(), kc.LimitGroup
		keys[i], byID[kc.ID] = k, k
	}
	return keys, byID, replaced, prevGroup
}

// assignGroups gives every key its limiter: a named group keeps its
// limiter; an ungrouped key keeps its own; a new group adopts the own
// limiter of its first key that had one (local limiters only: a shared one
// is made under the group's name, see newGroup). Each group's configured limits are
// the lowest non-zero ones of its keys, applied in place.
func (p *KeyPool) assignGroups(cfg []KeyConfig, keys []*keyMetadata, prevGroup map[*keyMetadata]*group,
	now time.Time) (groups []*group, named map[string]*group, groupOf map[*keyMetadata]*group) {
	named = map[string]*group{}
	groupOf = make(map[*keyMetadata]*group, len(keys))
	place := func(g *group) *group {
		if g.epoch != p.epoch {
			g.epoch, g.configured, g.slots, g.live = p.epoch, ratelimit.Amounts{}, nil, true
			groups = append(groups, g)
		}
		return g
	}
	for i, k := range keys {
		own := prevGroup[k]
		if own != nil && own.name != "" {
			own = nil // it drew on a named group, not a limiter of its own
		}
		var g *group
		switch name := k.groupName; {
		case name == "" && own != nil:
			g = place(own)
		case name == "":
			g = place(p.newGroup(keyLimiterID(k.id), "", now))
		case named[name] != nil:
			g = named[name]
		case p.named[name] != nil:
			g = place(p.named[name])
		case own != nil && !p.shared:
			own.name = name
			g = place(own)
		default:
			// Shared limiters are named by what they limit, so a group
			// never adopts a key's: every replica, however it started,
			// must find the group's capacity under the group's name.
			g = place(p.newGroup(groupLimiterID(name), name, now))
		}
		if g.name != "" {
			named[g.name] = g
		}
		for d, v := range cfg[i].limits() {
			if v > 0 && (g.configured[d] == 0 || v < g.configured[d]) {
				g.configured[d] = v
			}
		}
		groupOf[k] = g
	}
	for _, g := range p.groups {
		if g.epoch != p.epoch {
			g.live, g.slots = false, nil
		}
	}
	nowNs := now.UnixNano()
	for _, g := range groups {
		g.lim.SetLimits(now, g.configured)
		g.load()
		g.loadLimits(now)
		g.limited = g.readyAt > nowNs
	}
	return groups, named, groupOf
}

// buildTiers groups the keys by priority, highest first, and each tier's
// keys by limiter into slots, and indexes them in a fresh selector.
func buildTiers(strategy Strategy, keys []*keyMetadata, groupOf map[*keyMetadata]*group, now time.Time) []*tier {
	var tiers []*tier
	byPriority := map[int]*tier{}
	for _, k := range keys {
		t := byPriority[k.priority]
		if t == nil {
			t = &tier{priority: k.priority}
			byPriority[k.priority] = t
			tiers = append(tiers, t)
		}
		k.rank = len(t.keys)
		t.keys = append(t.keys, k)
	}
	slices.SortStableFunc(tiers, func(a, b *tier) int { return cmp.Compare(b.priority, a.priority) })
	nowNs := now.UnixNano()
	for _, t := range tiers {
		slotOf := map[*group]*slot{}
		for _, k := range t.keys {
			g := groupOf[k]
			s := slotOf[g]
			if s == nil {
				s = &slot{tier: t, grp: g, heapIdx: -1}
				slotOf[g] = s
				t.slots = append(t.slots, s)
				g.slots = append(g.slots, s)
			}
			s.keys = append(s.keys, k)
			k.slot = s
			if k.usable() {
				s.usable++
			}
		}
		t.sel = newSelector(strategy, t)
		for _, s := range t.slots {
			t.sel.changed(s, nil, nowNs)
		}
	}
	return tiers
}
