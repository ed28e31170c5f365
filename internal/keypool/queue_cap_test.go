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

// TestQueueFullFailsAtOnce: with MaxWaiters requests waiting, the next one
// that would wait fails at once with ErrQueueFull and a Retry-After, while
// the queued ones stay queued and are served when capacity returns.
func TestQueueFullFailsAtOnce(t *testing.T) {
	keys := keyCfgs(1)
	keys[0].RPMLimit = 1
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys, QueueTimeout: 2 * time.Minute, MaxWaiters: 2})
	f.get()
	first := f.acquireAsync(context.Background(), AcquireOptions{}, 1)
	second := f.acquireAsync(context.Background(), AcquireOptions{}, 2)

	_, err := f.p.Acquire(context.Background(), AcquireOptions{})
	var ee *ExhaustedError
	if !errors.As(err, &ee) || !errors.Is(err, ErrQueueFull) || !errors.Is(err, ErrAllKeysExhausted) {
		t.Fatalf("third Acquire: %v, want ErrQueueFull", err)
	}
	if ee.RetryAfter <= 0 || ee.RetryAfter > 2*time.Minute {
		t.Fatalf("RetryAfter %v", ee.RetryAfter)
	}
	if f.clock.Timers() != 2 {
		t.Fatalf("%d timers armed: the rejected request queued", f.clock.Timers())
	}
	assertQueued(t, first)
	assertQueued(t, second)
	f.clock.Advance(time.Minute)
	// One of the two gets the refilled request; the other waits on.
	got := 0
	for got == 0 {
		select {
		case r := <-first:
			if r.err != nil {
				t.Fatalf("first: %v", r.err)
			}
			got++
		case r := <-second:
			if r.err != nil {
				t.Fatalf("second: %v", r.err)
			}
			got++
		case <-time.After(5 * time.Second):
			t.Fatal("no queued Acquire was served")
		}
	}
}

// TestQueueCapDefault: a pool configured without MaxWaiters still bounds its
// queue, at DefaultMaxWaiters.
func TestQueueCapDefault(t *testing.T) {
	keys := keyCfgs(1)
	keys[0].RPMLimit = 1
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys, QueueTimeout: time.Minute})
	f.get()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	chans := make([]<-chan result, DefaultMaxWaiters)
	for i := range chans {
		chans[i] = f.acquireAsync(ctx, AcquireOptions{}, i+1)
	}
	if _, err := f.p.Acquire(context.Background(), AcquireOptions{}); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("Acquire beyond %d waiters: %v, want ErrQueueFull", DefaultMaxWaiters, err)
	}
	cancel()
	for _, ch := range chans {
		if r := f.await(ch); !errors.Is(r.err, context.Canceled) {
			t.Fatalf("queued Acquire: %v", r.err)
		}
	}
}

func TestNegativeMaxWaitersInvalid(t *testing.T) {
	_, err := NewKeyPool(provider.Anthropic, PoolConfig{Keys: keyCfgs(1), MaxWaiters: -1})
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("err %v", err)
	}
}
