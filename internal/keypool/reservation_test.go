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

// bookedFixture is a pool of one key with 1 request per minute and a 5s
// queue, whose capacity was just taken, and a request of client "a" that
// waited 5s and was told to retry: it returns the error it got.
func bookedFixture(t *testing.T) (*fixture, *ExhaustedError) {
	t.Helper()
	keys := keyCfgs(1)
	keys[0].RPMLimit = 1
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys, QueueTimeout: 5 * time.Second})
	f.get()
	ch := f.acquireAsync(context.Background(), AcquireOptions{Client: "a", Retry: RetryFirst}, 1)
	f.clock.Advance(5 * time.Second)
	r := f.await(ch)
	var ee *ExhaustedError
	if !errors.As(r.err, &ee) {
		t.Fatalf("first attempt: %v, want exhausted", r.err)
	}
	// Capacity returns at t0+60s: 55s after the wait ended, a whole second.
	if !ee.Booked || ee.RetryAfter != 55*time.Second {
		t.Fatalf("advice %+v, want a booking in 55s", ee)
	}
	return f, ee
}

// queueBehind has client "b" queue 3s before the booking is due and moves
// the clock to the due time, where b finds the capacity held.
func queueBehind(f *fixture) <-chan result {
	f.clock.Advance(52 * time.Second) // t0+57s
	ch := f.acquireAsync(context.Background(), AcquireOptions{Client: "b", Retry: RetryFirst}, 1)
	f.clock.Advance(3 * time.Second) // t0+60s: capacity is back, held for a's retry
	f.awaitTimers(1)                 // b waits for the hold to end
	assertQueued(f.t, ch)
	return ch
}

// TestBookedRetryGetsTheCapacity checks that the retry at the advised time
// gets the capacity that returned then, although another client's request
// waited for it first, and that the other request is not served instead.
func TestBookedRetryGetsTheCapacity(t *testing.T) {
	f, _ := bookedFixture(t)
	chB := queueBehind(f)
	l := f.acquire(AcquireOptions{Client: "a", Retry: RetryAgain})
	f.p.Settle(&l, Usage{})
	f.clock.Advance(2 * time.Second) // b's wait ends with the hold
	if r := f.await(chB); !errors.Is(r.err, ErrAllKeysExhausted) {
		t.Fatalf("b got %+v; the capacity was booked for a", r)
	}
}

// TestUnclaimedBookingReleasesTheCapacity checks that capacity held for a
// retry that does not come goes to the waiting requests when the hold ends.
func TestUnclaimedBookingReleasesTheCapacity(t *testing.T) {
	f, _ := bookedFixture(t)
	chB := queueBehind(f)
	f.clock.Advance(bookingHold)
	if r := f.await(chB); r.err != nil {
		t.Fatalf("b: %v; the unclaimed capacity must go to it", r.err)
	}
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
	if f.p.claim(late, &AcquireOptions{Client: "a", Retry: RetryAgain}) || len(f.p.bookings.list) != 0 {
		t.Fatalf("a booking outlived its grace: %+v", f.p.bookings.list)
	}
}

// TestBookingsKeepToTheGrantRate checks the calendar: bookings made at
// once are spaced by the pool's recent time per grant, in whole seconds,
// and none is made beyond the horizon or in a pool without a queue.
func TestBookingsKeepToTheGrantRate(t *testing.T) {
	keys := keyCfgs(1)
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys, QueueTimeout: time.Second})
	f.sequence(5) // 5 grants now: 0.5 per second over the 10s time constant
	now := f.clock.Now().UnixNano()
	f.p.mu.Lock()
	defer f.p.mu.Unlock()
	opts := &AcquireOptions{Client: "a"}
	d1, ok1 := f.p.book(now, opts, now+int64(1500*time.Millisecond))
	d2, ok2 := f.p.book(now, opts, now+int64(1500*time.Millisecond))
	if !ok1 || !ok2 || d1 != now+2*int64(time.Second) || d2 != now+4*int64(time.Second) {
		t.Fatalf("booked at +%v (%v) and +%v (%v), want +2s and +4s (2s per grant at 0.5/s)",
			time.Duration(d1-now), ok1, time.Duration(d2-now), ok2)
	}
	if _, ok := f.p.book(now, opts, now+int64(bookingHorizon)+1); ok {
		t.Fatal("booked beyond the horizon")
	}
	f.p.queueTimeout = 0
	if _, ok := f.p.book(now, opts, now+int64(time.Second)); ok {
		t.Fatal("a pool without a queue booked")
	}
}
