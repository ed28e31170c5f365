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

// Bookings: a request that waited its whole queue timeout is told when to
// retry, and that time is booked for its retry. Each client has its own
// calendar, which promises its retries no faster than its fair part of the
// pool's recent grant rate (the part positionWait uses), so at every
// advised time the client's share of capacity can serve the retries due.
// A retry of the same client and size that comes then claims the booking
// and goes to the front of its client's queue: it is served at the
// client's next turn, ahead of the client's newer requests, while the
// other clients keep their fair share. Nothing is held back: a booking only
// orders a client's own requests, and one nobody claims lapses.
const (
	// bookingEarly is how long before its due time a booking may be
	// claimed: Retry-After has whole seconds, clocks differ.
	bookingEarly = time.Second
	// bookingGrace is how long after its due time an unclaimed booking
	// lapses.
	bookingGrace = 10 * time.Second
	// bookingHorizon is the furthest ahead the pool books: beyond it, its
	// picture of capacity says little, so it advises without promising.
	bookingHorizon = 5 * time.Minute
	// maxBookingSpacing bounds the time per booking when grants were rare.
	maxBookingSpacing = 10 * time.Second
	// maxBookings bounds the calendar's memory.
	maxBookings = 4096
)

// booking is a retry promised to a client.
type booking struct {
	client string
	est    int64 // the request's input estimate, which its retry repeats
	due    int64 // Unix ns: the advised retry time
}

// bookings is the pool's calendar of promised retries. p.mu guards it.
type bookings struct {
	list []booking
	// tail is each client's latest due time booked. Client names come from
	// the pool's configuration, so it stays bounded.
	tail map[string]int64
}

// claim takes the booking due now of opts' client and size, if the request
// may be a retry, and reports whether it did. p.mu is held.
func (p *KeyPool) claim(nowNs int64, opts *AcquireOptions) bool {
	b := &p.bookings
	p.lapse(nowNs)
	if opts.Retry == RetryFirst {
		return false
	}
	best := -1
	for i := range b.list {
		bk := &b.list[i]
		if bk.client == opts.Client && bk.est == opts.EstimatedInputTokens && bk.due-int64(bookingEarly) <= nowNs &&
			(best < 0 || bk.due < b.list[best].due) {
			best = i
		}
	}
	if best < 0 {
		return false
	}
	copy(b.list[best:], b.list[best+1:])
	b.list[len(b.list)-1] = booking{}
	b.list = b.list[:len(b.list)-1]
	return true
}

// lapse drops the bookings whose grace is over, and the calendars with
// nothing booked ahead. p.mu is held.
func (p *KeyPool) lapse(nowNs int64) {
	b := &p.bookings
	kept := b.list[:0]
	for _, bk := range b.list {
		if bk.due+int64(bookingGrace) >= nowNs {
			kept = append(kept, bk)
		}
	}
	clear(b.list[len(kept):])
	b.list = kept
	for c, t := range b.tail {
		if t < nowNs {
			delete(b.tail, c)
		}
	}
}

// book advises a request of cq's client turned away at nowNs, whose
// capacity is expected at retryAt, when to retry, and books that time for
// it when it can: the later of retryAt and the client's last booking plus
// one grant at the client's fair part of the pool's recent grant rate, in
// whole seconds. It reports whether it booked. A pool without a queue books
// nothing: its retries could not wait for their turn. p.mu is held.
func (p *KeyPool) book(nowNs int64, cq *clientQueue, opts *AcquireOptions, retryAt int64) (int64, bool) {
	if p.queueTimeout <= 0 {
		return retryAt, false
	}
	b := &p.bookings
	p.lapse(nowNs)
	due := retryAt
	if tail := b.tail[opts.Client]; tail > nowNs {
		// The client's retries are still due: this one comes after them.
		// (Without them the grant rate says nothing about capacity: the
		// pool may merely have been idle.)
		spacing := maxBookingSpacing
		if rate := p.grants.at(nowNs) * p.queue.share(cq); rate > 0 {
			spacing = min(time.Duration(float64(time.Second)/rate), maxBookingSpacing)
		}
		due = max(due, tail+int64(spacing))
	}
	secs := (max(due-nowNs, 1) + int64(time.Second) - 1) / int64(time.Second)
	due = nowNs + secs*int64(time.Second)
	if due-nowNs > int64(bookingHorizon) || len(b.list) >= maxBookings {
		return due, false
	}
	b.list = append(b.list, booking{client: opts.Client, est: opts.EstimatedInputTokens, due: due})
	if b.tail == nil {
		b.tail = map[string]int64{}
	}
	b.tail[opts.Client] = max(b.tail[opts.Client], due)
	return due, true
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
