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
	"maps"
	"sync"
	"sync/atomic"
)

// poolName is a registry key; a struct key lets Get look up without
// building a string.
type poolName struct{ namespace, name string }

// Registry maps namespace/name to pools: the controller writes it, the
// proxy reads it on every request. It is safe for concurrent use. Reads take
// no lock and allocate nothing: writers, which are rare, copy the map and
// publish the copy.
type Registry struct {
	mu    sync.Mutex // serialises writers
	pools atomic.Pointer[map[poolName]*KeyPool]
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	r := &Registry{}
	m := map[poolName]*KeyPool{}
	r.pools.Store(&m)
	return r
}

// Get returns the pool namespace/name.
func (r *Registry) Get(namespace, name string) (*KeyPool, bool) {
	p, ok := (*r.pools.Load())[poolName{namespace, name}]
	return p, ok
}

// Set stores p as namespace/name, replacing any pool there.
func (r *Registry) Set(namespace, name string, p *KeyPool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := maps.Clone(*r.pools.Load())
	m[poolName{namespace, name}] = p
	r.pools.Store(&m)
}

// Delete removes namespace/name.
func (r *Registry) Delete(namespace, name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.pools.Load()
	if _, ok := old[poolName{namespace, name}]; !ok {
		return
	}
	m := maps.Clone(old)
	delete(m, poolName{namespace, name})
	r.pools.Store(&m)
}

// Range calls fn for every pool, in no particular order, until fn returns
// false. It works on a snapshot, so fn may call Set or Delete.
func (r *Registry) Range(fn func(namespace, name string, p *KeyPool) bool) {
	for k, p := range *r.pools.Load() {
		if !fn(k.namespace, k.name, p) {
			return
		}
	}
}

// Len returns the number of pools.
func (r *Registry) Len() int { return len(*r.pools.Load()) }
