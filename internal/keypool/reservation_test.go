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
	if f.p.claim(late, &AcquireOptions{Client: "a", Retry: RetryAgain}) || len(f.p.bookings.list) != 0 {
		t.Fatalf("a booking outlived its grace: %+v", f.p.bookings.list)
	}
}

// TestBookingsKeepToTheGrantRate checks a client's calendar: its bookings
// made at once are spaced by the time per grant at its fair part of the
// pool's recent grant rate, in whole seconds, and none is made beyond the
// horizon or in a pool without a queue.
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
	if d1, d2 := book(a), book(a); d1 != 2*time.Second || d2 != 4*time.Second {
		t.Fatalf("a booked at +%v and +%v, want +2s and +4s (2s per grant at 0.5/s)", d1, d2)
	}
	// b's calendar is its own.
	if d := book(b); d != 2*time.Second {
		t.Fatalf("b booked at +%v, want +2s", d)
	}
	// With b waiting, a's fair part is half the grants: 4s per booking.
	f.p.queue.push(&waiter{opts: &AcquireOptions{Client: "b"}, cq: b, done: make(chan struct{})})
	if d := book(a); d != 8*time.Second {
		t.Fatalf("a booked at +%v with b waiting, want +8s", d)
	}
	if _, ok := f.p.book(now, a, &AcquireOptions{Client: "c"}, now+int64(bookingHorizon)+1); ok {
		t.Fatal("booked beyond the horizon")
	}
	f.p.queueTimeout = 0
	if _, ok := f.p.book(now, a, &AcquireOptions{Client: "a"}, now+int64(time.Second)); ok {
		t.Fatal("a pool without a queue booked")
	}
}
