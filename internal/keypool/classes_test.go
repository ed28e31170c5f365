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
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/provider"
)

// spent is what the provider answers for a model whose requests bucket is
// empty until a minute from now.
func spent() http.Header {
	return hdr("anthropic-ratelimit-requests-limit", "50", "anthropic-ratelimit-requests-remaining", "0",
		"anthropic-ratelimit-requests-reset", t0.Add(time.Minute).Format(time.RFC3339))
}

// serve acquires a key for model, reports status and h for it and settles
// it; it returns the key's ID.
func (f *fixture) serve(model string, status int, h http.Header) string {
	f.t.Helper()
	l := f.acquire(AcquireOptions{Model: model})
	f.p.ReportResponse(&l, status, h)
	f.p.Settle(&l, Usage{InputTokens: 10, OutputTokens: 10})
	return l.KeyID
}

func TestModelClassHeadersTeachOnlyTheirClass(t *testing.T) {
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keyCfgs(2)})
	// Model A's bucket is empty on both keys, as each key's answer says.
	if a, b := f.serve("model-a", 200, spent()), f.serve("model-a", 200, spent()); a == b {
		t.Fatalf("both requests went to %s, want one per key", a)
	}
	_ = f.exhausted(AcquireOptions{Model: "model-a"})
	// Model B's buckets are untouched: its requests are served at once.
	for i := range 10 {
		f.serve("model-b", 200, hdr("anthropic-ratelimit-requests-limit", "50",
			"anthropic-ratelimit-requests-remaining", fmt.Sprint(48-i)))
	}
	_ = f.exhausted(AcquireOptions{Model: "model-a"})
	if _, _, err := f.p.GetKey(context.Background()); err != nil {
		t.Fatalf("GetKey (no model): %v", err)
	}
}

func TestModelClass429CoolsOnlyItsClass(t *testing.T) {
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keyCfgs(1)})
	f.serve("model-a", http.StatusTooManyRequests, hdr("retry-after", "30"))
	e := f.exhausted(AcquireOptions{Model: "model-a"})
	if e.RetryAfter != 30*time.Second {
		t.Errorf("RetryAfter = %s, want 30s (the 429's retry-after)", e.RetryAfter)
	}
	if id := f.serve("model-b", 200, nil); id != "k0" {
		t.Fatalf("model-b went to %s", id)
	}
	// The key shows its busiest class, which cools down, though it serves
	// model-b.
	if s := f.state("k0"); s != StateCoolingDown {
		t.Errorf("key state = %s, want CoolingDown (model-a's class)", s)
	}
	f.clock.Advance(30 * time.Second)
	f.serve("model-a", 200, nil)
}

func TestModelClassFailoverGoesToAKeyWithRoomForTheModel(t *testing.T) {
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keyCfgs(3)})
	// model-a is spent on k0 and k1 (one 429, one empty bucket); k2 has
	// only served model-b, and k0 still has room for model-b.
	l := f.acquire(AcquireOptions{Model: "model-a"})
	f.p.ReportResponse(&l, http.StatusTooManyRequests, hdr("retry-after", "20"))
	f.p.Settle(&l, Usage{})
	first := l.KeyID
	l = f.acquire(AcquireOptions{Model: "model-a", Exclude: []string{first}})
	f.p.ReportResponse(&l, 200, spent())
	f.p.Settle(&l, Usage{InputTokens: 1})
	second := l.KeyID
	l = f.acquire(AcquireOptions{Model: "model-a", Exclude: []string{first, second}})
	if l.KeyID == first || l.KeyID == second {
		t.Fatalf("failover went to %s, spent for model-a", l.KeyID)
	}
	f.p.ReportResponse(&l, 200, spent())
	f.p.Settle(&l, Usage{InputTokens: 1})
	_ = f.exhausted(AcquireOptions{Model: "model-a"})
	for range 6 {
		f.serve("model-b", 200, nil)
	}
}

func TestModelClassesDeclaredShareLimits(t *testing.T) {
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keyCfgs(1), ModelClasses: []ModelClass{
		{Name: "sonnet", Models: []string{"claude-sonnet-4*", "sonnet-latest"}, RPMLimit: 2},
	}})
	f.serve("claude-sonnet-4-5", 200, nil)
	f.serve("sonnet-latest", 200, nil)
	_ = f.exhausted(AcquireOptions{Model: "claude-sonnet-4-0"})
	f.serve("claude-haiku-4-5", 200, nil) // a class of its own, no limit known
	classes := f.stats("k0").Classes
	want := map[string]int64{"sonnet": 0, "claude-haiku-4-5": -1}
	if len(classes) != len(want) {
		t.Fatalf("classes = %+v, want %v", classes, want)
	}
	for _, c := range classes {
		if r, ok := want[c.Name]; !ok || c.RPMRemaining != r {
			t.Errorf("class %+v, want remaining %v", c, want)
		}
	}
}

func TestModelClassesBeyondTheBoundShareOneClass(t *testing.T) {
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keyCfgs(1)})
	for i := range MaxLearnedClasses {
		f.serve(fmt.Sprintf("m%d", i), 200, nil)
	}
	// Every further model draws on OverflowClass: a 429 for one cools
	// the others past the bound, not the learned ones.
	f.serve("beyond-1", http.StatusTooManyRequests, hdr("retry-after", "10"))
	_ = f.exhausted(AcquireOptions{Model: "beyond-2"})
	f.serve("m0", 200, nil)
	classes := f.stats("k0").Classes
	if len(classes) != MaxLearnedClasses+1 || classes[len(classes)-1].Name != OverflowClass {
		t.Fatalf("%d classes, last %+v; want %d, the last %q", len(classes), classes[len(classes)-1],
			MaxLearnedClasses+1, OverflowClass)
	}
}

func TestModelClassRequestLargerThanItsLimitFailsAtOnce(t *testing.T) {
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keyCfgs(2), QueueTimeout: time.Minute,
		ModelClasses: []ModelClass{{Name: "small", Models: []string{"tiny"}, ITPMLimit: 1000}}})
	_, err := f.p.Acquire(context.Background(), AcquireOptions{Model: "tiny", EstimatedInputTokens: 5000})
	var tl *TooLargeError
	if !errors.As(err, &tl) || tl.Class != "small" || tl.InputTokens != 5000 {
		t.Fatalf("err = %v, want a *TooLargeError for class small", err)
	}
	// A request of a size that fits is served: nothing was cooled.
	f.serve("tiny", 200, nil)
}

func TestModelClass429ForARequestLargerThanTheLimitCoolsNothing(t *testing.T) {
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keyCfgs(1)})
	l := f.acquire(AcquireOptions{Model: "model-a", EstimatedInputTokens: 50_000})
	f.p.ReportResponse(&l, http.StatusTooManyRequests, hdr("retry-after", "60",
		"anthropic-ratelimit-input-tokens-limit", "30000", "anthropic-ratelimit-input-tokens-remaining", "30000"))
	f.p.Settle(&l, Usage{})
	f.serve("model-a", 200, nil)
}

// classQueueFixture is one key with two declared classes, a at 1 request
// per minute and b at 2, both spent, and a queue timeout.
func classQueueFixture(t *testing.T) *fixture {
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keyCfgs(1), QueueTimeout: time.Minute,
		ModelClasses: []ModelClass{
			{Name: "a", Models: []string{"model-a"}, RPMLimit: 1},
			{Name: "b", Models: []string{"model-b"}, RPMLimit: 2},
		}})
	f.serve("model-a", 200, nil)
	f.serve("model-b", 200, nil)
	f.serve("model-b", 200, nil)
	return f
}

func TestModelClassWaitersDoNotHoldBackAnotherClassWithRoom(t *testing.T) {
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keyCfgs(1), QueueTimeout: time.Minute,
		ModelClasses: []ModelClass{{Name: "a", Models: []string{"model-a"}, RPMLimit: 1}}})
	f.serve("model-a", 200, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// More model-a requests wait than a queue looks ahead past its head.
	var as []<-chan result
	for i := range fitLookAhead + 1 {
		as = append(as, f.acquireAsync(ctx, AcquireOptions{Model: "model-a"}, i+1))
	}
	// model-b has room: it is served at once, not queued behind model-a
	// (a real-time deadline, so that a request that queues fails).
	bctx, bcancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer bcancel()
	l, err := f.p.Acquire(bctx, AcquireOptions{Model: "model-b"})
	if err != nil {
		t.Fatalf("model-b: %v", err)
	}
	f.p.Settle(&l, Usage{})
	cancel()
	for _, a := range as {
		f.await(a)
	}
}

func TestModelClassWaiterIsServedWhenItsClassRefillsBeforeTheHeads(t *testing.T) {
	f := classQueueFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := f.acquireAsync(ctx, AcquireOptions{Model: "model-a"}, 1)
	b := f.acquireAsync(context.Background(), AcquireOptions{Model: "model-b"}, 2)
	// b's class has a request again after 30s, a's only after a minute.
	f.clock.Advance(30 * time.Second)
	if r := f.await(b); r.err != nil {
		t.Fatalf("model-b: %v", r.err)
	}
	assertQueued(t, a)
	cancel()
	f.await(a)
}
