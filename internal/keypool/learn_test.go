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
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/provider"
)

func TestHeadersAdjustInPlaceAndNeverRefill(t *testing.T) {
	keys := keyCfgs(1)
	keys[0].RPMLimit = 100
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys})
	f.sequence(50) // 50 left locally
	h := hdr("anthropic-ratelimit-requests-limit", "100", "anthropic-ratelimit-requests-remaining", "10",
		"anthropic-ratelimit-requests-reset", "2026-03-01T10:00:54Z")
	if err := f.p.UpdateKeyFromHeaders("k0", h); err != nil {
		t.Fatal(err)
	}
	if r := f.stats("k0").RPMRemaining; r != 10 {
		t.Fatalf("remaining %d, want 10", r)
	}
	// The provider says more is left than we think: no refill.
	if err := f.p.UpdateKeyFromHeaders("k0", hdr("anthropic-ratelimit-requests-remaining", "90")); err != nil {
		t.Fatal(err)
	}
	if r := f.stats("k0").RPMRemaining; r != 10 {
		t.Fatalf("remaining %d after remaining=90, want 10", r)
	}
	// A higher limit speeds the refill up but grants nothing now.
	if err := f.p.UpdateKeyFromHeaders("k0", hdr("anthropic-ratelimit-requests-limit", "1000")); err != nil {
		t.Fatal(err)
	}
	if ks := f.stats("k0"); ks.RPMRemaining != 10 || ks.RPMLimit != 100 {
		t.Fatalf("configured 100 caps the learned 1000: %+v", ks)
	}
	if got := len(f.sequence(10)); got != 10 {
		t.Fatal(got)
	}
	// Only the exhaustion is asserted (the helper fails the test otherwise); the error is not needed.
	_ = f.exhausted(AcquireOptions{})
	// Refill continues from there: 100/min is 10 per 6s.
	f.clock.Advance(6 * time.Second)
	if got := f.stats("k0").RPMRemaining; got != 10 {
		t.Fatalf("remaining after 6s = %d", got)
	}
	// Absent and malformed values change nothing.
	if err := f.p.UpdateKeyFromHeaders("k0", hdr("anthropic-ratelimit-requests-remaining", "zero", "anthropic-ratelimit-requests-limit", "-1")); err != nil {
		t.Fatal(err)
	}
	if ks := f.stats("k0"); ks.RPMRemaining != 10 || ks.RPMLimit != 100 {
		t.Fatalf("after malformed headers %+v", ks)
	}
}

func TestLearnUnknownLimits(t *testing.T) {
	f := newFixture(t, provider.OpenAI, PoolConfig{Keys: keyCfgs(2)})
	if err := f.p.UpdateKeyFromHeaders("k0", hdr(
		"x-ratelimit-limit-requests", "60", "x-ratelimit-remaining-requests", "2", "x-ratelimit-reset-requests", "58s",
		"x-ratelimit-limit-tokens", "10000", "x-ratelimit-remaining-tokens", "5000", "x-ratelimit-reset-tokens", "30s",
	)); err != nil {
		t.Fatal(err)
	}
	ks := f.stats("k0")
	if ks.RPMLimit != 60 || ks.RPMRemaining != 2 || ks.TPMLimit != 10000 || ks.TPMRemaining != 5000 || ks.ITPMRemaining != -1 {
		t.Fatalf("stats %+v", ks)
	}
	// k1 knows no limits: least-loaded prefers it (share 100%).
	c := counts(f.sequence(10))
	if c["k1"] != 10 {
		t.Fatalf("counts %v", c)
	}
}

func TestReportResponseLearnsAndSettles(t *testing.T) {
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keyCfgs(1)})
	l := f.acquire(AcquireOptions{EstimatedInputTokens: 3000})
	h := hdr(
		"anthropic-ratelimit-input-tokens-limit", "30000", "anthropic-ratelimit-input-tokens-remaining", "25000",
		"anthropic-ratelimit-output-tokens-limit", "8000", "anthropic-ratelimit-output-tokens-remaining", "8000",
	)
	f.p.ReportResponse(&l, 200, h)
	// The provider's 25000 already counts the real input (5000): the
	// estimate's 2000 shortfall is not charged again.
	f.p.Settle(&l, Usage{InputTokens: 4000, CacheCreationInputTokens: 1000, CacheReadInputTokens: 9999, OutputTokens: 700})
	ks := f.stats("k0")
	if ks.ITPMRemaining != 25000 || ks.OTPMRemaining != 7300 {
		t.Fatalf("stats %+v", ks)
	}
}

func TestTokenSettlement(t *testing.T) {
	keys := keyCfgs(1)
	keys[0].ITPMLimit, keys[0].OTPMLimit = 10000, 1000
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys})
	l := f.acquire(AcquireOptions{EstimatedInputTokens: 8000})
	if ks := f.stats("k0"); ks.ITPMRemaining != 2000 {
		t.Fatalf("estimate not reserved: %+v", ks)
	}
	// A second large request does not fit while the first is in flight.
	// Only the exhaustion is asserted (the helper fails the test otherwise); the error is not needed.
	_ = f.exhausted(AcquireOptions{EstimatedInputTokens: 5000})
	f.p.Settle(&l, Usage{InputTokens: 3000, OutputTokens: 400})
	ks := f.stats("k0")
	if ks.ITPMRemaining != 7000 || ks.OTPMRemaining != 600 {
		t.Fatalf("after settle %+v", ks)
	}
	// Underestimates are charged in full.
	l = f.acquire(AcquireOptions{EstimatedInputTokens: 1000})
	f.p.Settle(&l, Usage{InputTokens: 4000})
	if ks := f.stats("k0"); ks.ITPMRemaining != 3000 {
		t.Fatalf("after an underestimate %+v", ks)
	}
	// A failed request (zero usage) returns the reservation.
	l = f.acquire(AcquireOptions{EstimatedInputTokens: 2000})
	f.p.Settle(&l, Usage{})
	if ks := f.stats("k0"); ks.ITPMRemaining != 3000 {
		t.Fatalf("after a zero settle %+v", ks)
	}
	// Output in debt makes the key RateLimited until it is repaid.
	l = f.acquire(AcquireOptions{})
	f.p.Settle(&l, Usage{OutputTokens: 1600})
	if ks := f.stats("k0"); ks.State != StateRateLimited || ks.OTPMRemaining != 0 {
		t.Fatalf("after output debt %+v", ks)
	}
	// The next prompt of its size is expected to produce what the last one
	// did, 1600 output tokens, held up front; more than the bucket holds,
	// so it needs a full bucket: -1000 -> 1000 at 1000/min.
	if ee := f.exhausted(AcquireOptions{}); ee.RetryAfter != 2*time.Minute {
		t.Fatalf("RetryAfter %v, want 2m (-1000 -> 1000 at 1000/min)", ee.RetryAfter)
	}
	// A prompt of the size that produced 400 expects 400 (the limiter's
	// own average would be 520): -1000 -> 400 at 1000/min.
	if ee := f.exhausted(AcquireOptions{EstimatedInputTokens: 8000}); ee.RetryAfter != 84*time.Second {
		t.Fatalf("RetryAfter %v, want 84s (-1000 -> 400 at 1000/min)", ee.RetryAfter)
	}
}

// TestLeaseEstimated: a lease carries the request's input estimate and the
// output learned for prompts of its size when it was granted (the band's
// own, else the pool's average over every band, else 0).
func TestLeaseEstimated(t *testing.T) {
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keyCfgs(1)})
	l := f.acquire(AcquireOptions{EstimatedInputTokens: 8000})
	if got := l.Estimated(); got != (Usage{InputTokens: 8000}) {
		t.Fatalf("before any usage: %+v, want input 8000 and no output", got)
	}
	f.p.Settle(&l, Usage{InputTokens: 7000, OutputTokens: 400})
	l = f.acquire(AcquireOptions{EstimatedInputTokens: 8000})
	if got := l.Estimated(); got != (Usage{InputTokens: 8000, OutputTokens: 400}) {
		t.Fatalf("same size: %+v, want 8000 and the 400 learned", got)
	}
	f.p.Settle(&l, Usage{InputTokens: 7000, OutputTokens: 400})
	l = f.acquire(AcquireOptions{EstimatedInputTokens: 10})
	if got := l.Estimated(); got != (Usage{InputTokens: 10, OutputTokens: 400}) {
		t.Fatalf("a size not seen: %+v, want 10 and the pool's average, 400", got)
	}
	f.p.Settle(&l, Usage{})
}
