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
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/provider"
)

// queueN pushes n waiters of cq.
func queueN(q *fairQueue, cq *clientQueue, n int) {
	for range n {
		q.push(&waiter{opts: &AcquireOptions{}, cq: cq})
	}
}

// serveN takes n grants in fair order and counts them by client.
func serveN(t *testing.T, q *fairQueue, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		w := q.peek()
		if w == nil {
			t.Fatalf("nobody to serve after %v", got)
		}
		got[w.cq.name]++
		q.served(w)
	}
	return got
}

// TestFairQueueWeightedShares: two saturating clients share grants in
// proportion to their weights, over any whole number of rounds.
func TestFairQueueWeightedShares(t *testing.T) {
	var q fairQueue
	q.configure([]ClientConfig{{Name: "a", Weight: 3}, {Name: "b"}, {Name: "c", Weight: 2}}, 1000)
	queueN(&q, q.client("a"), 300)
	queueN(&q, q.client("b"), 300)
	queueN(&q, q.client("c"), 300)
	got := serveN(t, &q, 600) // 100 rounds of 3+1+2
	if got["a"] != 300 || got["b"] != 100 || got["c"] != 200 {
		t.Fatalf("grants %v, want a 300, b 100, c 200", got)
	}
}

// TestFairQueueWorkConserving: a client alone gets every grant, whatever
// its weight and however many idle clients are configured; and when the
// others go idle their share passes to the one still waiting.
func TestFairQueueWorkConserving(t *testing.T) {
	var q fairQueue
	q.configure([]ClientConfig{{Name: "a"}, {Name: "b", Weight: 10}, {Name: "c", Weight: 10}}, 1000)
	queueN(&q, q.client("a"), 50)
	queueN(&q, q.client("b"), 5)
	got := serveN(t, &q, 55)
	if got["a"] != 50 || got["b"] != 5 {
		t.Fatalf("grants %v, want all 55 served", got)
	}
	if q.peek() != nil || q.n != 0 || len(q.ring) != 0 {
		t.Fatalf("queue not empty: n %d ring %d", q.n, len(q.ring))
	}
}

// TestFairQueueNoStarvation: a client that queues one request behind
// another client's thousand is served within one turn of the other.
func TestFairQueueNoStarvation(t *testing.T) {
	var q fairQueue
	q.configure([]ClientConfig{{Name: "greedy", Weight: 4}, {Name: "polite"}}, 2000)
	greedy, polite := q.client("greedy"), q.client("polite")
	queueN(&q, greedy, 1000)
	serveN(t, &q, 1) // greedy is in its turn
	for round := range 20 {
		queueN(&q, polite, 1)
		for i := 0; ; i++ {
			if i > 4 {
				t.Fatalf("round %d: polite not served within greedy's turn of 4", round)
			}
			w := q.peek()
			q.served(w)
			if w.cq == polite {
				break
			}
		}
	}
}

// TestFairQueueRemoveKeepsOrder: a client leaving the rotation (its last
// waiter gave up) neither skips the next client's turn nor gives it two,
// and the clients it interrupted get their turns back once each.
func TestFairQueueRemoveKeepsOrder(t *testing.T) {
	var q fairQueue
	q.configure([]ClientConfig{{Name: "a"}, {Name: "b"}, {Name: "c"}}, 100)
	a, b, c := q.client("a"), q.client("b"), q.client("c")
	queueN(&q, a, 3)
	queueN(&q, b, 3) // a newcomer goes first: ring b, a
	queueN(&q, c, 3) // ring c, b, a
	if w := q.peek(); w.cq != c {
		t.Fatalf("first turn %s, want the last newcomer c", w.cq.name)
	}
	for c.n > 0 { // c gives up while it holds the turn
		q.remove(c.head)
	}
	var order []string
	for range 6 {
		w := q.peek()
		order = append(order, w.cq.name)
		q.served(w)
	}
	if fmt.Sprint(order) != "[b a b a b a]" {
		t.Fatalf("order %v", order)
	}
}

// TestFairQueueBoundedMemory: each client holds at most its weight's share
// of the pool's MaxWaiters; names the pool does not know leave no state.
func TestFairQueueBoundedMemory(t *testing.T) {
	var q fairQueue
	q.configure([]ClientConfig{{Name: "a", Weight: 3}, {Name: "b"}, {Name: "c", MaxWaiters: 2}}, 100)
	a, b, c := q.client("a"), q.client("b"), q.client("c")
	for _, tc := range []struct {
		cq   *clientQueue
		want int
	}{{a, 60}, {b, 20}, {c, 2}} { // a: 100*3/5, b: 100*1/5
		n := 0
		for !q.full(tc.cq) {
			q.push(&waiter{opts: &AcquireOptions{}, cq: tc.cq})
			n++
		}
		if n != tc.want {
			t.Fatalf("client %s queued %d, want %d", tc.cq.name, n, tc.want)
		}
	}
	for i := range 1000 {
		cq := q.client(fmt.Sprint("stranger-", i))
		q.drop(cq)
	}
	if len(q.clients) != 3 {
		t.Fatalf("%d client queues kept, want the 3 configured", len(q.clients))
	}
}

// TestAcquireServesClientsFairly: through the pool, 9 grants of returning
// capacity go 6:3 to clients of weights 2 and 1, although the heavier
// client's 20 requests all queued first; the rest wait on.
func TestAcquireServesClientsFairly(t *testing.T) {
	keys := keyCfgs(1)
	keys[0].RPMLimit = 60
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys, QueueTimeout: time.Hour,
		Clients: []ClientConfig{{Name: "a", Weight: 2}, {Name: "b"}}})
	for range 60 {
		f.get()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	results := make(chan string, 40)
	armed := 0
	for _, name := range []string{"a", "b"} {
		for range 20 {
			armed++
			ch := f.acquireAsync(ctx, AcquireOptions{Client: name}, armed)
			go func() {
				if r := <-ch; r.err == nil {
					results <- name
				}
			}()
		}
	}
	f.clock.Advance(9500 * time.Millisecond) // 9 requests' worth
	got := map[string]int{}
	for range 9 {
		select {
		case n := <-results:
			got[n]++
		case <-time.After(5 * time.Second):
			t.Fatalf("only %v served", got)
		}
	}
	if got["a"] != 6 || got["b"] != 3 {
		t.Fatalf("grants %v, want a 6, b 3", got)
	}
	select {
	case n := <-results:
		t.Fatalf("a 10th request (%s) was served without capacity", n)
	case <-time.After(50 * time.Millisecond):
	}
}

// TestAcquireClientCapLeavesRoomForOthers: a client at its cap is refused
// at once with ErrQueueFull; another client still queues.
func TestAcquireClientCapLeavesRoomForOthers(t *testing.T) {
	keys := keyCfgs(1)
	keys[0].RPMLimit = 1
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys, QueueTimeout: time.Hour, MaxWaiters: 4,
		Clients: []ClientConfig{{Name: "greedy"}, {Name: "polite"}}})
	f.get()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g1 := f.acquireAsync(ctx, AcquireOptions{Client: "greedy"}, 1)
	g2 := f.acquireAsync(ctx, AcquireOptions{Client: "greedy"}, 2)
	_, err := f.p.Acquire(ctx, AcquireOptions{Client: "greedy"})
	var ee *ExhaustedError
	if !errors.Is(err, ErrQueueFull) || !errors.As(err, &ee) {
		t.Fatalf("greedy's third: %v, want ErrQueueFull", err)
	}
	// Its advice covers its own two ahead: later than the refill (60s)
	// alone would say only if the grant rate is known; never sooner.
	if ee.RetryAfter < 59*time.Second {
		t.Fatalf("greedy told to retry after %v, before capacity returns", ee.RetryAfter)
	}
	ch := f.acquireAsync(ctx, AcquireOptions{Client: "polite"}, 3)
	// Polite had nothing waiting: the first refill is its, then greedy's.
	f.clock.Advance(time.Minute)
	if r := f.await(ch); r.err != nil {
		t.Fatalf("polite: %v", r.err)
	}
	assertQueued(t, g1)
	f.awaitTimers(2)
	f.clock.Advance(time.Minute)
	if r := f.await(g1); r.err != nil {
		t.Fatalf("greedy's first: %v", r.err)
	}
	assertQueued(t, g2)
}

// TestBlockedTurnHoldsTheQueue: a long request whose turn it is but whose
// input tokens have not refilled is not passed by another client's short
// request that would fit: it is served first once its tokens refill.
func TestBlockedTurnHoldsTheQueue(t *testing.T) {
	keys := keyCfgs(1)
	keys[0].ITPMLimit = 6000 // 100 a second
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys, QueueTimeout: time.Hour,
		Clients: []ClientConfig{{Name: "long"}, {Name: "short"}}})
	held := f.acquire(AcquireOptions{EstimatedInputTokens: 6000})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	long := f.acquireAsync(ctx, AcquireOptions{Client: "long", EstimatedInputTokens: 5000}, 1)
	short1 := f.acquireAsync(ctx, AcquireOptions{Client: "short", EstimatedInputTokens: 10}, 2)
	short2 := f.acquireAsync(ctx, AcquireOptions{Client: "short", EstimatedInputTokens: 10}, 3)
	// Room for the short ones, not for the long one. The short client
	// joined last, so its turn is first (one request); then the long one's
	// turn holds the queue.
	f.p.Settle(&held, Usage{InputTokens: 5000})
	if r := f.await(short1); r.err != nil {
		t.Fatalf("short: %v", r.err)
	}
	assertQueued(t, long)
	assertQueued(t, short2)
	f.awaitTimers(2)
	f.clock.Advance(50 * time.Second)
	if r := f.await(long); r.err != nil {
		t.Fatalf("long: %v", r.err)
	}
	if r := f.await(short2); r.err != nil {
		t.Fatalf("short: %v", r.err)
	}
}

// TestFairQueueFrontOncePerRotation: a client that keeps emptying its queue
// goes to the front once, then joins behind the current turn until a
// rotation has passed, so it cannot keep a waiting turn from being served.
func TestFairQueueFrontOncePerRotation(t *testing.T) {
	var q fairQueue
	q.configure([]ClientConfig{{Name: "long"}, {Name: "eager"}}, 100)
	long, eager := q.client("long"), q.client("eager")
	queueN(&q, long, 2)
	queueN(&q, eager, 1)
	if w := q.peek(); w.cq != eager {
		t.Fatalf("first %s, want eager at the front", w.cq.name)
	}
	q.served(q.peek())
	// long's turn now waits for capacity (nothing served); eager comes back.
	if w := q.peek(); w.cq != long {
		t.Fatalf("turn %s, want long", w.cq.name)
	}
	queueN(&q, eager, 1)
	if w := q.peek(); w.cq != long {
		t.Fatalf("eager jumped ahead again: turn %s", w.cq.name)
	}
	q.served(q.peek()) // long served: turns move on
	if w := q.peek(); w.cq != eager {
		t.Fatalf("turn %s, want eager next", w.cq.name)
	}
}

// TestAcquireFastPathDoesNotAllocate: while nobody waits, the fair queue
// costs the request nothing.
func TestAcquireFastPathDoesNotAllocate(t *testing.T) {
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keyCfgs(3), QueueTimeout: time.Minute,
		Clients: []ClientConfig{{Name: "a"}}})
	opts := AcquireOptions{EstimatedInputTokens: 100, Client: "a"}
	if n := testing.AllocsPerRun(200, func() {
		l, err := f.p.Acquire(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		f.p.Settle(&l, Usage{InputTokens: 100})
	}); n != 0 {
		t.Fatalf("%v allocations per Acquire+Settle", n)
	}
}
