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

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// maxSeparateClasses bounds the bucket sets Config.SeparateModels creates
// per organisation, because model names come from clients: past it, new
// models draw on the organisation's default set.
const maxSeparateClasses = 1024

// org is one organisation: its default bucket set, the sets of its model
// classes, and its prompt cache. Real providers limit an organisation per
// model (Anthropic: "rate limits are applied separately for each model";
// OpenAI per model; Azure per deployment; Gemini per model and project), so
// the set a request draws on depends on the model it asks for.
type org struct {
	name   string
	shared *buckets            // the default set, Config.Limits[name]
	fixed  map[string]*buckets // classes with limits of their own; fixed at New
	cache  promptCache         // the organisation's cached prompt prefixes

	// separate: every other class gets a set of its own with the default
	// limits (Config.SeparateModels), created on first use.
	separate   bool
	defaults   Limits
	startEmpty bool
	mu         sync.Mutex
	created    map[string]*buckets
}

func newOrg(name string, l Limits, now time.Time, cfg *Config) *org {
	o := &org{name: name, shared: newBuckets(l, now, cfg.StartEmpty),
		separate: cfg.SeparateModels, defaults: l, startEmpty: cfg.StartEmpty}
	if len(l.Classes) > 0 {
		o.fixed = make(map[string]*buckets, len(l.Classes))
		for class, cl := range l.Classes {
			o.fixed[class] = newBuckets(cl, now, cfg.StartEmpty)
		}
	}
	return o
}

// bucketsFor returns the set a request for class draws on.
func (o *org) bucketsFor(now time.Time, class string) *buckets {
	if s := o.fixed[class]; s != nil {
		return s
	}
	if !o.separate || class == "" {
		return o.shared
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if s := o.created[class]; s != nil {
		return s
	}
	if len(o.created) >= maxSeparateClasses {
		return o.shared
	}
	if o.created == nil {
		o.created = make(map[string]*buckets)
	}
	// A new class starts like the organisation did: full, or empty under
	// StartEmpty.
	s := newBuckets(o.defaults, now, o.startEmpty)
	o.created[class] = s
	return s
}

// classSets returns the organisation's class bucket sets by class name.
func (o *org) classSets() map[string]*buckets {
	out := make(map[string]*buckets, len(o.fixed))
	for class, s := range o.fixed {
		out[class] = s
	}
	o.mu.Lock()
	for class, s := range o.created {
		out[class] = s
	}
	o.mu.Unlock()
	return out
}

// classifier maps a model name to its class: an exact entry of
// Config.ModelClasses, else the longest matching prefix pattern ("name*"),
// else the model name itself, so a model nobody classified is a class of
// its own.
type classifier struct {
	exact    map[string]string
	prefixes []prefixClass // longest prefix first
}

type prefixClass struct{ prefix, class string }

func newClassifier(patterns map[string]string) classifier {
	c := classifier{exact: make(map[string]string, len(patterns))}
	for pattern, class := range patterns {
		if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
			c.prefixes = append(c.prefixes, prefixClass{prefix, class})
			continue
		}
		c.exact[pattern] = class
	}
	// Longest first so "claude-sonnet-4-5*" wins over "claude-sonnet*"; ties
	// by name only to make the order deterministic.
	slices.SortFunc(c.prefixes, func(a, b prefixClass) int {
		return cmp.Or(len(b.prefix)-len(a.prefix), strings.Compare(a.prefix, b.prefix))
	})
	return c
}

func (c *classifier) classOf(model string) string {
	if class, ok := c.exact[model]; ok {
		return class
	}
	for _, p := range c.prefixes {
		if strings.HasPrefix(model, p.prefix) {
			return p.class
		}
	}
	return model
}

// ParseModelClasses parses a model class spec such as
// "sonnet=claude-sonnet-4*|claude-3-7-sonnet,haiku=claude-haiku-*": each
// class lists its models separated by "|", and a model ending in "*" is a
// prefix. It returns Config.ModelClasses. An empty spec yields none.
func ParseModelClasses(spec string) (map[string]string, error) {
	out := make(map[string]string)
	for item := range strings.SplitSeq(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		class, models, found := strings.Cut(item, "=")
		class = strings.TrimSpace(class)
		if !found || class == "" {
			return nil, fmt.Errorf("model class spec %q: want class=model|prefix*", item)
		}
		for model := range strings.SplitSeq(models, "|") {
			model = strings.TrimSpace(model)
			if model == "" || model == "*" {
				return nil, fmt.Errorf("model class spec %q: empty model pattern", item)
			}
			if prev, dup := out[model]; dup {
				return nil, fmt.Errorf("model class spec: %q is in both %q and %q", model, prev, class)
			}
			out[model] = class
		}
	}
	return out, nil
}
