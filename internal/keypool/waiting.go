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
	"errors"
	"math"
	"time"
)

// grantRateTau is the time constant of the pool's grant-rate estimate: long
// enough to smooth bursts, short enough to follow a change of demand.
const grantRateTau = 10 * time.Second

// grantRate estimates how many grants per second were handed out, as an
// exponentially decaying count with time constant tau: grantRateTau for
// the pool's and a group's, shareTau for a client's (standby.go). Every
// call on one estimate passes the same tau.
type grantRate struct {
	rate float64 // grants per second as of last
	last int64   // Unix ns of the last update
}

// add counts one grant at nowNs.
func (g *grantRate) add(nowNs int64, tau time.Duration) { g.addN(nowNs, tau, 1) }

// addN counts n units (input tokens, say) granted at nowNs.
func (g *grantRate) addN(nowNs int64, tau time.Duration, n float64) {
	g.rate = g.at(nowNs, tau) + n/tau.Seconds()
	g.last = max(g.last, nowNs)
}

// at is the rate as of nowNs.
func (g *grantRate) at(nowNs int64, tau time.Duration) float64 {
	if g.last == 0 || nowNs <= g.last {
		return g.rate
	}
	return g.rate * decay(float64(nowNs-g.last)/float64(tau))
}

// decay is exp(-x) for x >= 0. Grants come microseconds apart, where x is
// tiny and four terms of the series are exact to float64 precision (the
// error is below x^4/24 < 5e-14 for x < 1e-3), at a fraction of math.Exp's
// cost on the hot path.
func decay(x float64) float64 {
	if x < 1e-3 {
		return 1 - x*(1-x*(0.5-x*(1.0/6)))
	}
	return math.Exp(-x)
}

// wait queues a request that found no capacity, or found others waiting,
// behind its client's earlier requests, and serves the queue as capacity
// returns until the request has a lease, its wait is over or its client's
// queue is full. retryAt is when the request's own search expects capacity
// (never if it made none). p.mu is held on entry and released on return.
func (p *KeyPool) wait(ctx context.Context, now time.Time, opts AcquireOptions, retryAt int64) (Lease, error) {
	deadline := now.Add(p.queueTimeout)
	cq := p.queue.client(opts.Client)
	if !now.Before(deadline) || ctx.Err() != nil || (!opts.claim && p.queue.full(cq)) {
		var cause error
		switch {
		case ctx.Err() != nil:
			cause = ctx.Err()
		case now.Before(deadline):
			cause = ErrQueueFull
		}
		if retryAt == never && p.queue.n > 0 {
			retryAt = p.dispatch(now) // the pool's next capacity, for the advice
		}
		return p.giveUp(now, cq, &opts, retryAt, cause)
	}
	w := &waiter{opts: &opts, cq: cq, done: make(chan struct{})}
	cq.seen(opts.EstimatedInputTokens, now.UnixNano())
	p.enqueue(w)
	for {
		retryAt = p.dispatch(now)
		if w.granted {
			pending := len(p.pending) > 0
			p.mu.Unlock()
			if pending {
				p.deliver()
			}
			return w.lease, nil
		}
		over := !now.Before(deadline) || ctx.Err() != nil
		if over && !w.claimed {
			p.queue.remove(w)
			return p.giveUp(now, cq, &opts, retryAt, ctx.Err())
		}
		wake := p.wake
		pending := len(p.pending) > 0
		p.mu.Unlock()
		if pending {
			p.deliver()
		}
		wakeAt := deadline
		if retryAt < wakeAt.UnixNano() {
			wakeAt = time.Unix(0, retryAt)
		}
		if over {
			// A dispatch is reserving for this request right now: wait
			// for its outcome (it wakes the waiters), however the wait
			// ended, so the lease is neither lost nor granted twice.
			ctx, wakeAt = context.WithoutCancel(ctx), now.Add(time.Second)
		}
		// At least a millisecond after the dispatch, so that one that found
		// nothing does not spin. An absolute time: what passed since the
		// dispatch (the waiter was descheduled, a test's clock moved) is
		// not slept again.
		if floor := now.Add(time.Millisecond); wakeAt.Before(floor) {
			wakeAt = floor
		}
		p.sleep(ctx, wake, w.done, wakeAt)
		now = p.clock.Now()
		p.mu.Lock()
	}
}

// dispatch hands capacity to waiting requests in their fair order until the
// request whose turn it is finds none: it keeps its turn, and holds the
// others behind it, so that a long request is not passed over forever by
// short ones (a client that had nothing waiting still goes first, see
// push); only a group that does not fit it may go to one of its client's
// next requests that fits the group better (serveFit, fit.go). It returns when that request expects capacity, never when nobody
// waits. p.mu is held; a search may release it for a remote limiter's round
// trip, and meanwhile other callers get the last prediction and are woken
// when this dispatch ends.
func (p *KeyPool) dispatch(now time.Time) int64 {
	if p.dispatching {
		p.missed = true
		return p.dispatchAt
	}
	p.dispatching = true
	defer func() {
		p.dispatching = false
		if p.missed {
			p.missed = false
			p.notify()
		}
	}()
	nowNs := now.UnixNano()
	for {
		w := p.queue.peek()
		if w == nil {
			p.dispatchAt = never
			return never
		}
		held, reserveIn := p.queue.overShare(w.cq, nowNs)
		l, at, ok, w := p.serveFit(now, w, dispatchMode{held: held, reserveIn: reserveIn})
		if !ok && held {
			// The turn is a client's over its share, which waits for
			// standby capacity: the clients under its share take what there
			// is now, out of turn (each pays with its next turn's credit),
			// least served first.
			p.queue.rounds++
			for !ok {
				u := p.queue.under(nowNs, p.queue.rounds)
				if u == nil {
					break
				}
				var uat int64
				l, uat, ok = p.serve(now, u, dispatchMode{})
				at = min(at, uat)
				w = u
			}
		}
		if !ok && p.queue.classes > 1 {
			var cat int64
			l, cat, ok, w = p.serveOtherClasses(now, w)
			at = min(at, cat)
		}
		if !ok {
			p.dispatchAt = at
			return at
		}
		p.queue.served(w)
		w.cq.rate.add(nowNs, shareTau)
		w.lease, w.granted = l, true
		close(w.done)
	}
}

// serveOtherClasses serves, when the turn's waiter head found no capacity,
// the first waiter in fair order of each other model class: a class's
// capacity is not another's, so one class's line must not hold back the
// others. It returns the waiter served (head if none), or when the first of
// them expects capacity. p.mu is held.
func (p *KeyPool) serveOtherClasses(now time.Time, head *waiter) (Lease, int64, bool, *waiter) {
	at := never
	var tried uint64 // classes tried, for the first 64 class IDs
	mark := func(c int) bool {
		if c >= 64 {
			return true
		}
		if tried&(1<<c) != 0 {
			return false
		}
		tried |= 1 << c
		return true
	}
	mark(head.opts.class)
	for _, cq := range p.queue.ring {
		for x := cq.head; x != nil; x = x.next {
			if x == head || x.opts.class == head.opts.class || !mark(x.opts.class) {
				continue
			}
			l, xat, ok := p.serve(now, x, dispatchMode{})
			if ok {
				return l, at, true, x
			}
			at = min(at, xat)
		}
	}
	return Lease{}, at, false, head
}

// serve searches for a lease for w, a queued waiter, as m says (held to the
// groups' standby if its client is over its share, say). p.mu is held; it
// may be released meanwhile (see acquireRemote), w stays queued until it is
// back.
func (p *KeyPool) serve(now time.Time, w *waiter, m dispatchMode) (Lease, int64, bool) {
	w.claimed, m.queued = true, true
	l, at, ok := p.search(now, w.opts, m, nil)
	w.claimed = false
	return l, at, ok
}

// giveUp ends a request's wait without a lease: it advises a retry no
// sooner than capacity is due and its client's queue is likely served. A
// request that waited its whole queue timeout, or was refused at once
// because its client's queue is full, gets that time booked for its retry
// (see book): a retry without a booking of its own would take another's,
// which only says who the client is and the request's size. One whose
// client went away gets none. p.mu is held on entry and released.
func (p *KeyPool) giveUp(now time.Time, cq *clientQueue, opts *AcquireOptions, retryAt int64, cause error) (Lease, error) {
	booked := false
	if retryAt != never {
		retryAt = max(retryAt, now.UnixNano()+int64(p.positionWait(now.UnixNano(), cq)))
		if cause == nil || errors.Is(cause, ErrQueueFull) {
			retryAt, booked = p.book(now.UnixNano(), cq, opts, retryAt)
		}
	}
	p.queue.drop(cq)
	pending := len(p.pending) > 0
	p.mu.Unlock()
	if pending {
		p.deliver()
	}
	e := exhausted(retryAt, now, cause)
	e.Booked = booked
	return Lease{}, e
}

// positionWait is how long a request of cq's client that joined the end of
// its queue now would wait: its client's waiters ahead of it, served at the
// client's fair part of the recent grant rate. A client that sends more than
// its share is told to come back later than a client that does not, however
// long the other clients' queues. Every waiter leaves within the queue
// timeout, served or not, so that bounds it. 0 when nothing was granted
// lately. p.mu is held.
func (p *KeyPool) positionWait(nowNs int64, cq *clientQueue) time.Duration {
	if p.queue.n == 0 {
		return 0
	}
	r := p.grants.at(nowNs, grantRateTau) * p.queue.share(cq)
	if r <= 0 {
		return 0
	}
	d := float64(cq.n+1) / r * float64(time.Second)
	return time.Duration(min(d, float64(p.queueTimeout)))
}
