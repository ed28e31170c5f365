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
	"strings"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
)

// Providers limit a key (or organisation) per model, not per key: Anthropic
// applies its limits "separately for each model" (some versions share a
// class), OpenAI per model, Azure per deployment, Gemini per model and
// project. So a group keeps one limiter per model class it served, and a
// request is admitted, learned and cooled against the class of the model it
// names. A request that names no model (the seed API, paths without one)
// uses the group's own limiter, the default class.

// MaxLearnedClasses bounds the classes a pool learns from the models its
// clients name: model names come from untrusted clients. Past it, every
// further unknown model shares one class, OverflowClass.
const MaxLearnedClasses = 32

// OverflowClass is the class of the unknown models beyond MaxLearnedClasses.
const OverflowClass = "other"

// DefaultClass names the group's own limiter in statistics: the class of
// requests that name no model.
const DefaultClass = "default"

// ModelClass is a class declared in the pool's configuration: models that
// share one set of limits at the provider, and optionally those limits.
type ModelClass struct {
	Name string
	// Models are model (or deployment) names; one ending in "*" matches
	// every name with that prefix.
	Models []string
	// Limits per minute for this class on every key (or limit group); a
	// zero dimension takes the key's configured limit, and what the
	// provider's headers report is learned on top as for any class.
	RPMLimit, ITPMLimit, OTPMLimit int64
}

func (c *ModelClass) limits() ratelimit.Amounts {
	return ratelimit.Amounts{
		ratelimit.Requests:     c.RPMLimit,
		ratelimit.InputTokens:  c.ITPMLimit,
		ratelimit.OutputTokens: c.OTPMLimit,
	}
}

// classTable maps model names to class IDs. ID 0 is the default class;
// IDs are never reused while the pool lives, so that a group's class
// states stay where they are across Updates. Guarded by the pool's lock.
type classTable struct {
	names    []string            // by ID; names[0] = DefaultClass
	byName   map[string]int      // class name -> ID
	exact    map[string]int      // model -> ID: declared names and learned models
	prefixes []classPrefix       // declared prefixes, longest first
	declared map[int]*ModelClass // declared classes by ID
	learned  int                 // classes learned from unknown models
}

type classPrefix struct {
	prefix string
	id     int
}

// configure installs the declared classes; learned classes stay.
func (t *classTable) configure(declared []ModelClass) {
	if t.names == nil {
		t.names, t.byName = []string{DefaultClass}, map[string]int{DefaultClass: 0}
		t.exact = map[string]int{}
	}
	for model, id := range t.exact {
		if t.declared[id] != nil {
			delete(t.exact, model) // declarations are rebuilt below
		}
	}
	t.prefixes, t.declared = nil, make(map[int]*ModelClass, len(declared))
	for i := range declared {
		c := &declared[i]
		id := t.id(c.Name)
		t.declared[id] = c
		for _, m := range c.Models {
			if p, ok := strings.CutSuffix(m, "*"); ok {
				t.prefixes = append(t.prefixes, classPrefix{prefix: p, id: id})
			} else {
				t.exact[m] = id
			}
		}
	}
	// The longest prefix wins, as in a routing table.
	for i := 1; i < len(t.prefixes); i++ {
		for j := i; j > 0 && len(t.prefixes[j].prefix) > len(t.prefixes[j-1].prefix); j-- {
			t.prefixes[j], t.prefixes[j-1] = t.prefixes[j-1], t.prefixes[j]
		}
	}
}

// id returns the ID of the class called name, making it if new.
func (t *classTable) id(name string) int {
	if id, ok := t.byName[name]; ok {
		return id
	}
	id := len(t.names)
	t.names = append(t.names, name)
	t.byName[name] = id
	return id
}

// of returns the class ID of model: "" is the default class; a declared
// name or prefix its class; any other model a class of its own, learned,
// until MaxLearnedClasses are, and OverflowClass after that. It allocates
// only when it learns a class.
func (t *classTable) of(model string) int {
	if model == "" {
		return 0
	}
	if id, ok := t.exact[model]; ok {
		return id
	}
	for _, p := range t.prefixes {
		if strings.HasPrefix(model, p.prefix) {
			return p.id
		}
	}
	if t.learned >= MaxLearnedClasses {
		return t.id(OverflowClass)
	}
	t.learned++
	id := t.id(model)
	t.exact[model] = id
	return id
}

// classState is a group's limits for one model class. Guarded by the
// pool's lock, as the group is.
type classState struct {
	id        int
	lim       ratelimit.Limiter
	remote    bool
	coolUntil int64 // Unix ns; a 429 for the class cools it until then
	readyAt   int64 // Unix ns; when a minimal request fits (cached outlook)
	limits    ratelimit.Amounts
	reported  ratelimit.Amounts
}

// load caches the limiter's outlook.
func (c *classState) load() { c.readyAt = nanos(c.lim.Outlook().ReadyAt) }

// loadLimits rereads the limiter's effective limits.
func (c *classState) loadLimits(now time.Time) {
	s := c.lim.Snapshot(now)
	for d := range s.Dimensions {
		c.limits[d] = s.Dimensions[d].Limit
	}
}

// class returns g's state for class id (> 0), making it on first use with
// the class's configured limits. p.mu is held.
func (p *KeyPool) class(g *group, id int, now time.Time) *classState {
	if id < len(g.classes) && g.classes[id] != nil {
		return g.classes[id]
	}
	for len(g.classes) <= id {
		g.classes = append(g.classes, nil)
	}
	lim, err := p.newLimiter(g.id+"/class/"+p.classes.names[id], now, p.classLimits(g, id))
	if err != nil {
		lim, _ = ratelimit.NewLocal(now, p.classLimits(g, id))
	}
	c := &classState{id: id, lim: lim, remote: lim.RoundTrips()}
	c.load()
	c.loadLimits(now)
	g.classes[id] = c
	return c
}

// classLimits are class id's configured limits on g: the declared class's
// own, each dimension it leaves 0 the group's.
func (p *KeyPool) classLimits(g *group, id int) ratelimit.Amounts {
	l := g.configured
	if c := p.classes.declared[id]; c != nil {
		for d, v := range c.limits() {
			if v > 0 {
				l[d] = v
			}
		}
	}
	return l
}

// configureClasses applies the declared classes, and their limits to every
// class state of the live groups. p.mu is held.
func (p *KeyPool) configureClasses(declared []ModelClass, now time.Time) {
	p.classes.configure(declared)
	for _, g := range p.groups {
		for _, c := range g.classes {
			if c != nil {
				c.lim.SetLimits(now, p.classLimits(g, c.id))
				c.load()
				c.loadLimits(now)
			}
		}
	}
}

// classCoolUntil is when the last cooldown of g's model classes ends (Unix
// ns; 0 when none was cooled).
func (g *group) classCoolUntil() int64 {
	var at int64
	for _, c := range g.classes {
		if c != nil {
			at = max(at, c.coolUntil)
		}
	}
	return at
}

// classLimited reports whether one of g's model classes is spent at now.
func (g *group) classLimited(now int64) bool {
	for _, c := range g.classes {
		if c != nil && c.readyAt > now {
			return true
		}
	}
	return false
}

// refreshGroup reports the state of g's keys, which one of its model
// classes changed. p.mu is held.
func (p *KeyPool) refreshGroup(g *group, now int64, reason string) {
	for _, s := range g.slots {
		for _, k := range s.keys {
			p.refresh(k, now, reason)
		}
	}
}

// classReady reports whether g's class of a may take a minimal request now.
func (a *attempt) classReady(g *group) bool {
	c := a.p.class(g, a.cls, a.now)
	return c.coolUntil <= a.nowNs && c.readyAt <= a.nowNs
}

// fitsNever reports whether a request with est input tokens is larger than
// lim's known per-minute input limit: the provider would refuse it however
// long it waited.
func fitsNever(limits *ratelimit.Amounts, est int64) bool {
	in := limits[ratelimit.InputTokens]
	return in > 0 && est > in
}

// neverFits reports whether no key a may use could ever take its request:
// every usable key's limits for its model class are known and smaller than
// its input estimate. Only a request that found no key asks. A request
// without a model keeps the limiter's rule instead (a demand larger than a
// whole bucket waits for a full one). p.mu is held.
func (p *KeyPool) neverFits(a *attempt) bool {
	if a.est <= 0 || a.cls == 0 {
		return false
	}
	seen := false
	for _, t := range p.tiers {
		for _, s := range t.slots {
			if s.usable == 0 {
				continue
			}
			if !fitsNever(&p.class(s.grp, a.cls, a.now).limits, a.est) {
				return false
			}
			seen = true
		}
	}
	return seen
}

// ClassStats is one model class of a key's limiter.
type ClassStats struct {
	Name          string
	RPMLimit      int64 // 0 = unknown
	RPMRemaining  int64 // -1 = unknown
	ITPMRemaining int64 // -1 = unknown
	OTPMRemaining int64 // -1 = unknown
	// CooldownUntil is when a 429 for the class stops cooling it; zero
	// when it does not.
	CooldownUntil time.Time
}

// classStats lists g's classes that served a request, default first when
// it did. p.mu is held.
func (p *KeyPool) classStats(g *group, now time.Time) []ClassStats {
	if len(g.classes) == 0 {
		return nil
	}
	var out []ClassStats
	if g.defaultUsed {
		def := g.lim.Snapshot(now)
		out = append(out, classStat(DefaultClass, &def, 0, now))
	}
	for _, c := range g.classes {
		if c == nil {
			continue
		}
		s := c.lim.Snapshot(now)
		out = append(out, classStat(p.classes.names[c.id], &s, c.coolUntil, now))
	}
	return out
}

// busiest is the snapshot, and the time it is full again (Unix ns), of g's
// class with the least share left in any dimension: its default class
// unless the group served a model class. p.mu is held.
func (p *KeyPool) busiest(g *group, now time.Time) (ratelimit.Snapshot, int64) {
	best, at := g.lim.Snapshot(now), g.fullAt
	if !g.defaultUsed && len(g.classes) > 0 {
		best, at = ratelimit.Snapshot{}, never
	}
	least := share(&best)
	for _, c := range g.classes {
		if c == nil {
			continue
		}
		if s := c.lim.Snapshot(now); at == never || share(&s) < least {
			best, at, least = s, nanos(c.lim.Outlook().FullAt), share(&s)
		}
	}
	return best, at
}

// share is the least remaining fraction over s's known dimensions; 1 when
// none is known.
func share(s *ratelimit.Snapshot) float64 {
	least := 1.0
	for _, d := range s.Dimensions {
		if d.Limit > 0 && d.Remaining >= 0 {
			least = min(least, float64(d.Remaining)/float64(d.Limit))
		}
	}
	return least
}

func classStat(name string, s *ratelimit.Snapshot, coolUntil int64, now time.Time) ClassStats {
	d := &s.Dimensions
	cs := ClassStats{Name: name, RPMLimit: d[ratelimit.Requests].Limit, RPMRemaining: d[ratelimit.Requests].Remaining,
		ITPMRemaining: d[ratelimit.InputTokens].Remaining, OTPMRemaining: d[ratelimit.OutputTokens].Remaining}
	if coolUntil > now.UnixNano() {
		cs.CooldownUntil = time.Unix(0, coolUntil)
	}
	return cs
}
