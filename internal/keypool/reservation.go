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

// Bookings: a request turned away with a Retry-After books the capacity
// for its retry. The advised time is on a calendar that promises no more
// retries per second than the pool recently granted requests, so at every
// advised time the capacity is there for the retries due; a retry of the
// same client (and size) that comes then claims the booking and is served
// before every other waiting request. Nothing is held back for a booking:
// capacity it does not claim goes to the queue as always, and a booking
// nobody claims lapses.
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
	// bookingHold is how long after its due time a booking unclaimed
	// holds the capacity back from every other request. Buckets keep what
	// is not taken, so holding it briefly costs nothing unless one is full.
	bookingHold = 2 * time.Second
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

// bookings is the pool's calendar of promised retries and the retries
// waiting that claimed one. p.mu guards it.
type bookings struct {
	list []booking // in due order: each is booked after the last
	tail int64     // the latest due time booked
	prio []*waiter // claimants waiting, served before the fair queue
}

// claim takes the booking due now of opts' client and size, if the request
// may be a retry, and reports whether it did. p.mu is held.
func (p *KeyPool) claim(nowNs int64, opts *AcquireOptions) bool {
	b := &p.bookings
	p.lapse(nowNs)
	if opts.Retry == RetryFirst {
		return false
	}
	for i := range b.list {
		bk := &b.list[i]
		if bk.due-int64(bookingEarly) > nowNs {
			break // not due yet, nor any after it
		}
		if bk.client == opts.Client && bk.est == opts.EstimatedInputTokens {
			copy(b.list[i:], b.list[i+1:])
			b.list[len(b.list)-1] = booking{}
			b.list = b.list[:len(b.list)-1]
			return true
		}
	}
	return false
}

// heldUntil is when the capacity held for the bookings due and not yet
// claimed is released; 0 when none holds it now. p.mu is held.
func (p *KeyPool) heldUntil(nowNs int64) int64 {
	var until int64
	for _, bk := range p.bookings.list {
		if bk.due-int64(bookingEarly) > nowNs {
			break
		}
		if end := bk.due + int64(bookingHold); end > nowNs {
			until = max(until, end)
		}
	}
	return until
}

// lapse drops the bookings whose grace is over. p.mu is held.
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
}

// book advises a request turned away at nowNs, whose capacity is expected
// at retryAt, when to retry, and books that time for it when it can: the
// later of retryAt and the calendar's last booking plus one grant at the
// pool's recent grant rate, in whole seconds. It reports whether it
// booked. p.mu is held.
// A pool without a queue books nothing: its retries could not wait for
// the capacity held for them.
func (p *KeyPool) book(nowNs int64, opts *AcquireOptions, retryAt int64) (int64, bool) {
	if p.queueTimeout <= 0 {
		return retryAt, false
	}
	b := &p.bookings
	p.lapse(nowNs)
	due := retryAt
	if rate := p.grants.at(nowNs); rate > 0 && b.tail > nowNs {
		// Retries are still due: this one comes after them, one grant
		// apart. (Without pending bookings the grant rate says nothing about
		// the pool's capacity: it may merely have been idle.)
		due = max(due, b.tail+int64(min(float64(time.Second)/rate, float64(maxBookingSpacing))))
	}
	secs := (max(due-nowNs, 1) + int64(time.Second) - 1) / int64(time.Second)
	due = nowNs + secs*int64(time.Second)
	if due-nowNs > int64(bookingHorizon) || len(b.list) >= maxBookings {
		return due, false
	}
	b.list = append(b.list, booking{client: opts.Client, est: opts.EstimatedInputTokens, due: due})
	b.tail = max(b.tail, due)
	return due, true
}

// enqueue queues w: a claimant in the priority lane, others in the fair
// queue. p.mu is held.
func (p *KeyPool) enqueue(w *waiter) {
	if w.opts.claim {
		p.bookings.prio = append(p.bookings.prio, w)
		return
	}
	p.queue.push(w)
}

// dequeue removes w, which gave up. p.mu is held.
func (p *KeyPool) dequeue(w *waiter) {
	if !w.opts.claim {
		p.queue.remove(w)
		return
	}
	b := &p.bookings
	for i, x := range b.prio {
		if x == w {
			copy(b.prio[i:], b.prio[i+1:])
			b.prio[len(b.prio)-1] = nil
			b.prio = b.prio[:len(b.prio)-1]
			return
		}
	}
}

// next is the waiter to serve next: the first claimant, else the fair
// queue's turn, unless capacity is held for a booking: then nil and when
// the hold ends. p.mu is held.
func (p *KeyPool) next(nowNs int64) (*waiter, int64) {
	if len(p.bookings.prio) > 0 {
		return p.bookings.prio[0], 0
	}
	if len(p.bookings.list) > 0 {
		if until := p.heldUntil(nowNs); until > 0 {
			return nil, until
		}
	}
	return p.queue.peek(), 0
}

// served records that w, which next returned, got its lease. p.mu is held.
func (p *KeyPool) served(w *waiter) {
	if w.opts.claim {
		p.dequeue(w)
		return
	}
	p.queue.served(w)
}

// mayPass reports whether a request may take capacity without waiting:
// nobody waits ahead of it, and no booking holds the capacity, unless it
// claimed one. p.mu is held.
func (p *KeyPool) mayPass(nowNs int64, opts *AcquireOptions) bool {
	if len(p.bookings.prio) > 0 {
		return false
	}
	if opts.claim {
		return true
	}
	return p.queue.n == 0 && (len(p.bookings.list) == 0 || p.heldUntil(nowNs) == 0)
}

// waiting reports whether any request waits. p.mu is held.
func (p *KeyPool) waiting() bool { return p.queue.n > 0 || len(p.bookings.prio) > 0 }
