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

package shared

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
	"github.com/keypool-dev/keypool-operator/internal/redistest"
)

// flushTimeout bounds how long a test waits for background sends.
const flushTimeout = 5 * time.Second

// testTimeout is the Redis call timeout of tests that are not about
// faults: generous, since -race on a busy machine is slow, and a timeout
// would turn the test into one of the fallback.
const testTimeout = time.Second

// newBackend connects one "replica" to srv.
func newBackend(t testing.TB, srv *redistest.Server, opts Options) *Backend {
	t.Helper()
	if opts.Timeout == 0 {
		opts.Timeout = testTimeout
	}
	c, err := NewClient(srv.URL(), "", opts.Timeout)
	if err != nil {
		t.Fatal(err)
	}
	b := NewBackend(c, opts)
	t.Cleanup(func() {
		b.Close()
		_ = c.Close()
	})
	if b.Degraded() {
		t.Fatal("backend degraded at start")
	}
	return b
}

func newShared(t testing.TB, b *Backend, name string, limits ratelimit.Amounts) *Limiter {
	t.Helper()
	s, err := b.NewLimiter(name, time.Now(), limits)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func flush(t testing.TB, bs ...*Backend) {
	t.Helper()
	for _, b := range bs {
		if !b.Flush(flushTimeout) {
			t.Fatal("background sends did not finish")
		}
	}
}

func TestSharedLimitAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newBackend(t, srv, Options{}), newBackend(t, srv, Options{})
	la, lb := newShared(t, a, "k", ratelimit.Amounts{ratelimit.Requests: 10}), newShared(t, b, "k", ratelimit.Amounts{ratelimit.Requests: 10})
	now := time.Now()
	got := 0
	for i := range 20 {
		l := la
		if i%2 == 1 {
			l = lb
		}
		r, ok := l.Reserve(now, 0, ratelimit.LearnedOutput)
		if ok {
			got++
			if !r.Remote || r.Taken[ratelimit.Requests] != 1 {
				t.Fatalf("reservation %+v, want one request taken in Redis", r)
			}
		}
	}
	if got != 10 {
		t.Fatalf("two replicas admitted %d, want the shared limit 10", got)
	}
	if a.Degraded() || b.Degraded() {
		t.Fatal("degraded without a fault")
	}
	// The cached state says when capacity returns: one request per 6s.
	if o := la.Outlook(); o.ReadyAt.Before(now.Add(5*time.Second)) || o.ReadyAt.After(now.Add(7*time.Second)) {
		t.Fatalf("ReadyAt %v after now, want about 6s", o.ReadyAt.Sub(now))
	}
	if d, dim := lb.TimeToCapacity(now, 0, ratelimit.LearnedOutput); dim != ratelimit.Requests || d < 5*time.Second {
		t.Fatalf("TimeToCapacity = %v %v, want about 6s on requests", d, dim)
	}
}

func TestSharedUsesRedisClock(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newBackend(t, srv, Options{}), newBackend(t, srv, Options{})
	la, lb := newShared(t, a, "k", ratelimit.Amounts{ratelimit.Requests: 5}), newShared(t, b, "k", ratelimit.Amounts{ratelimit.Requests: 5})
	now := time.Now()
	if got := reserveShared(la, now, 5, 0); got != 5 {
		t.Fatalf("admitted %d of 5", got)
	}
	// A replica whose clock is an hour ahead finds the bucket as empty as
	// Redis's clock says, not refilled by its own.
	if got := reserveShared(lb, now.Add(time.Hour), 5, 0); got != 0 {
		t.Fatalf("a replica with a skewed clock admitted %d, want 0", got)
	}
	if a.Degraded() || b.Degraded() {
		t.Fatal("degraded without a fault")
	}
}

func reserveShared(l ratelimit.Limiter, now time.Time, n int, input int64) int {
	got := 0
	for range n {
		if _, ok := l.Reserve(now, input, ratelimit.LearnedOutput); ok {
			got++
		}
	}
	return got
}

func TestSharedSettleReturnsUnusedInput(t *testing.T) {
	srv := redistest.Start(t)
	b := newBackend(t, srv, Options{})
	l := newShared(t, b, "k", ratelimit.Amounts{ratelimit.InputTokens: 1000})
	now := time.Now()
	r, ok := l.Reserve(now, 800, ratelimit.LearnedOutput)
	if !ok || r.Taken[ratelimit.InputTokens] != 800 {
		t.Fatalf("reserve: %+v %v", r, ok)
	}
	if _, ok := l.Reserve(now, 800, ratelimit.LearnedOutput); ok {
		t.Fatal("second 800 fit in 200 left")
	}
	l.Settle(now, r, ratelimit.Usage{InputTokens: 100})
	flush(t, b)
	if _, ok := l.Reserve(now, 800, ratelimit.LearnedOutput); !ok {
		t.Fatal("the 700 returned by Settle did not come back")
	}
	// Excess is charged: the bucket goes into debt.
	r2, ok := l.Reserve(now, 0, ratelimit.LearnedOutput)
	if !ok {
		t.Fatal("a request without estimate needs one unit")
	}
	l.Settle(now, r2, ratelimit.Usage{InputTokens: 2000})
	flush(t, b)
	if rem := l.Snapshot(time.Now()).Dimensions[ratelimit.InputTokens].Remaining; rem != 0 {
		t.Fatalf("remaining after debt = %d, want 0", rem)
	}
}

func TestSharedLearnsOutputAndHoldsIt(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newBackend(t, srv, Options{}), newBackend(t, srv, Options{})
	la := newShared(t, a, "k", ratelimit.Amounts{ratelimit.OutputTokens: 1000})
	lb := newShared(t, b, "k", ratelimit.Amounts{ratelimit.OutputTokens: 1000})
	now := time.Now()
	r, ok := la.Reserve(now, 10, ratelimit.LearnedOutput)
	if !ok || r.Output != (ratelimit.Amounts{}) {
		t.Fatalf("first reservation %+v %v, want no output held yet", r, ok)
	}
	la.Settle(now, r, ratelimit.Usage{InputTokens: 10, OutputTokens: 300})
	flush(t, a)
	// The other replica expects 300 output tokens per request now.
	r, ok = lb.Reserve(now, 10, ratelimit.LearnedOutput)
	if !ok || r.Output[ratelimit.OutputTokens] != 300 || r.Taken[ratelimit.OutputTokens] != 300 {
		t.Fatalf("reservation %+v %v, want 300 output tokens held", r, ok)
	}
	// 1000 - 300 charged - 300 held = 400: one more fits, then not.
	if _, ok := lb.Reserve(now, 10, ratelimit.LearnedOutput); !ok {
		t.Fatal("second reservation refused with 400 left")
	}
	if _, ok := la.Reserve(now, 10, ratelimit.LearnedOutput); ok {
		t.Fatal("third reservation fit with 100 left, 300 expected")
	}
}

func TestSharedHoldsTheCallersExpectedOutput(t *testing.T) {
	srv := redistest.Start(t)
	b := newBackend(t, srv, Options{})
	l := newShared(t, b, "k", ratelimit.Amounts{ratelimit.OutputTokens: 1000})
	now := time.Now()
	r, _ := l.Reserve(now, 10, ratelimit.LearnedOutput)
	l.Settle(now, r, ratelimit.Usage{InputTokens: 10, OutputTokens: 100}) // average 100
	flush(t, b)
	r, ok := l.Reserve(now, 10, 700)
	if !ok || r.Output[ratelimit.OutputTokens] != 700 || r.Taken[ratelimit.OutputTokens] != 700 {
		t.Fatalf("reservation %+v %v, want 700 output tokens held", r, ok)
	}
	// 200 left: the cached state already says a second one cannot fit, and
	// Redis agrees; one of the average still fits.
	if l.MayReserve(now, 10, 700) {
		t.Fatal("MayReserve says 700 may fit with 200 left")
	}
	if _, ok := l.Reserve(now, 10, 700); ok {
		t.Fatal("reserved 700 output tokens with 200 left")
	}
	if _, ok := l.Reserve(now, 10, ratelimit.LearnedOutput); !ok {
		t.Fatal("a request of the average output (100) refused with 200 left")
	}
}

func TestSharedObserveIsShared(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newBackend(t, srv, Options{}), newBackend(t, srv, Options{})
	la, lb := newShared(t, a, "k", ratelimit.Amounts{}), newShared(t, b, "k", ratelimit.Amounts{})
	now := time.Now()
	if _, ok := lb.Reserve(now, 0, ratelimit.LearnedOutput); !ok { // b caches the state
		t.Fatal("unknown limits refused")
	}
	obs := ratelimit.NoObservations
	obs[ratelimit.Requests] = ratelimit.Observation{Limit: 50, Remaining: 3}
	la.Observe(now, obs)
	flush(t, a)
	if got := reserveShared(lb, now, 10, 0); got != 3 {
		t.Fatalf("admitted %d after the provider said 3 remain, want 3", got)
	}
	snap := lb.Snapshot(now)
	if d := snap.Dimensions[ratelimit.Requests]; d.Learned != 50 || d.Limit != 50 || d.Remaining != 0 {
		t.Fatalf("snapshot %+v, want the learned limit 50 and nothing left", d)
	}
}

func TestSharedCoolDownIsShared(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newBackend(t, srv, Options{}), newBackend(t, srv, Options{})
	la, lb := newShared(t, a, "k", ratelimit.Amounts{ratelimit.Requests: 100}), newShared(t, b, "k", ratelimit.Amounts{ratelimit.Requests: 100})
	now := time.Now()
	la.CoolDown(now, time.Minute)
	flush(t, a)
	if _, ok := lb.Reserve(now, 0, ratelimit.LearnedOutput); ok {
		t.Fatal("reserved on a limiter another replica cooled down")
	}
	if d, _ := lb.TimeToCapacity(now, 0, ratelimit.LearnedOutput); d < 55*time.Second {
		t.Fatalf("TimeToCapacity %v, want about the minute of cooldown", d)
	}
}

func TestSharedKeysAreHashTaggedAndExpire(t *testing.T) {
	srv := redistest.Start(t)
	b := newBackend(t, srv, Options{TTL: 5 * time.Minute})
	l := newShared(t, b, "ns/pool/key:secret/k1", ratelimit.Amounts{ratelimit.Requests: 10})
	if _, ok := l.Reserve(time.Now(), 0, ratelimit.LearnedOutput); !ok {
		t.Fatal("reserve failed")
	}
	c := srv.Client()
	keys, err := c.Keys(context.Background(), "*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys %v %v, want one", keys, err)
	}
	if want := "keypool:{ns/pool/key:secret/k1}"; keys[0] != want || !strings.Contains(keys[0], "{") {
		t.Fatalf("key %q, want %q", keys[0], want)
	}
	ttl, err := c.PTTL(context.Background(), keys[0]).Result()
	if err != nil || ttl <= 4*time.Minute || ttl > 5*time.Minute {
		t.Fatalf("TTL %v %v, want about 5m", ttl, err)
	}
}

func TestSharedFactoryScopes(t *testing.T) {
	srv := redistest.Start(t)
	b := newBackend(t, srv, Options{})
	f1, f2 := b.Factory("ns/a"), b.Factory("ns/b")
	now := time.Now()
	l1, err := f1("k", now, ratelimit.Amounts{ratelimit.Requests: 1})
	if err != nil {
		t.Fatal(err)
	}
	l2, _ := f2("k", now, ratelimit.Amounts{ratelimit.Requests: 1})
	if _, ok := l1.Reserve(now, 0, ratelimit.LearnedOutput); !ok {
		t.Fatal("first scope refused")
	}
	if _, ok := l2.Reserve(now, 0, ratelimit.LearnedOutput); !ok {
		t.Fatal("another scope shares the first one's state")
	}
	if _, err := f1("neg", now, ratelimit.Amounts{ratelimit.Requests: -1}); err == nil {
		t.Fatal("negative limit accepted")
	}
}

// Output a provider admits at the start (Anthropic, on max_tokens) is
// already missing from the remaining count it reports: Redis must not take
// it off again, nor return it from the output held by other requests.
func TestSharedAdmittedOutputIsNotHeldTwice(t *testing.T) {
	srv := redistest.Start(t)
	// A window of hours: the real clock refills nothing a test could see.
	b := newBackend(t, srv, Options{Window: 100 * time.Hour})
	l := newShared(t, b, "k", ratelimit.Amounts{ratelimit.OutputTokens: 1000})
	now := time.Now()
	if _, ok := l.Reserve(now, 0, 200); !ok { // charged when it ends: held
		t.Fatal("reserve failed")
	}
	admitted, ok := l.ReserveAdmitted(now, 0, 400)
	if !ok || !admitted.Admitted || admitted.Output[ratelimit.OutputTokens] != 400 {
		t.Fatalf("reservation %+v %v, want 400 admitted output tokens", admitted, ok)
	}
	observeOutput := func(remaining int64) {
		t.Helper()
		obs := ratelimit.NoObservations
		obs[ratelimit.OutputTokens] = ratelimit.Observation{Remaining: remaining}
		l.Observe(now, obs)
		flush(t, b)
	}
	// The provider took the admitted 400, not the held 200: 600 less 200
	// held leaves the 400 the pool has.
	observeOutput(600)
	if _, ok := l.ReserveAdmitted(now, 0, 400); !ok {
		t.Fatal("400 refused: the admitted output was taken off the reported 600 again")
	}
	// Settling the admitted request refunds its unused 300 (300 left) and
	// leaves the 200 held: a reported 400 caps the level at 200.
	l.Settle(now, admitted, ratelimit.Usage{OutputTokens: 100})
	flush(t, b)
	observeOutput(400)
	if _, ok := l.ReserveAdmitted(now, 0, 201); ok {
		t.Fatal("201 admitted with 200 left: settling returned output that was never held")
	}
	if _, ok := l.ReserveAdmitted(now, 0, 200); !ok {
		t.Fatal("200 refused with 200 left")
	}
}
