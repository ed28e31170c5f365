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
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/clock"
	"github.com/keypool-dev/keypool-operator/internal/provider"
	"github.com/keypool-dev/keypool-operator/internal/quota"
	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
)

// KeyPool is a live pool of provider keys. It is safe for concurrent use;
// Update changes it in place while requests run.
type KeyPool struct {
	provider provider.Provider
	clock    clock.Clock
	timers   clock.TimerClock
	access   atomic.Pointer[Access]
	// newLimiter makes groups' limiters; shared reports a factory other
	// than the local one, whose limiters are named by what they limit.
	newLimiter ratelimit.Factory
	shared     bool
	// clients are the named clients' quotas, budgets and usage windows,
	// read without mu.
	clients *quota.Clients

	mu           sync.Mutex
	strategy     Strategy
	config       PoolConfig // as last given, before learned limit groups
	queueTimeout time.Duration
	maxWaiters   int // PoolConfig.MaxWaiters with the default applied
	onTransition func(Transition)
	keys         []*keyMetadata // configuration order
	byID         map[string]*keyMetadata
	groups       []*group
	named        map[string]*group // groups by LimitGroup
	tiers        []*tier           // highest priority first
	classes      classTable        // model classes (classes.go)
	cooling      indexedHeap[*keyMetadata]
	epoch        uint64
	scratch      attempt   // reused by Acquire under mu
	grants       grantRate // leases handed out per second, for positionWait
	grantedIn    grantRate // input tokens (estimates) granted per second, for bookings

	// Requests waiting for capacity, served fairly between clients
	// (fairqueue.go). They block on wake; notify closes and replaces it.
	queue fairQueue
	wake  chan struct{}

	// bookings are the retries promised to clients turned away, and the
	// claimants waiting (bookings.go).
	bookings bookings

	// dispatching: a dispatch released mu for a remote reservation, so no
	// other may serve the queue meanwhile (the head would be granted twice);
	// dispatchAt is what the last dispatch expected, and missed says a
	// waiter came by meanwhile and must be woken when it ends.
	dispatching bool
	missed      bool
	dispatchAt  int64
	// fitSeq numbers the dispatch's heads for the class-aware choice, and
	// bands learns the output per request by input size (fit.go).
	fitSeq uint64
	bands  outputBands

	// affinity remembers which group served each affinity key (see
	// affinity.go); nil when PoolConfig.Affinity is off. affinityOn says
	// the same without the lock, for callers deciding whether to compute
	// affinity keys at all.
	affinity   *affinityTable
	affinityOn atomic.Bool

	// Transitions recorded under mu, delivered without it (see deliver).
	pending   []Transition
	deliverMu sync.Mutex
}

// NewKeyPool returns a pool of cfg's keys, every key Available with its
// configured limits. It fails (wrapping ErrInvalidConfig) for an unknown
// provider or strategy, no keys, an empty or duplicate key ID, an empty
// APIKey or a negative limit or queue timeout.
func NewKeyPool(prov provider.Provider, cfg PoolConfig) (*KeyPool, error) {
	if prov == nil {
		return nil, fmt.Errorf("%w: no provider", ErrInvalidConfig)
	}
	strategy, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	now := clock.Or(cfg.Clock)
	p := &KeyPool{
		provider:   prov,
		clock:      now,
		timers:     clock.Timers(now),
		newLimiter: cfg.NewLimiter,
		shared:     cfg.NewLimiter != nil,
		clients:    quota.New(now, cfg.Budgets),
		byID:       map[string]*keyMetadata{},
		named:      map[string]*group{},
		wake:       make(chan struct{}),
		dispatchAt: never,
	}
	if p.newLimiter == nil {
		p.newLimiter = ratelimit.LocalFactory
	}
	p.scratch.p = p
	p.mu.Lock()
	p.configure(strategy, &cfg, now.Now())
	p.mu.Unlock()
	p.deliver()
	return p, nil
}

// Provider returns the upstream API family.
func (p *KeyPool) Provider() provider.Provider { return p.provider }

// Access returns how the proxy exposes the pool; never nil. Update swaps it
// atomically; do not modify it.
func (p *KeyPool) Access() *Access { return p.access.Load() }

// Strategy returns the selection strategy in use.
func (p *KeyPool) Strategy() Strategy {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.strategy
}

// QueueTimeout returns how long Acquire waits for capacity.
func (p *KeyPool) QueueTimeout() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.queueTimeout
}

// Keys returns the key IDs in configuration order.
func (p *KeyPool) Keys() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := make([]string, len(p.keys))
	for i, k := range p.keys {
		ids[i] = k.id
	}
	return ids
}

// notify wakes every waiter: capacity may have returned. p.mu is held.
func (p *KeyPool) notify() {
	if p.queue.n > 0 {
		close(p.wake)
		p.wake = make(chan struct{})
	}
}
