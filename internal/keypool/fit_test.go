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
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/provider"
)

// routeKeys are two keys of different shapes: "wide" has input tokens to
// spare and few requests, "narrow" many requests and few input tokens
// (first, so that least-loaded alone would try it first).
func routeKeys() []KeyConfig {
	return []KeyConfig{
		{ID: "narrow", APIKey: "sk-narrow", RPMLimit: 100, ITPMLimit: 2_000},
		{ID: "wide", APIKey: "sk-wide", RPMLimit: 2, ITPMLimit: 100_000},
	}
}

func TestRouteRequestGoesWhereItsDimensionIsSpare(t *testing.T) {
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: routeKeys()})
	// Both keys are full: least-loaded alone would take narrow. A long
	// prompt costs half of wide's minute (one of two requests) but twice
	// narrow's input; a short one a twentieth of narrow's input.
	long := f.acquire(AcquireOptions{EstimatedInputTokens: 4000})
	if long.KeyID != "wide" {
		t.Fatalf("long prompt went to %s, want wide", long.KeyID)
	}
	for i := range 5 {
		short := f.acquire(AcquireOptions{EstimatedInputTokens: 100})
		if short.KeyID != "narrow" {
			t.Fatalf("short prompt %d went to %s, want narrow", i, short.KeyID)
		}
		f.p.Settle(&short, Usage{InputTokens: 100})
	}
	f.p.Settle(&long, Usage{InputTokens: 4000})
}

func TestRouteTakesAnyGroupWithRoomWhenItsOwnHasNone(t *testing.T) {
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: routeKeys()})
	// wide's two requests are spent.
	for range 2 {
		if l := f.acquire(AcquireOptions{EstimatedInputTokens: 4000}); l.KeyID != "wide" {
			t.Fatalf("long prompt went to %s, want wide", l.KeyID)
		}
	}
	// No group that fits has room: the long prompt takes narrow, whose full
	// bucket is enough for a prompt larger than it, rather than wait.
	if l := f.acquire(AcquireOptions{EstimatedInputTokens: 4000}); l.KeyID != "narrow" {
		t.Fatalf("long prompt went to %s, want narrow", l.KeyID)
	}
}

func TestRouteQueueLetsALaterRequestTakeAGroupTheHeadDoesNotFit(t *testing.T) {
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: routeKeys(), QueueTimeout: time.Minute})
	for range 2 {
		if l := f.acquire(AcquireOptions{EstimatedInputTokens: 4000}); l.KeyID != "wide" {
			t.Fatalf("long prompt went to %s, want wide", l.KeyID)
		}
	}
	// wide has no request left; this one takes narrow's whole input bucket.
	big := f.acquire(AcquireOptions{EstimatedInputTokens: 2000})
	if big.KeyID != "narrow" {
		t.Fatalf("went to %s, want narrow", big.KeyID)
	}
	ctx := context.Background()
	head := f.acquireAsync(ctx, AcquireOptions{EstimatedInputTokens: 4000}, 1)
	short := f.acquireAsync(ctx, AcquireOptions{EstimatedInputTokens: 100}, 2)
	assertQueued(t, head)
	assertQueued(t, short)
	// narrow gets 1900 input tokens back: too few for the head, which
	// fits only wide anyway, enough for the short prompt behind it.
	f.p.Settle(&big, Usage{InputTokens: 100})
	r := f.await(short)
	if r.err != nil || r.l.KeyID != "narrow" {
		t.Fatalf("short prompt: %+v, want a lease on narrow", r)
	}
	assertQueued(t, head)
	// It is served once a group has room for it.
	f.clock.Advance(30 * time.Second)
	if r := f.await(head); r.err != nil {
		t.Fatalf("head: %v", r.err)
	}
}

func TestRouteQueueLookAheadIsLeastLoadedOnly(t *testing.T) {
	// The same queue under round-robin, which does not score groups by fit:
	// the short prompt keeps its place behind the head, as it always did.
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: routeKeys(), QueueTimeout: time.Minute,
		Strategy: StrategyRoundRobin})
	// Four prompts of 1000 input tokens spend narrow's input and wide's
	// two requests, whatever order round-robin takes them in.
	var narrow []Lease
	for range 4 {
		if l := f.acquire(AcquireOptions{EstimatedInputTokens: 1000}); l.KeyID == "narrow" {
			narrow = append(narrow, l)
		}
	}
	if len(narrow) != 2 {
		t.Fatalf("%d of 4 prompts on narrow, want 2", len(narrow))
	}
	ctx := context.Background()
	head := f.acquireAsync(ctx, AcquireOptions{EstimatedInputTokens: 4000}, 1)
	short := f.acquireAsync(ctx, AcquireOptions{EstimatedInputTokens: 100}, 2)
	assertQueued(t, head)
	assertQueued(t, short)
	// narrow gets 900 input tokens back: enough for the short prompt, not
	// for the head; under round-robin the short one does not pass it.
	f.p.Settle(&narrow[0], Usage{InputTokens: 100})
	assertQueued(t, head)
	assertQueued(t, short)
}

func TestRouteQueueHeadTakesAGroupThatDoesNotFitIfNoLaterRequestFits(t *testing.T) {
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: routeKeys(), QueueTimeout: time.Minute})
	for range 2 {
		f.acquire(AcquireOptions{EstimatedInputTokens: 4000})
	}
	big := f.acquire(AcquireOptions{EstimatedInputTokens: 2000})
	head := f.acquireAsync(context.Background(), AcquireOptions{EstimatedInputTokens: 4000}, 1)
	assertQueued(t, head)
	// narrow's whole bucket comes back: nobody else waits, so the head
	// takes it although it fits only wide (work-conserving).
	f.p.Settle(&big, Usage{})
	if r := f.await(head); r.err != nil || r.l.KeyID != "narrow" {
		t.Fatalf("head: %+v, want a lease on narrow", r)
	}
}

func TestRouteLearnsOutputPerInputSize(t *testing.T) {
	keys := []KeyConfig{
		{ID: "out-poor", APIKey: "sk-poor", RPMLimit: 1000, OTPMLimit: 20_000},
		{ID: "out-rich", APIKey: "sk-rich", RPMLimit: 10, OTPMLimit: 100_000},
	}
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys})
	// Prompts of about 1000 tokens answer at length, prompts of about 10
	// tokens briefly: the first cost out-poor 25% of its output a request,
	// out-rich 10% of its requests; the second 0.1% of out-poor's requests.
	for range 3 {
		l := f.acquire(AcquireOptions{EstimatedInputTokens: 1000})
		f.p.Settle(&l, Usage{InputTokens: 1000, OutputTokens: 5000})
		f.clock.Advance(10 * time.Second)
		l = f.acquire(AcquireOptions{EstimatedInputTokens: 10})
		f.p.Settle(&l, Usage{InputTokens: 10, OutputTokens: 5})
		f.clock.Advance(10 * time.Second)
	}
	f.clock.Advance(5 * time.Minute) // every bucket full again
	// Several in a row, held: least-loaded alone would alternate.
	for _, c := range []struct {
		est  int64
		want string
	}{{1000, "out-rich"}, {10, "out-poor"}} {
		var held [3]Lease
		for i := range held {
			held[i] = f.acquire(AcquireOptions{EstimatedInputTokens: c.est})
			if held[i].KeyID != c.want {
				t.Fatalf("prompt %d of %d tokens went to %s, want %s", i, c.est, held[i].KeyID, c.want)
			}
		}
		for i := range held {
			f.p.Settle(&held[i], Usage{InputTokens: c.est})
		}
	}
}

func TestRouteHoldsEachRequestsOwnOutput(t *testing.T) {
	keys := keyCfgs(1)
	keys[0].OTPMLimit = 10_000
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys})
	// Prompts of about 1000 tokens answered with 5000 tokens once, prompts
	// of 10 tokens with 100, nine times: the limiter's own average is
	// about 2000 now, with 4100 output tokens left.
	l := f.acquire(AcquireOptions{EstimatedInputTokens: 1000})
	f.p.Settle(&l, Usage{InputTokens: 1000, OutputTokens: 5000})
	for range 9 {
		l = f.acquire(AcquireOptions{EstimatedInputTokens: 10})
		f.p.Settle(&l, Usage{InputTokens: 10, OutputTokens: 100})
	}
	if ks := f.stats("k0"); ks.OTPMRemaining != 4100 {
		t.Fatalf("stats %+v, want 4100 output tokens left", ks)
	}
	// A long prompt needs room for its own 5000, not the average: it waits
	// for 900 more, 5.4 s at 10,000/min. A short one goes at once.
	if ee := f.exhausted(AcquireOptions{EstimatedInputTokens: 1000}); ee.RetryAfter != 5400*time.Millisecond {
		t.Fatalf("RetryAfter %v, want 5.4s (4100 -> 5000 at 10,000/min)", ee.RetryAfter)
	}
	short := f.acquire(AcquireOptions{EstimatedInputTokens: 10})
	f.p.Settle(&short, Usage{InputTokens: 10, OutputTokens: 100})
}

func TestBandOf(t *testing.T) {
	for _, c := range []struct {
		est  int64
		band uint8
	}{
		{0, 0}, {-5, 0}, {1, 4}, {2, 8}, {3, 8}, {4, 12}, {7, 15},
		{200, 8*4 + 2}, {300, 9*4 + 0}, {2000, 11*4 + 3}, {4000, 12*4 + 3}, {1 << 62, 63*4 + 0},
	} {
		if got := bandOf(c.est); got != c.band {
			t.Errorf("bandOf(%d) = %d, want %d", c.est, got, c.band)
		}
	}
	var o outputBands
	if o.expect(bandOf(100)) != 0 {
		t.Fatal("nothing learned yet, want 0")
	}
	o.learn(bandOf(100), 50)
	o.learn(bandOf(100), 0) // a failed request teaches nothing
	if got := o.expect(bandOf(100)); got != 50 {
		t.Fatalf("learned %v, want 50", got)
	}
	if got := o.expect(bandOf(5000)); got != 50 {
		t.Fatalf("unseen band expects %v, want the overall 50", got)
	}
}

func TestRouteUsesLimitsLearnedFromHeaders(t *testing.T) {
	keys := keyCfgs(2) // k0 first: least-loaded alone would try it first
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys})
	for id, h := range map[string]map[string][]string{
		"k0": hdr("anthropic-ratelimit-requests-limit", "100", "anthropic-ratelimit-input-tokens-limit", "2000"),
		"k1": hdr("anthropic-ratelimit-requests-limit", "2", "anthropic-ratelimit-input-tokens-limit", "100000"),
	} {
		if err := f.p.UpdateKeyFromHeaders(id, h); err != nil {
			t.Fatal(err)
		}
	}
	if l := f.acquire(AcquireOptions{EstimatedInputTokens: 4000}); l.KeyID != "k1" {
		t.Fatalf("long prompt went to %s, want k1 (input to spare)", l.KeyID)
	}
	// The provider raises k1's request limit: short prompts cost it less
	// than k0's input now (once a second of the faster refill passed).
	if err := f.p.UpdateKeyFromHeaders("k1", hdr("anthropic-ratelimit-requests-limit", "10000")); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Second)
	for i := range 3 {
		if l := f.acquire(AcquireOptions{EstimatedInputTokens: 100}); l.KeyID != "k1" {
			t.Fatalf("short prompt %d went to %s, want k1", i, l.KeyID)
		}
	}
}

func TestRouteChoiceDoesNotAllocate(t *testing.T) {
	keys := routeKeys()
	for i := range keys {
		keys[i].RPMLimit, keys[i].ITPMLimit = keys[i].RPMLimit*1e9, keys[i].ITPMLimit*1e9
	}
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys})
	ctx := context.Background()
	est := int64(100)
	if n := testing.AllocsPerRun(200, func() {
		l, err := f.p.Acquire(ctx, AcquireOptions{EstimatedInputTokens: est})
		if err != nil {
			t.Fatal(err)
		}
		f.p.Settle(&l, Usage{InputTokens: est, OutputTokens: 10})
		est = 4100 - est // short and long prompts in turn
	}); n != 0 {
		t.Fatalf("%v allocations per scored Acquire and Settle, want 0", n)
	}
}
