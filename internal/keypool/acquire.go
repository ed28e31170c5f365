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
	"context"
	"math"
	"time"
)

// DefaultMaxWaiters is PoolConfig.MaxWaiters when left 0: enough for a
// burst of a few hundred requests to wait out a short rate-limit window,
// few enough that their bodies cannot exhaust a replica's memory.
const DefaultMaxWaiters = 256

// defaultRetryAfter is what the pool tells a client when it cannot predict
// when a key will have capacity (every key rejected, say).
const defaultRetryAfter = time.Minute

// Acquire returns a lease on the best key for a request: within the highest
// priority tier that has a key with capacity (neither cooling down nor
// rejected, with room in every known limit for one request and
// opts.EstimatedInputTokens, not in opts.Exclude), the one the strategy
// prefers. It reserves that capacity until Settle.
//
// When no key has capacity, or other requests already wait for it, the
// request waits (see wait in waiting.go) up to the pool's QueueTimeout and
// no longer than ctx allows, served fairly between clients (opts.Client)
// as capacity returns. It fails at once with ErrQueueFull as Cause when
// the pool's MaxWaiters requests, or the client's own cap, already wait,
// and otherwise, when the wait ends, with an *ExhaustedError saying when to
// retry: when some key has capacity for the request, and not before the
// client's own requests ahead of it are likely to have been served (see
// positionWait).
func (p *KeyPool) Acquire(ctx context.Context, opts AcquireOptions) (Lease, error) {
	now := p.clock.Now()
	p.mu.Lock()
	opts.class = p.classes.of(opts.Model)
	retryAt := never
	if p.bookings.n > 0 {
		opts.claim = p.claim(now.UnixNano(), &opts)
	}
	if p.queue.n == 0 || p.queue.waiting(opts.class) == 0 {
		// Nobody waits, or only requests of other model classes, whose
		// capacity is not this one's: first come, first served, without
		// allocating.
		l, at, ok := p.search(now, &opts, dispatchMode{}, nil)
		p.queue.note(opts.Client, opts.EstimatedInputTokens, now.UnixNano(), ok)
		if ok {
			pending := len(p.pending) > 0
			p.mu.Unlock()
			if pending {
				p.deliver()
			}
			return l, nil
		}
		retryAt = at
	}
	if err := p.neverFitsError(now, &opts); err != nil {
		p.mu.Unlock()
		return Lease{}, err
	}
	return p.wait(ctx, now, opts, retryAt) // unlocks p.mu; opts by value, so that only waiting allocates
}

// sleep waits for wake, granted, the pool's clock to read until, or ctx.
func (p *KeyPool) sleep(ctx context.Context, wake, granted <-chan struct{}, until time.Time) {
	fired := make(chan struct{})
	stop := p.timers.At(until, func() { close(fired) })
	defer stop()
	select {
	case <-wake:
	case <-granted:
	case <-fired:
	case <-ctx.Done():
	}
}

// exhausted builds the error for a request that found no capacity.
func exhausted(retryAt int64, now time.Time, cause error) *ExhaustedError {
	d := defaultRetryAfter
	if retryAt != never {
		d = max(time.Duration(retryAt-now.UnixNano()), time.Millisecond)
	}
	return &ExhaustedError{RetryAfter: d, Cause: cause}
}

// GetKey returns a key with capacity for a request whose usage is not
// accounted: Acquire and an immediate Settle with zero usage. It is the seed
// API; the proxy uses Acquire.
func (p *KeyPool) GetKey(ctx context.Context) (keyID, apiKey string, err error) {
	l, err := p.Acquire(ctx, AcquireOptions{})
	if err != nil {
		return "", "", err
	}
	p.Settle(&l, Usage{})
	return l.KeyID, l.APIKey, nil
}

// search looks for a key with capacity, searching as m says (the zero
// value for a plain Acquire), and reserves it; when the key's limiter is
// remote it only chooses it and hands over to acquireRemote. refused are
// the groups whose round trip refused this request already. On failure it
// returns when some key is expected to have capacity (never when
// unpredictable). p.mu is held; it is released while a remote limiter
// reserves (see acquireRemote).
func (p *KeyPool) search(now time.Time, opts *AcquireOptions, m dispatchMode, refused []*group) (Lease, int64, bool) {
	p.expire(now)
	a := &p.scratch
	a.reset(now, opts, m)
	a.refused = refused
	defer func() { a.exclude, a.refused = nil, nil }() // do not keep the caller's slices
	for _, t := range p.tiers {
		// The affine group is tried before the exhausted cache is asked:
		// a request that holds its turn for it must say so, even when no
		// key of the tier has room yet (see passHolder).
		k, complete := p.affine(t, a), false
		if k == nil && a.affWaitAt != 0 {
			opts.affinityWaitUntil = a.affWaitUntil
			return Lease{}, a.affWaitAt, false // holding its turn for its group
		}
		if k == nil && a.cls == 0 && t.skip(a) {
			continue
		}
		if k == nil {
			k, complete = t.sel.pick(a)
			// The selectors order slots by the default class's
			// capacity, which says nothing about another class.
			complete = complete && a.cls == 0
		}
		if k == nil && !complete {
			k = p.scan(t, a)
		}
		if k != nil && a.chosen {
			return p.acquireRemote(now, opts, m, refused)
		}
		if k != nil {
			return p.grant(a), 0, true
		}
		if len(a.exclude) == 0 && len(a.refused) == 0 && !a.held && a.fit == fitAny && a.keptFor == nil && a.cls == 0 {
			e := &t.exhausted
			e.valid, e.until, e.est, e.out = true, p.tierReadyAt(t, a), a.est, a.outTokens()
		}
	}
	return Lease{}, p.retryAt(a), false
}

// neverFitsError is the error for a request that no key could ever take
// (see neverFits); nil for any other. p.mu is held.
func (p *KeyPool) neverFitsError(now time.Time, opts *AcquireOptions) error {
	a := &p.scratch
	a.reset(now, opts, dispatchMode{})
	defer func() { a.exclude = nil }()
	if !p.neverFits(a) {
		return nil
	}
	return &TooLargeError{InputTokens: a.est, Class: p.classes.names[a.cls]}
}

// scan tries every slot of t; the fallback when a selector's fast path
// found nothing.
func (p *KeyPool) scan(t *tier, a *attempt) *keyMetadata {
	for _, s := range t.slots {
		if k := a.trySlot(s); k != nil {
			return k
		}
	}
	return nil
}

// grant turns a successful reservation into a lease.
func (p *KeyPool) grant(a *attempt) Lease {
	k := a.key
	k.acquired++
	k.inFlight.Add(1)
	p.grants.add(a.nowNs, grantRateTau)
	p.grantedIn.addN(a.nowNs, grantRateTau, float64(a.est))
	g := k.slot.grp
	g.grants.add(a.nowNs, grantRateTau)
	g.defaultUsed = g.defaultUsed || a.cs == nil
	p.touch(g, a.now)
	p.rememberAffinity(a, g)
	return Lease{KeyID: k.id, APIKey: k.apiKey, key: k, grp: g, cls: a.cs, res: a.res, aff: a.affinity, band: bandOf(a.est),
		est: a.est, out: int64(math.Ceil(a.out))}
}
