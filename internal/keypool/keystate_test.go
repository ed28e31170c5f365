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
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/provider"
)

func TestRateLimitedResponseCoolsDown(t *testing.T) {
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keyCfgs(2)})
	l := f.acquire(AcquireOptions{})
	f.p.ReportResponse(&l, 429, hdr("retry-after", "30"))
	f.p.Settle(&l, Usage{})
	ks := f.stats(l.KeyID)
	if ks.State != StateCoolingDown || !ks.CooldownUntil.Equal(t0.Add(30*time.Second)) || ks.LastError == "" {
		t.Fatalf("stats = %+v", ks)
	}
	tr, _ := f.rec.last(l.KeyID)
	if tr.From != StateAvailable || tr.To != StateCoolingDown || !strings.Contains(tr.Reason, "429") {
		t.Fatalf("transition = %+v", tr)
	}
	other := "k0"
	if l.KeyID == "k0" {
		other = "k1"
	}
	for range 5 {
		if id := f.get(); id != other {
			t.Fatalf("got %s while %s cools down", id, l.KeyID)
		}
	}
	// A 429 is not a health failure: the breaker does not count it.
	if k := f.p.byID[l.KeyID]; k.failures != 0 {
		t.Fatalf("failures = %d after a 429", k.failures)
	}
	// The cooldown expires.
	f.clock.Advance(30 * time.Second)
	if st := f.state(l.KeyID); st != StateAvailable {
		t.Fatalf("state after cooldown = %s", st)
	}
	if tr, _ := f.rec.last(l.KeyID); tr.To != StateAvailable || tr.Reason != "cooldown over" {
		t.Fatalf("transition = %+v", tr)
	}
	c := counts(f.sequence(10))
	if c["k0"] != 5 || c["k1"] != 5 {
		t.Fatalf("after cooldown %v", c)
	}
}

func TestRateLimitedWithoutRetryAfter(t *testing.T) {
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keyCfgs(1)})
	l := f.acquire(AcquireOptions{})
	f.p.ReportResponse(&l, 429, nil)
	f.p.Settle(&l, Usage{})
	if ks := f.stats("k0"); !ks.CooldownUntil.Equal(t0.Add(defaultRateLimitCooldown)) {
		t.Fatalf("cooldown until %v, want default", ks.CooldownUntil)
	}
	// With headers saying the requests are spent, the cooldown is their refill.
	keys := keyCfgs(1)
	f = newFixture(t, provider.Anthropic, PoolConfig{Keys: keys})
	l = f.acquire(AcquireOptions{})
	f.p.ReportResponse(&l, 429, hdr(
		"anthropic-ratelimit-requests-limit", "60",
		"anthropic-ratelimit-requests-remaining", "0",
	))
	f.p.Settle(&l, Usage{})
	if ks := f.stats("k0"); !ks.CooldownUntil.Equal(t0.Add(time.Second)) {
		t.Fatalf("cooldown until %v, want +1s", ks.CooldownUntil)
	}
}

func TestRateLimitCoolsTheWholeGroup(t *testing.T) {
	keys := keyCfgs(3)
	keys[0].LimitGroup, keys[1].LimitGroup = "org", "org"
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys})
	l := f.acquire(AcquireOptions{Exclude: []string{"k1", "k2"}})
	f.p.ReportResponse(&l, 429, hdr("retry-after", "5"))
	f.p.Settle(&l, Usage{})
	if f.state("k0") != StateCoolingDown || f.state("k1") != StateCoolingDown || f.state("k2") != StateAvailable {
		t.Fatalf("states %s %s %s", f.state("k0"), f.state("k1"), f.state("k2"))
	}
}

// TestRejectedOnlyWhenConfirmed: a 401 or 403 alone never retires a key (it
// may be about the request); a confirmed re-check does, until the value
// changes.
func TestRejectedOnlyWhenConfirmed(t *testing.T) {
	for _, status := range []int{401, 403} {
		f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keyCfgs(2)})
		l := f.acquire(AcquireOptions{Exclude: []string{"k1"}})
		f.p.ReportResponse(&l, status, nil)
		f.p.Settle(&l, Usage{})
		if st := f.state("k0"); st != StateAvailable {
			t.Fatalf("state after a bare %d = %s, want Available", status, st)
		}
		l = f.acquire(AcquireOptions{Exclude: []string{"k1"}})
		f.reject(&l)
		if st := f.state("k0"); st != StateRejected {
			t.Fatalf("state after a confirmed rejection = %s", st)
		}
		tr, _ := f.rec.last("k0")
		if tr.To != StateRejected || !strings.Contains(tr.Reason, "rejected by provider") {
			t.Fatalf("transition = %+v", tr)
		}
		f.clock.Advance(24 * time.Hour)
		if c := counts(f.sequence(5)); c["k0"] != 0 {
			t.Fatalf("rejected key used: %v", c)
		}
		if st := f.state("k0"); st != StateRejected {
			t.Fatalf("state a day later = %s", st)
		}
	}
}

// TestSuspectWhileChecking: a suspected key is out of use while one check
// runs; a valid verdict returns it at once, and the timeout returns it if no
// verdict comes.
func TestSuspectWhileChecking(t *testing.T) {
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keyCfgs(2)})
	l := f.acquire(AcquireOptions{Exclude: []string{"k1"}})
	if !f.p.Suspect(&l, time.Minute) {
		t.Fatal("first Suspect did not ask for a check")
	}
	l2 := l
	if f.p.Suspect(&l2, time.Minute) {
		t.Fatal("second Suspect started another check while one runs")
	}
	f.p.Settle(&l, Usage{})
	if c := counts(f.sequence(4)); c["k0"] != 0 {
		t.Fatalf("suspected key used during its check: %v", c)
	}
	f.p.Confirm("k0", "wrong-value", false)
	if st := f.state("k0"); st != StateCoolingDown {
		t.Fatalf("a verdict about another value changed the key: %s", st)
	}
	f.p.Confirm("k0", l.APIKey, true)
	if st := f.state("k0"); st != StateAvailable {
		t.Fatalf("state after a valid verdict = %s", st)
	}

	// No verdict: the cooldown ends by itself, and a later 401 may start a
	// new check.
	l = f.acquire(AcquireOptions{Exclude: []string{"k1"}})
	f.p.Suspect(&l, time.Minute)
	f.p.Settle(&l, Usage{})
	f.clock.Advance(time.Minute + time.Second)
	if st := f.state("k0"); st != StateAvailable {
		t.Fatalf("state after the check timed out = %s", st)
	}
}

func TestCircuitBreaker(t *testing.T) {
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keyCfgs(2)})
	fail := func(status int) {
		t.Helper()
		l := f.acquire(AcquireOptions{Exclude: []string{"k1"}})
		if status == 0 {
			f.p.ReportError(&l, syscall.ECONNREFUSED)
		} else {
			f.p.ReportResponse(&l, status, nil)
		}
		f.p.Settle(&l, Usage{})
	}
	fail(503)
	fail(0)
	if st := f.state("k0"); st != StateAvailable {
		t.Fatalf("state after 2 failures = %s", st)
	}
	// A success resets the count.
	l := f.acquire(AcquireOptions{Exclude: []string{"k1"}})
	f.p.ReportResponse(&l, 200, nil)
	f.p.Settle(&l, Usage{})
	fail(500)
	fail(502)
	if st := f.state("k0"); st != StateAvailable {
		t.Fatalf("state after success + 2 failures = %s", st)
	}
	// 429s and client errors do not count; context.Canceled is ignored.
	l = f.acquire(AcquireOptions{Exclude: []string{"k1"}})
	f.p.ReportError(&l, context.Canceled)
	f.p.Settle(&l, Usage{})
	fail(504)
	ks := f.stats("k0")
	if ks.State != StateCoolingDown || !ks.CooldownUntil.Equal(t0.Add(breakerBaseCooldown)) {
		t.Fatalf("after 3 failures: %+v", ks)
	}
	if tr, _ := f.rec.last("k0"); !strings.Contains(tr.Reason, "consecutive upstream failures") {
		t.Fatalf("reason %q", tr.Reason)
	}
	// Half-open after the cooldown: one more failure trips again, longer.
	f.clock.Advance(breakerBaseCooldown)
	fail(500)
	if ks := f.stats("k0"); ks.State != StateCoolingDown || ks.CooldownUntil.Sub(f.clock.Now()) != 2*breakerBaseCooldown {
		t.Fatalf("after a half-open failure: %+v", ks)
	}
	f.clock.Advance(2 * breakerBaseCooldown)
	l = f.acquire(AcquireOptions{Exclude: []string{"k1"}})
	f.p.ReportResponse(&l, 400, nil) // the key works; the request was bad
	f.p.Settle(&l, Usage{})
	fail(500)
	fail(500)
	if st := f.state("k0"); st != StateAvailable {
		t.Fatalf("breaker not reset by a success: %s", st)
	}
}

func TestErrorsNeverContainKeyValues(t *testing.T) {
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keyCfgs(1)})
	for range 3 {
		l := f.acquire(AcquireOptions{})
		f.p.ReportError(&l, errors.New("dial tcp: bad header sk-secret-0 in request"))
		f.p.Settle(&l, Usage{})
	}
	ks := f.stats("k0")
	if strings.Contains(ks.LastError, "sk-secret-0") || !strings.Contains(ks.LastError, "[redacted]") {
		t.Fatalf("LastError = %q", ks.LastError)
	}
	for _, tr := range f.rec.list() {
		if strings.Contains(tr.Reason, "sk-secret") {
			t.Fatalf("reason %q has a key value", tr.Reason)
		}
	}
}

func TestMarkKeyExhaustedAndUnknownKeys(t *testing.T) {
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keyCfgs(2)})
	if err := f.p.MarkKeyExhausted("nope", t0.Add(time.Minute)); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("err = %v", err)
	}
	if err := f.p.UpdateKeyFromHeaders("nope", http.Header{}); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("err = %v", err)
	}
	if err := f.p.MarkKeyExhausted("k1", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// A shorter mark does not shorten it; a past one does nothing.
	if err := f.p.MarkKeyExhausted("k1", t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := f.p.MarkKeyExhausted("k0", t0.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	st := f.p.GetStats()
	if st.AvailableKeys != 1 || st.ExhaustedKeys != 1 || st.Keys[1].State != StateCoolingDown ||
		!st.Keys[1].CooldownUntil.Equal(t0.Add(time.Minute)) {
		t.Fatalf("stats = %+v", st)
	}
	f.clock.Advance(time.Minute)
	if st := f.p.GetStats(); st.AvailableKeys != 2 {
		t.Fatalf("after expiry: %+v", st)
	}
}

func TestStatsAfterStateChanges(t *testing.T) {
	keys := keyCfgs(4)
	keys[0].RPMLimit, keys[0].ITPMLimit, keys[0].OTPMLimit = 2, 1000, 500
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys, Strategy: StrategyRoundRobin})
	// k0: spend its requests; k1: 429; k2: 401; k3 keeps a lease open.
	l0 := f.acquire(AcquireOptions{EstimatedInputTokens: 100})
	f.p.Settle(&l0, Usage{InputTokens: 100, OutputTokens: 50})
	l1 := f.acquire(AcquireOptions{})
	f.p.ReportResponse(&l1, 429, hdr("retry-after", "10"))
	f.p.Settle(&l1, Usage{})
	l2 := f.acquire(AcquireOptions{})
	f.reject(&l2)
	f.p.Settle(&l2, Usage{})
	l3 := f.acquire(AcquireOptions{})
	l4 := f.acquire(AcquireOptions{}) // holds the 50 output tokens k0's last request produced
	if l4.KeyID != "k0" {
		t.Fatalf("got %s, want k0", l4.KeyID)
	}
	st := f.p.GetStats()
	if st.TotalKeys != 4 || st.AvailableKeys != 1 || st.ExhaustedKeys != 3 || st.TotalRPM != 2 || st.RemainingRPM != 0 {
		t.Fatalf("pool stats = %+v", st)
	}
	k0 := st.Keys[0]
	if k0.State != StateRateLimited || k0.RPMLimit != 2 || k0.RPMRemaining != 0 || k0.ITPMRemaining != 900 ||
		k0.OTPMRemaining != 400 || k0.InFlight != 1 || k0.Acquired != 2 || !k0.ResetAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("k0 = %+v", k0)
	}
	if st.Keys[1].State != StateCoolingDown || st.Keys[2].State != StateRejected || st.Keys[2].LastError != "provider rejected the key, confirmed by a re-check" {
		t.Fatalf("k1, k2 = %+v %+v", st.Keys[1], st.Keys[2])
	}
	if k3 := st.Keys[3]; k3.State != StateAvailable || k3.InFlight != 1 || l3.KeyID != "k3" {
		t.Fatalf("k3 = %+v", k3)
	}
	f.p.Settle(&l3, Usage{})
	f.p.Settle(&l3, Usage{}) // a second Settle is a no-op
	if ks := f.stats("k3"); ks.InFlight != 0 {
		t.Fatalf("in flight after settle: %d", ks.InFlight)
	}
	// k0 refills: RateLimited -> Available is reported.
	f.clock.Advance(30 * time.Second)
	if st := f.state("k0"); st != StateAvailable {
		t.Fatalf("k0 after refill: %s", st)
	}
	if tr, _ := f.rec.last("k0"); tr.From != StateRateLimited || tr.To != StateAvailable {
		t.Fatalf("transition %+v", tr)
	}
}
