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
// When no key has capacity it waits (unless the pool's MaxWaiters requests
// already wait: then it fails at once with ErrQueueFull as Cause), up to the pool's QueueTimeout and no
// longer than ctx allows, for capacity to return: it wakes when the earliest
// key is due to have capacity and whenever a Settle, an expired cooldown or
// an Update may have returned some. It then fails with an *ExhaustedError
// saying when to retry: when some key has capacity for the request, and not
// before the requests still waiting for capacity are likely to have been
// served (see backlogWait).
func (p *KeyPool) Acquire(ctx context.Context, opts AcquireOptions) (Lease, error) {
	now := p.clock.Now()
	var deadline time.Time
	queued := false // counted in p.waiters at least once
	for {
		p.mu.Lock()
		l, retryAt, ok := p.tryAcquire(now, &opts)
		pending := len(p.pending) > 0
		if ok {
			p.mu.Unlock()
			if pending {
				p.deliver()
			}
			return l, nil
		}
		if deadline.IsZero() {
			deadline = now.Add(p.queueTimeout)
		}
		// A request that has not queued yet may not join a full queue.
		full := !queued && p.waiters >= p.maxWaiters
		if !now.Before(deadline) || ctx.Err() != nil || full {
			if retryAt != never {
				retryAt = max(retryAt, now.UnixNano()+int64(p.backlogWait(now.UnixNano())))
			}
			p.mu.Unlock()
			if pending {
				p.deliver()
			}
			cause := ctx.Err()
			if full && cause == nil && now.Before(deadline) {
				cause = ErrQueueFull
			}
			return Lease{}, exhausted(retryAt, now, cause)
		}
		queued = true
		wake := p.wake
		p.waiters++
		p.mu.Unlock()
		if pending {
			p.deliver()
		}

		wakeAt := deadline
		if retryAt < wakeAt.UnixNano() {
			wakeAt = time.Unix(0, retryAt)
		}
		p.sleep(ctx, wake, wakeAt.Sub(now))

		p.mu.Lock()
		p.waiters--
		p.mu.Unlock()
		now = p.clock.Now()
	}
}

// sleep waits for wake, d of the pool's clock, or ctx.
func (p *KeyPool) sleep(ctx context.Context, wake <-chan struct{}, d time.Duration) {
	fired := make(chan struct{})
	stop := p.timers.AfterFunc(max(d, time.Millisecond), func() { close(fired) })
	defer stop()
	select {
	case <-wake:
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

// tryAcquire makes one search. On failure it returns when some key is
// expected to have capacity (never when unpredictable). p.mu is held; it is
// released while a remote limiter reserves (see acquireRemote).
func (p *KeyPool) tryAcquire(now time.Time, opts *AcquireOptions) (Lease, int64, bool) {
	return p.search(now, opts, nil)
}

// search looks for a key with capacity and reserves it; when the key's
// limiter is remote it only chooses it and hands over to acquireRemote.
// refused are the groups whose round trip refused this request already.
// p.mu is held.
func (p *KeyPool) search(now time.Time, opts *AcquireOptions, refused []*group) (Lease, int64, bool) {
	p.expire(now)
	a := &p.scratch
	a.reset(now, opts)
	a.refused = refused
	defer func() { a.exclude, a.refused = nil, nil }() // do not keep the caller's slices
	for _, t := range p.tiers {
		if t.skip(a) {
			continue
		}
		k, complete := t.sel.pick(a)
		if k == nil && !complete {
			k = p.scan(t, a)
		}
		if k != nil && a.chosen {
			return p.acquireRemote(now, opts, refused)
		}
		if k != nil {
			return p.grant(a), 0, true
		}
		if len(a.exclude) == 0 && len(a.refused) == 0 {
			e := &t.exhausted
			e.valid, e.until, e.est = true, p.tierReadyAt(t, a), a.est
		}
	}
	return Lease{}, p.retryAt(a), false
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
	p.grants.add(a.nowNs)
	g := k.slot.grp
	p.touch(g, a.now)
	return Lease{KeyID: k.id, APIKey: k.apiKey, key: k, grp: g, res: a.res}
}
