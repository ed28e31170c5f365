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
	"runtime"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/provider"
)

type result struct {
	l   Lease
	err error
}

// acquireAsync runs Acquire in a goroutine and waits until it is queued
// (has armed its timer on the fake clock).
func (f *fixture) acquireAsync(ctx context.Context, opts AcquireOptions, timers int) <-chan result {
	f.t.Helper()
	ch := make(chan result, 1)
	go func() {
		l, err := f.p.Acquire(ctx, opts)
		ch <- result{l, err}
	}()
	if !f.clock.WaitTimers(5*time.Second, func(n int) bool { return n >= timers }) {
		f.t.Fatal("Acquire did not queue")
	}
	return ch
}

func (f *fixture) awaitTimers(n int) {
	f.t.Helper()
	if !f.clock.WaitTimers(5*time.Second, func(armed int) bool { return armed == n }) {
		f.t.Fatalf("%d timers armed, want %d", f.clock.Timers(), n)
	}
}

func (f *fixture) await(ch <-chan result) result {
	f.t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(5 * time.Second):
		f.t.Fatal("queued Acquire did not return")
	}
	return result{}
}

func assertQueued(t *testing.T, ch <-chan result) {
	t.Helper()
	for range 100 {
		runtime.Gosched()
	}
	select {
	case r := <-ch:
		t.Fatalf("queued Acquire returned early: %+v", r)
	default:
	}
}

func TestQueueWakesOnSettle(t *testing.T) {
	keys := keyCfgs(1)
	keys[0].ITPMLimit = 1000
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys, QueueTimeout: 10 * time.Second})
	held := f.acquire(AcquireOptions{EstimatedInputTokens: 1000})
	ch := f.acquireAsync(context.Background(), AcquireOptions{EstimatedInputTokens: 500}, 1)
	assertQueued(t, ch)
	f.p.Settle(&held, Usage{InputTokens: 200}) // 800 back, no time passes
	r := f.await(ch)
	if r.err != nil || r.l.KeyID != "k0" {
		t.Fatalf("result %+v", r)
	}
	if !f.clock.Now().Equal(t0) {
		t.Fatal("time moved")
	}
}

func TestQueueWakesWhenCapacityRefills(t *testing.T) {
	keys := keyCfgs(1)
	keys[0].RPMLimit = 1
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys, QueueTimeout: 2 * time.Minute})
	f.get()
	ch := f.acquireAsync(context.Background(), AcquireOptions{}, 1)
	f.clock.Advance(59 * time.Second)
	assertQueued(t, ch)
	f.clock.Advance(time.Second)
	if r := f.await(ch); r.err != nil {
		t.Fatalf("err %v", r.err)
	}
}

func TestQueueWakesWhenCooldownEnds(t *testing.T) {
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keyCfgs(1), QueueTimeout: time.Minute})
	if err := f.p.MarkKeyExhausted("k0", t0.Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	ch := f.acquireAsync(context.Background(), AcquireOptions{}, 1)
	f.clock.Advance(10 * time.Second)
	if r := f.await(ch); r.err != nil {
		t.Fatalf("err %v", r.err)
	}
}

func TestQueueTimesOut(t *testing.T) {
	keys := keyCfgs(1)
	keys[0].RPMLimit = 1
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys, QueueTimeout: 5 * time.Second})
	f.get()
	ch := f.acquireAsync(context.Background(), AcquireOptions{}, 1)
	f.clock.Advance(5 * time.Second)
	r := f.await(ch)
	var ee *ExhaustedError
	if !errors.As(r.err, &ee) || ee.RetryAfter != 55*time.Second || ee.Cause != nil {
		t.Fatalf("result %+v", r)
	}
}

func TestQueueBoundedByContext(t *testing.T) {
	keys := keyCfgs(1)
	keys[0].RPMLimit = 1
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys, QueueTimeout: time.Hour})
	f.get()
	ctx, cancel := context.WithCancel(context.Background())
	ch := f.acquireAsync(ctx, AcquireOptions{}, 1)
	cancel()
	r := f.await(ch)
	if !errors.Is(r.err, ErrAllKeysExhausted) || !errors.Is(r.err, context.Canceled) {
		t.Fatalf("err %v", r.err)
	}
	var ee *ExhaustedError
	if !errors.As(r.err, &ee) || ee.RetryAfter != time.Minute {
		t.Fatalf("err %#v", r.err)
	}
}

func TestNoQueueByDefault(t *testing.T) {
	keys := keyCfgs(1)
	keys[0].RPMLimit = 1
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys})
	f.get()
	if ee := f.exhausted(AcquireOptions{}); ee.RetryAfter != time.Minute {
		t.Fatalf("RetryAfter %v", ee.RetryAfter)
	}
	if f.clock.Timers() != 0 {
		t.Fatal("a timer was armed without a queue timeout")
	}
}

func TestQueueManyWaitersAllServed(t *testing.T) {
	keys := keyCfgs(1)
	keys[0].RPMLimit = 60
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys, QueueTimeout: time.Minute})
	f.sequence(60)
	var chans []<-chan result
	for i := range 5 {
		chans = append(chans, f.acquireAsync(context.Background(), AcquireOptions{}, i+1))
	}
	for i := range 5 {
		f.clock.Advance(time.Second)
		// The waiters that lost re-arm their timers before time moves on.
		f.awaitTimers(4 - i)
	}
	for _, ch := range chans {
		if r := f.await(ch); r.err != nil {
			t.Fatalf("err %v", r.err)
		}
	}
}
