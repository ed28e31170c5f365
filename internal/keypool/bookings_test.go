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
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/provider"
)

// bookedFixture is a pool of one key with 1 request per minute and a 50s
// queue, whose capacity was taken at t0, and a request of client "a" that
// waited 50s and was told to retry when capacity returns: it returns the
// error it got.
func bookedFixture(t *testing.T) (*fixture, *ExhaustedError) {
	t.Helper()
	keys := keyCfgs(1)
	keys[0].RPMLimit = 1
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys, QueueTimeout: 50 * time.Second})
	f.get()
	ch := f.acquireAsync(context.Background(), AcquireOptions{Client: "a", Retry: RetryFirst}, 1)
	f.clock.Advance(50 * time.Second)
	r := f.await(ch)
	var ee *ExhaustedError
	if !errors.As(r.err, &ee) {
		t.Fatalf("first attempt: %v, want exhausted", r.err)
	}
	// Capacity returns at t0+60s.
	if !ee.Booked || ee.RetryAfter != 10*time.Second {
		t.Fatalf("advice %+v, want a booking in 10s", ee)
	}
	return f, ee
}

// retryRace queues a newer request of client a, then a's retry half a
// second before it is due (with hint), and moves the clock to the due
// time, when capacity returns; it returns the two results.
func retryRace(f *fixture, hint RetryHint) (newer, retry <-chan result) {
	newer = f.acquireAsync(context.Background(), AcquireOptions{Client: "a", Retry: RetryFirst}, 1)
	f.clock.Advance(9500 * time.Millisecond)
	retry = f.acquireAsync(context.Background(), AcquireOptions{Client: "a", Retry: hint}, 2)
	f.clock.Advance(500 * time.Millisecond)
	return newer, retry
}

// TestBookedRetryGoesFirst checks that the retry at the advised time is
// served before its client's request that waited longer, and that without
// the claim (a request that says it is a first attempt) the order is
// arrival order.
func TestBookedRetryGoesFirst(t *testing.T) {
	f, _ := bookedFixture(t)
	newer, retry := retryRace(f, RetryAgain)
	if r := f.await(retry); r.err != nil {
		t.Fatalf("the booked retry: %v", r.err)
	}
	assertQueued(t, newer)

	g, _ := bookedFixture(t)
	newer, first := retryRace(g, RetryFirst)
	if r := g.await(newer); r.err != nil {
		t.Fatalf("without a claim the earlier request goes first: %v", r.err)
	}
	assertQueued(t, first)
}

// TestOnlyTheClientsRetryClaims checks who may claim a booking: the same
// client, with the same input estimate, on a retry (or without saying),
// from a second before its due time until it lapses, once.
func TestOnlyTheClientsRetryClaims(t *testing.T) {
	f, ee := bookedFixture(t)
	due := f.clock.Now().Add(ee.RetryAfter).UnixNano()
	claim := func(at int64, opts AcquireOptions) bool {
		f.p.mu.Lock()
		defer f.p.mu.Unlock()
		return f.p.claim(at, &opts)
	}
	second := int64(time.Second)
	for _, c := range []struct {
		at   int64
		opts AcquireOptions
	}{
		{due, AcquireOptions{Client: "a", Retry: RetryFirst}},                           // a first attempt
		{due, AcquireOptions{Client: "c", Retry: RetryAgain}},                           // another client
		{due, AcquireOptions{Client: "a", Retry: RetryAgain, EstimatedInputTokens: 10}}, // another request
		{due - 2*second, AcquireOptions{Client: "a", Retry: RetryAgain}},                // too early
	} {
		if claim(c.at, c.opts) {
			t.Fatalf("%+v claimed at due%+ds", c.opts, (c.at-due)/second)
		}
	}
	if !claim(due-second, AcquireOptions{Client: "a"}) {
		t.Fatal("a's retry (no retry header) a second early did not claim")
	}
	if claim(due, AcquireOptions{Client: "a", Retry: RetryAgain}) {
		t.Fatal("a booking was claimed twice")
	}
}

// TestBookingLapses checks that a booking nobody claims is gone after its
// grace.
func TestBookingLapses(t *testing.T) {
	f, ee := bookedFixture(t)
	late := f.clock.Now().Add(ee.RetryAfter + bookingGrace + time.Second).UnixNano()
	f.p.mu.Lock()
	defer f.p.mu.Unlock()
	if f.p.claim(late, &AcquireOptions{Client: "a", Retry: RetryAgain}) || f.p.bookings.n != 0 ||
		len(f.p.bookings.clients) != 0 {
		t.Fatalf("a booking outlived its grace: %d booked, calendars %v", f.p.bookings.n, f.p.bookings.clients)
	}
}

// TestLateRetryClaimsWithinGrace checks that a retry sent well after its
// due time (a client or host that stalled) still claims its booking while
// the grace lasts: it is served ahead of its client's request that queued
// before it.
func TestLateRetryClaimsWithinGrace(t *testing.T) {
	f, ee := bookedFixture(t) // now t0+50s; the booking is due at t0+60s
	// Capacity returns at the due time and goes to a's newer request.
	newer := f.acquireAsync(context.Background(), AcquireOptions{Client: "a", Retry: RetryFirst}, 1)
	f.clock.Advance(ee.RetryAfter)
	if r := f.await(newer); r.err != nil {
		t.Fatalf("a's newer request: %v", r.err)
	}
	// At t0+75s another request of a queues; the retry comes at t0+85s,
	// 25s late, and capacity returns at t0+120s.
	f.clock.Advance(15 * time.Second)
	queued := f.acquireAsync(context.Background(), AcquireOptions{Client: "a", Retry: RetryFirst}, 1)
	f.clock.Advance(10 * time.Second)
	late := f.acquireAsync(context.Background(), AcquireOptions{Client: "a", Retry: RetryAgain}, 2)
	f.clock.Advance(35 * time.Second)
	if r := f.await(late); r.err != nil {
		t.Fatalf("the late retry: %v", r.err)
	}
	assertQueued(t, queued)
}

// TestBookingsKeepToTheGrantRate checks a client's calendar: its bookings
// made at once are spaced by the time per grant at bookingPace of its fair
// part of the pool's recent grant rate, advised in whole seconds, and none
// is made beyond the horizon or in a pool without a queue.
func TestBookingsKeepToTheGrantRate(t *testing.T) {
	keys := keyCfgs(1)
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys, QueueTimeout: time.Second})
	f.sequence(5) // 5 grants now: 0.5 per second over the 10s time constant
	now := f.clock.Now().UnixNano()
	f.p.mu.Lock()
	defer f.p.mu.Unlock()
	a, b := f.p.queue.client("a"), f.p.queue.client("b")
	book := func(c *clientQueue) time.Duration {
		d, ok := f.p.book(now, c, &AcquireOptions{Client: c.name}, now+int64(1500*time.Millisecond))
		if !ok {
			t.Fatalf("%s not booked", c.name)
		}
		return time.Duration(d - now)
	}
	// 0.5 grants per second, 90% of it promised: 2.22s per booking, from
	// the first slot at 1.5s.
	if d1, d2 := book(a), book(a); d1 != 2*time.Second || d2 != 4*time.Second {
		t.Fatalf("a booked at +%v and +%v, want +2s and +4s (slots 1.5s and 3.72s)", d1, d2)
	}
	// b's calendar is its own.
	if d := book(b); d != 2*time.Second {
		t.Fatalf("b booked at +%v, want +2s", d)
	}
	// With b waiting, a's fair part is half the grants: 4.44s per booking.
	f.p.queue.push(&waiter{opts: &AcquireOptions{Client: "b"}, cq: b, done: make(chan struct{})})
	if d := book(a); d != 9*time.Second {
		t.Fatalf("a booked at +%v with b waiting, want +9s (slot 8.17s)", d)
	}
	if _, ok := f.p.book(now, a, &AcquireOptions{Client: "c"}, now+int64(bookingHorizon)+1); ok {
		t.Fatal("booked beyond the horizon")
	}
	f.p.queueTimeout = 0
	if _, ok := f.p.book(now, a, &AcquireOptions{Client: "a"}, now+int64(time.Second)); ok {
		t.Fatal("a pool without a queue booked")
	}
}

// TestLargePromptsAreBookedByTheirInput checks that a retry of a prompt
// larger than the ones granted lately is booked for the time its input
// takes at the client's pace, not for one grant's: long prompts, bound by
// input tokens, are otherwise promised retries at the rate short ones set.
func TestLargePromptsAreBookedByTheirInput(t *testing.T) {
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keyCfgs(1), QueueTimeout: time.Second})
	for range 5 { // 0.5 grants and 500 input tokens per second: 1000 a grant
		f.acquire(AcquireOptions{EstimatedInputTokens: 1000})
	}
	now := f.clock.Now().UnixNano()
	f.p.mu.Lock()
	defer f.p.mu.Unlock()
	retryAt := now + int64(1500*time.Millisecond)
	// 2.22s per grant of 1000 input tokens at 90%: the first slot at 1.5s,
	// a prompt of 4000 four grants' time later (10.39s), one of 1000 one
	// grant's later (12.61s).
	for i, want := range []struct {
		est int64
		due time.Duration
	}{{1000, 2 * time.Second}, {4000, 11 * time.Second}, {1000, 13 * time.Second}} {
		if d, ok := bookAt(f.p, now, "a", want.est, retryAt); !ok || d != want.due {
			t.Fatalf("booking %d (%d input tokens) at +%v (booked %v), want +%v", i, want.est, d, ok, want.due)
		}
	}
}

// bookAt books a request of client name turned away at now whose capacity
// is expected at retryAt; it returns the advice (from now) and whether it
// was booked. p.mu is held.
func bookAt(p *KeyPool, now int64, name string, est int64, retryAt int64) (time.Duration, bool) {
	due, ok := p.book(now, p.queue.client(name), &AcquireOptions{Client: name, EstimatedInputTokens: est}, retryAt)
	return time.Duration(due - now), ok
}

// TestRoundingDoesNotSlowTheCalendar checks that bookings made at once are
// spaced by the time per grant, not by whole seconds: at 2 grants per
// second (0.56s per booking), ten fit in about five seconds (rounding each
// up to a whole second would spread them over ten).
func TestRoundingDoesNotSlowTheCalendar(t *testing.T) {
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keyCfgs(1), QueueTimeout: time.Second})
	f.sequence(20) // 20 grants now: 2 per second over the 10s time constant
	now := f.clock.Now().UnixNano()
	f.p.mu.Lock()
	defer f.p.mu.Unlock()
	var last time.Duration
	for i := range 10 {
		// Each request is turned away a little later than the one before.
		at := now + int64(i)*int64(100*time.Millisecond)
		d, ok := bookAt(f.p, at, "a", 1, at+int64(1500*time.Millisecond))
		if !ok {
			t.Fatalf("booking %d not made", i)
		}
		if d%time.Second != 0 {
			t.Fatalf("booking %d advised %v, not whole seconds", i, d)
		}
		last = time.Duration(at-now) + d
	}
	// Slots at 1.5s, 2.06s, ... 6.5s; the last is advised at +6s from its
	// own instant, 0.9s.
	if last > 7*time.Second {
		t.Fatalf("the tenth booking is due at +%v, want <= +7s (0.5s per grant)", last)
	}
	c := f.p.bookings.clients["a"]
	for i := c.head + 1; i < len(c.list); i++ {
		if c.list[i].due < c.list[i-1].due {
			t.Fatalf("calendar out of order at %d: %+v", i, c.list)
		}
	}
}

// TestBookingBeyondTheOldHorizon checks that a client whose backlog
// reaches further than the 5 minutes the pool once booked at most is still
// promised a time its retry can claim, and that past bookingHorizon the
// pool advises its estimate without booking it (nothing recorded).
func TestBookingBeyondTheOldHorizon(t *testing.T) {
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keyCfgs(1), QueueTimeout: time.Second})
	now := f.clock.Now().UnixNano()
	f.p.mu.Lock()
	defer f.p.mu.Unlock()
	d, ok := bookAt(f.p, now, "a", 7, now+int64(12*time.Minute))
	if !ok || d != 12*time.Minute {
		t.Fatalf("12 minutes ahead: advised %v booked %v, want a booking in 12m", d, ok)
	}
	due := now + int64(d)
	if f.p.claim(due-int64(2*time.Second), &AcquireOptions{Client: "a", Retry: RetryAgain, EstimatedInputTokens: 7}) {
		t.Fatal("claimed 2s before its due time")
	}
	if !f.p.claim(due, &AcquireOptions{Client: "a", Retry: RetryAgain, EstimatedInputTokens: 7}) {
		t.Fatal("the retry 12 minutes later did not claim its booking")
	}
	far := now + int64(bookingHorizon) + int64(time.Minute)
	d, ok = bookAt(f.p, now, "a", 7, far)
	if ok || d != time.Duration(far-now) {
		t.Fatalf("past the horizon: advised %v booked %v, want the estimate %v unbooked", d, ok, time.Duration(far-now))
	}
	if f.p.bookings.n != 0 {
		t.Fatalf("%d bookings left, want none (one claimed, one refused)", f.p.bookings.n)
	}
}

// TestCalendarMemoryIsBounded checks that one client's calendar holds at
// most maxClientBookings bookings (more are advised, unbooked), reuses the
// memory of those that lapsed instead of growing, and does not stop another
// client from booking.
func TestCalendarMemoryIsBounded(t *testing.T) {
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keyCfgs(1), QueueTimeout: time.Second})
	now := f.clock.Now().UnixNano()
	f.p.mu.Lock()
	defer f.p.mu.Unlock()
	f.p.grants = grantRate{rate: 10, last: now} // 0.11s per booking
	for i := range maxClientBookings {
		if _, ok := bookAt(f.p, now, "a", 1, now+int64(time.Second)); !ok {
			t.Fatalf("booking %d of a not made", i)
		}
	}
	if _, ok := bookAt(f.p, now, "a", 1, now+int64(time.Second)); ok {
		t.Fatalf("a booked more than %d", maxClientBookings)
	}
	if _, ok := bookAt(f.p, now, "b", 1, now+int64(time.Second)); !ok {
		t.Fatal("b could not book beside a's full calendar")
	}
	c := f.p.bookings.clients["a"]
	size := cap(c.list)
	// 4.5 minutes on, the bookings due in the first 4 minutes have lapsed
	// (about 2150 at 0.11s each); as many new ones fit in the same memory.
	later := now + int64(4*time.Minute+30*time.Second)
	f.p.grants = grantRate{rate: 10, last: later}
	made := 0
	for ; made <= maxClientBookings; made++ {
		if _, ok := bookAt(f.p, later, "a", 1, later+int64(time.Second)); !ok {
			break
		}
	}
	if c = f.p.bookings.clients["a"]; made < 2000 || c.live() != maxClientBookings || cap(c.list) > size {
		t.Fatalf("after the lapse a booked %d more: %d live in %d slots (was %d)", made, c.live(), cap(c.list), size)
	}
	if want := maxClientBookings + 1; f.p.bookings.n != want {
		t.Fatalf("%d bookings counted, want %d", f.p.bookings.n, want)
	}
}

// TestQueueFullRetryIsBooked checks that a request refused at once because
// its client's queue is full gets a booked time too, and that its retry
// then may queue though the queue is still full, ahead of the client's
// request waiting there.
func TestQueueFullRetryIsBooked(t *testing.T) {
	keys := keyCfgs(1)
	keys[0].RPMLimit = 1
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys, QueueTimeout: 50 * time.Second, MaxWaiters: 1})
	f.get() // capacity returns at t0+60s
	waiting := f.acquireAsync(context.Background(), AcquireOptions{Client: "a", Retry: RetryFirst}, 1)
	_, err := f.p.Acquire(context.Background(), AcquireOptions{Client: "a", Retry: RetryFirst, EstimatedInputTokens: 2})
	var ee *ExhaustedError
	if !errors.As(err, &ee) || !errors.Is(ee.Cause, ErrQueueFull) || !ee.Booked || ee.RetryAfter != time.Minute {
		t.Fatalf("refused at once: %v (%+v), want a booking in 60s", err, ee)
	}
	f.clock.Advance(50 * time.Second)
	if r := f.await(waiting); r.err == nil {
		t.Fatal("the waiting request got a lease before capacity returned")
	}
	// At t0+55s another request of a fills the queue again; the retry comes
	// half a second before its time.
	f.clock.Advance(5 * time.Second)
	full := f.acquireAsync(context.Background(), AcquireOptions{Client: "a", Retry: RetryFirst}, 1)
	f.clock.Advance(4500 * time.Millisecond)
	retry := f.acquireAsync(context.Background(),
		AcquireOptions{Client: "a", Retry: RetryAgain, EstimatedInputTokens: 2}, 2)
	f.clock.Advance(500 * time.Millisecond)
	if r := f.await(retry); r.err != nil {
		t.Fatalf("the booked retry: %v", r.err)
	}
	assertQueued(t, full)
}

// TestFairRateLeavesOutClientsServedAsTheyCome checks the pace of a
// client's calendar when another client takes grants without waiting: the
// shares count only the clients waiting, so what the other took lately is
// taken off the pool's rate first.
func TestFairRateLeavesOutClientsServedAsTheyCome(t *testing.T) {
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keyCfgs(1), QueueTimeout: time.Second,
		Clients: []ClientConfig{{Name: "a"}, {Name: "b"}}})
	now := f.clock.Now().UnixNano()
	f.p.mu.Lock()
	defer f.p.mu.Unlock()
	f.p.grants = grantRate{rate: 1, last: now}
	a, b := f.p.queue.client("a"), f.p.queue.client("b")
	if r := f.p.fairRate(now, a); r != 1 {
		t.Fatalf("a's rate %v with b idle, want all of 1/s", r)
	}
	b.rate = grantRate{rate: 0.5, last: now} // b is served as it comes
	if r := f.p.fairRate(now, a); r != 0.5 {
		t.Fatalf("a's rate %v with b taking 0.5/s, want 0.5/s", r)
	}
	// a's calendar: 90% of 0.5/s is 2.22s a booking.
	if d, ok := bookAt(f.p, now, "a", 1, now+int64(1500*time.Millisecond)); !ok || d != 2*time.Second {
		t.Fatalf("first booking +%v (%v), want +2s", d, ok)
	}
	if d, ok := bookAt(f.p, now, "a", 1, now+int64(1500*time.Millisecond)); !ok || d != 4*time.Second {
		t.Fatalf("second booking +%v (%v), want +4s (slot 3.72s)", d, ok)
	}
}
