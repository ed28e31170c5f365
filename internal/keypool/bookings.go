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

import "time"

// RetryHint is what a request says about being a retry.
type RetryHint int8

const (
	// RetryUnknown: the client does not say (no SDK retry header). Its
	// request may claim its client's booking.
	RetryUnknown RetryHint = iota
	// RetryFirst: the client's first attempt; it never claims a booking,
	// so that new requests cannot take what a retry was promised.
	RetryFirst
	// RetryAgain: the client retries an earlier attempt.
	RetryAgain
)

// Bookings: a request turned away for want of capacity (it waited its
// whole queue timeout, or its client's queue was full) is told when to
// retry, and that time is booked for its retry. Each client has its own
// calendar, which promises its retries no faster than 90% of its fair rate
// (its part of the pool's recent grants, less what clients served without
// waiting took), so at every advised time the client's share of capacity
// can serve the retries due.
// A retry of the same client and size that comes then claims the booking
// and goes to the front of its client's queue: it is served at the
// client's next turn, ahead of the client's newer requests, while the
// other clients keep their fair share. Nothing is held back: a booking only
// orders a client's own requests, and one nobody claims lapses.
//
// Under sustained overload a client's calendar reaches further ahead with
// every request it is turned away with: the advice grows with its backlog,
// and stays a promise. Past bookingHorizon, or maxClientBookings bookings,
// the pool promises nothing: the request gets the calendar's estimate,
// unbooked (ExhaustedError.Booked false), and the proxy says so.
const (
	// bookingEarly is how long before its due time a booking may be
	// claimed: Retry-After has whole seconds, clocks differ.
	bookingEarly = time.Second
	// bookingGrace is how long after its due time an unclaimed booking
	// lapses: a retry sent late (a client or host that stalled, a slow
	// network) still claims it. Nothing is held for it meanwhile.
	bookingGrace = 30 * time.Second
	// bookingHorizon is the furthest ahead the pool books: a client told to
	// come back later than this is better told that nothing can be
	// promised, and the pool's picture of capacity says little that far.
	bookingHorizon = 15 * time.Minute
	// bookingPace is the part of the client's fair grant rate its calendar
	// promises: the rest absorbs a dip in capacity or a stall, after which
	// the retries due would otherwise stay late for good, and serves the
	// client's new requests meanwhile (nothing is held back for it).
	bookingPace = 0.9
	// maxBookingSpacing bounds the time per booking when grants were rare.
	maxBookingSpacing = 10 * time.Second
	// maxClientBookings bounds one client's calendar (16 bytes a booking).
	maxClientBookings = 4096
)

// booking is a retry promised to a client.
type booking struct {
	est int64 // the request's input estimate, which its retry repeats
	due int64 // Unix ns: the advised retry time
}

// calendar is one client's bookings, in ascending due times: those lapsed
// are a prefix, and a retry due now finds its booking near the front.
type calendar struct {
	list []booking // the live bookings are list[head:]
	head int
	// tail is the time the client's share reaches its latest booking: the
	// next one is spaced from it. Advice is rounded up to whole seconds,
	// the tail is not, so that rounding does not slow the calendar down.
	tail int64
}

// live is how many bookings the calendar holds.
func (c *calendar) live() int { return len(c.list) - c.head }

// bookings is the pool's calendars of promised retries. p.mu guards it.
type bookings struct {
	// clients holds a calendar for each client with bookings or a tail
	// ahead. Client names come from the pool's configuration, so it stays
	// bounded by it, and each calendar by maxClientBookings.
	clients map[string]*calendar
	n       int // bookings in all calendars
}

// lapse drops c's bookings whose grace is over at nowNs, and forgets c when
// nothing is booked and its tail has passed. It returns c, or nil when it
// forgot it.
func (b *bookings) lapse(name string, c *calendar, nowNs int64) *calendar {
	for c.head < len(c.list) && c.list[c.head].due+int64(bookingGrace) < nowNs {
		c.list[c.head] = booking{}
		c.head++
		b.n--
	}
	if c.live() == 0 {
		c.list, c.head = c.list[:0], 0
		if c.tail < nowNs {
			delete(b.clients, name)
			return nil
		}
	}
	return c
}

// claim takes the booking due now of opts' client and size, if the request
// may be a retry, and reports whether it did: the earliest such booking due
// within bookingEarly and not lapsed. p.mu is held.
func (p *KeyPool) claim(nowNs int64, opts *AcquireOptions) bool {
	b := &p.bookings
	c := b.clients[opts.Client]
	if c != nil {
		c = b.lapse(opts.Client, c, nowNs)
	}
	if c == nil || opts.Retry == RetryFirst {
		return false
	}
	for i := c.head; i < len(c.list) && c.list[i].due-int64(bookingEarly) <= nowNs; i++ {
		if c.list[i].est != opts.EstimatedInputTokens {
			continue
		}
		// Take it out, keeping the order: the earlier ones move up one.
		copy(c.list[c.head+1:i+1], c.list[c.head:i])
		c.list[c.head] = booking{}
		c.head++
		b.n--
		b.lapse(opts.Client, c, nowNs)
		return true
	}
	return false
}

// book advises a request of cq's client turned away at nowNs, whose
// capacity is expected at retryAt, when to retry, and books that time for
// it when it can: the later of retryAt and the client's latest booking plus
// one grant at bookingPace of the client's fair rate (see fairRate), or as
// many grants as its input estimate is times the mean of recent grants',
// rounded up to whole seconds. It reports whether it booked: not beyond
// bookingHorizon or maxClientBookings, where the advice is only the
// estimate. A pool without a queue books nothing: its retries could not
// wait for their turn. p.mu is held.
func (p *KeyPool) book(nowNs int64, cq *clientQueue, opts *AcquireOptions, retryAt int64) (int64, bool) {
	if p.queueTimeout <= 0 {
		return retryAt, false
	}
	b := &p.bookings
	c := b.clients[opts.Client]
	if c != nil {
		c = b.lapse(opts.Client, c, nowNs)
	}
	slot := retryAt
	if c != nil && c.tail > nowNs {
		// The client's retries are still due: this one comes after them.
		// (Without them the grant rate says nothing about capacity: the
		// pool may merely have been idle.)
		spacing := maxBookingSpacing
		if rate := p.fairRate(nowNs, cq) * bookingPace; rate > 0 {
			// One grant's time, or, for a prompt larger than the ones
			// granted lately, the time its input takes at that pace.
			secs := 1.0
			if in := p.grantedIn.at(nowNs, grantRateTau) / p.grants.at(nowNs, grantRateTau); in > 0 {
				secs = max(secs, float64(opts.EstimatedInputTokens)/in)
			}
			spacing = min(time.Duration(secs*float64(time.Second)/rate), maxBookingSpacing)
		}
		slot = max(slot, c.tail+int64(spacing))
	}
	secs := (max(slot-nowNs, 1) + int64(time.Second) - 1) / int64(time.Second)
	due := nowNs + secs*int64(time.Second)
	if due-nowNs > int64(bookingHorizon) || (c != nil && c.live() >= maxClientBookings) {
		return due, false
	}
	if c == nil {
		c = &calendar{}
		if b.clients == nil {
			b.clients = map[string]*calendar{}
		}
		b.clients[opts.Client] = c
	}
	if c.head > 0 && len(c.list) == cap(c.list) {
		// Reuse the lapsed prefix before growing.
		n := copy(c.list, c.list[c.head:])
		clear(c.list[n:])
		c.list, c.head = c.list[:n], 0
	}
	// Slots ascend, but rounding up from different instants may put this
	// due time up to a second before the last ones: keep the list sorted.
	c.list = append(c.list, booking{})
	i := len(c.list) - 1
	for ; i > c.head && c.list[i-1].due > due; i-- {
		c.list[i] = c.list[i-1]
	}
	c.list[i] = booking{est: opts.EstimatedInputTokens, due: due}
	b.n++
	c.tail = max(c.tail, slot)
	return due, true
}

// fairRate is the grants per second cq's client can expect while it
// waits: its fair part of the pool's recent grant rate, less what the
// clients that do not wait (served as they come, so outside the shares)
// took lately. p.mu is held.
func (p *KeyPool) fairRate(nowNs int64, cq *clientQueue) float64 {
	rate := p.grants.at(nowNs, grantRateTau)
	for _, o := range p.queue.clients {
		if o != cq && !o.active {
			rate -= o.rate.at(nowNs, shareTau)
		}
	}
	return max(rate, 0) * p.queue.share(cq)
}

// enqueue queues w in its client's queue: at the end, or, when it claimed
// a booking, ahead of every request of its client that did not (behind
// earlier claimants). p.mu is held.
func (p *KeyPool) enqueue(w *waiter) {
	p.queue.push(w)
	if !w.opts.claim {
		return
	}
	cq := w.cq
	var after *waiter // the last claimant ahead of w
	for x := cq.head; x != w && x.opts.claim; x = x.next {
		after = x
	}
	if w.prev == after {
		return // already there
	}
	// Unlink w (it is the tail, just pushed, with a predecessor)...
	cq.tail = w.prev
	cq.tail.next = nil
	// ...and link it behind after, or at the head.
	w.prev = after
	if after == nil {
		w.next, cq.head = cq.head, w
	} else {
		w.next, after.next = after.next, w
	}
	w.next.prev = w
}
