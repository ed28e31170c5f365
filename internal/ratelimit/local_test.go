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

package ratelimit

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func newLocal(t *testing.T, limits Amounts) *Local {
	t.Helper()
	l, err := NewLocal(t0, limits)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func remaining(l *Local, now time.Time, d Dimension) int64 {
	return l.Snapshot(now).Dimensions[d].Remaining
}

func reserveN(t *testing.T, l *Local, now time.Time, n int, input int64) int {
	t.Helper()
	got := 0
	for range n {
		if _, ok := l.Reserve(now, input, LearnedOutput); ok {
			got++
		}
	}
	return got
}

func TestNewLocalRejectsNegativeLimits(t *testing.T) {
	if _, err := NewLocal(t0, Amounts{Requests: -1}); err == nil {
		t.Fatal("want error for a negative limit")
	}
}

func TestUnknownLimitsAreUnlimited(t *testing.T) {
	l := newLocal(t, Amounts{})
	if got := reserveN(t, l, t0, 10000, 1000); got != 10000 {
		t.Fatalf("reserved %d of 10000", got)
	}
	if r := remaining(l, t0, Requests); r != -1 {
		t.Fatalf("remaining = %d, want -1 (unknown)", r)
	}
	if o := l.Outlook(); !o.FullAt.IsZero() || !o.ReadyAt.IsZero() {
		t.Fatalf("outlook = %+v, want zero", o)
	}
	if w, d := l.TimeToCapacity(t0, 1<<40, LearnedOutput); w != 0 || d != -1 {
		t.Fatalf("TimeToCapacity = %v %v", w, d)
	}
}

func TestRequestsLimitAndRefill(t *testing.T) {
	l := newLocal(t, Amounts{Requests: 10})
	if got := reserveN(t, l, t0, 20, 0); got != 10 {
		t.Fatalf("granted %d, want 10 on a frozen clock", got)
	}
	w, d := l.TimeToCapacity(t0, 0, LearnedOutput)
	if w != 6*time.Second || d != Requests {
		t.Fatalf("TimeToCapacity = %v %v, want 6s requests", w, d)
	}
	if o := l.Outlook(); !o.ReadyAt.Equal(t0.Add(6*time.Second)) || !o.FullAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("outlook = %+v", o)
	}
	if _, ok := l.Reserve(t0.Add(6*time.Second-time.Millisecond), 0, LearnedOutput); ok {
		t.Fatal("granted before the refill")
	}
	if got := reserveN(t, l, t0.Add(6*time.Second), 5, 0); got != 1 {
		t.Fatalf("granted %d after 6s, want 1", got)
	}
}

func TestObserveRemainingNeverRefills(t *testing.T) {
	l := newLocal(t, Amounts{Requests: 100})
	if !observe1(l, t0, Requests, Observation{Remaining: 10}) {
		t.Fatal("cap to 10 not reported as lowering")
	}
	if r := remaining(l, t0, Requests); r != 10 {
		t.Fatalf("remaining = %d, want 10", r)
	}
	// A later, higher remaining must not add capacity.
	if observe1(l, t0, Requests, Observation{Remaining: 50}) {
		t.Fatal("a higher remaining reported as lowering")
	}
	if r := remaining(l, t0, Requests); r != 10 {
		t.Fatalf("remaining = %d after remaining=50, want 10", r)
	}
	// The refill continues from the capped level: 100/min = 10 per 6s.
	if r := remaining(l, t0.Add(6*time.Second), Requests); r != 20 {
		t.Fatalf("remaining after 6s = %d, want 20", r)
	}
	if r := remaining(l, t0.Add(time.Hour), Requests); r != 100 {
		t.Fatalf("remaining after an hour = %d, want 100", r)
	}
}

func TestObserveLimitKeepsLevel(t *testing.T) {
	l := newLocal(t, Amounts{})
	// Learned together, as providers send them.
	observe1(l, t0, Requests, Observation{Limit: 100, Remaining: 10})
	if r := remaining(l, t0, Requests); r != 10 {
		t.Fatalf("remaining = %d, want 10", r)
	}
	// A higher limit changes the rate, not the level.
	observe1(l, t0, Requests, Observation{Limit: 200, Remaining: -1})
	if r := remaining(l, t0, Requests); r != 10 {
		t.Fatalf("remaining after limit 200 = %d, want 10 (no fresh bucket)", r)
	}
	if r := remaining(l, t0.Add(6*time.Second), Requests); r != 30 {
		t.Fatalf("remaining 6s later = %d, want 30 at 200/min", r)
	}
	// A lower limit caps the level.
	observe1(l, t0, Requests, Observation{Limit: 5, Remaining: -1})
	if r := remaining(l, t0, Requests); r != 5 {
		t.Fatalf("remaining after limit 5 = %d, want 5", r)
	}
}

func TestConfiguredAndLearnedTakeTheLower(t *testing.T) {
	l := newLocal(t, Amounts{Requests: 50})
	observe1(l, t0, Requests, Observation{Limit: 1000, Remaining: 990})
	s := l.Snapshot(t0).Dimensions[Requests]
	if s.Limit != 50 || s.Configured != 50 || s.Learned != 1000 || s.Remaining != 50 {
		t.Fatalf("state = %+v", s)
	}
	l.SetLimits(t0, Amounts{})
	if s := l.Snapshot(t0).Dimensions[Requests]; s.Limit != 1000 || s.Remaining != 50 {
		t.Fatalf("after dropping the configured limit: %+v, want limit 1000 at level 50", s)
	}
}

func TestLearningALimitCountsEarlierUse(t *testing.T) {
	l := newLocal(t, Amounts{})
	reserveN(t, l, t0, 30, 0)
	observe1(l, t0, Requests, Observation{Limit: 100, Remaining: -1})
	if r := remaining(l, t0, Requests); r != 70 {
		t.Fatalf("remaining = %d, want 70 (30 used while unknown)", r)
	}
	// Going back to unknown and learning again keeps what was used.
	l2 := newLocal(t, Amounts{Requests: 100})
	reserveN(t, l2, t0, 40, 0)
	l2.SetLimits(t0, Amounts{})
	l2.SetLimits(t0, Amounts{Requests: 100})
	if r := remaining(l2, t0, Requests); r != 60 {
		t.Fatalf("remaining = %d, want 60", r)
	}
}

func TestSettleInputTokens(t *testing.T) {
	l := newLocal(t, Amounts{InputTokens: 1000})
	r, ok := l.Reserve(t0, 600, LearnedOutput)
	if !ok || r.Taken[InputTokens] != 600 || r.Taken[Requests] != 0 {
		t.Fatalf("reserve = %+v %v", r, ok)
	}
	if remaining(l, t0, InputTokens) != 400 {
		t.Fatal("estimate not reserved")
	}
	if _, ok := l.Reserve(t0, 600, LearnedOutput); ok {
		t.Fatal("reserved 600 with 400 left")
	}
	l.Settle(t0, r, Usage{InputTokens: 100})
	if got := remaining(l, t0, InputTokens); got != 900 {
		t.Fatalf("after settling 100 of 600: remaining %d, want 900", got)
	}
	r, _ = l.Reserve(t0, 100, LearnedOutput)
	l.Settle(t0, r, Usage{InputTokens: 500})
	if got := remaining(l, t0, InputTokens); got != 400 {
		t.Fatalf("after settling 500 of 100: remaining %d, want 400", got)
	}
	// Zero usage returns the whole reservation.
	r, _ = l.Reserve(t0, 300, LearnedOutput)
	l.Settle(t0, r, Usage{})
	if got := remaining(l, t0, InputTokens); got != 400 {
		t.Fatalf("after a zero settle: remaining %d, want 400", got)
	}
}

func TestOutputTokensChargedAfter(t *testing.T) {
	l := newLocal(t, Amounts{OutputTokens: 100})
	r, ok := l.Reserve(t0, 0, LearnedOutput)
	if !ok {
		t.Fatal("reserve failed")
	}
	l.Settle(t0, r, Usage{OutputTokens: 150})
	if got := remaining(l, t0, OutputTokens); got != 0 {
		t.Fatalf("remaining = %d, want 0 (in debt)", got)
	}
	if _, ok := l.Reserve(t0, 0, LearnedOutput); ok {
		t.Fatal("reserved on an output bucket in debt")
	}
	// The next request is expected to produce 150 tokens like the last,
	// which the bucket holds at most 100 of: from -50 to a full bucket at
	// 100/min is 150 * 0.6s.
	w, d := l.TimeToCapacity(t0, 0, LearnedOutput)
	if w != 90*time.Second || d != OutputTokens {
		t.Fatalf("TimeToCapacity = %v %v, want 1m30s output", w, d)
	}
}

func TestTimeToCapacityTakesTheSlowestDimension(t *testing.T) {
	l := newLocal(t, Amounts{Requests: 60, InputTokens: 6000})
	r, _ := l.Reserve(t0, 0, LearnedOutput)
	l.Settle(t0, r, Usage{InputTokens: 6000})
	// requests: 59 left; input: 0 left, needs 2000 -> 20s.
	w, d := l.TimeToCapacity(t0, 2000, LearnedOutput)
	if w != 20*time.Second || d != InputTokens {
		t.Fatalf("TimeToCapacity = %v %v, want 20s input", w, d)
	}
	// A demand above the whole bucket waits for a full bucket only.
	w, _ = l.TimeToCapacity(t0, 1e9, LearnedOutput)
	if w != time.Minute {
		t.Fatalf("TimeToCapacity(huge) = %v, want 1m", w)
	}
}

func TestDemandLargerThanBucketFitsAFullBucket(t *testing.T) {
	l := newLocal(t, Amounts{InputTokens: 1000})
	if _, ok := l.Reserve(t0, 5000, LearnedOutput); !ok {
		t.Fatal("a full bucket must admit an oversized request")
	}
	if _, ok := l.Reserve(t0.Add(time.Minute), 1, LearnedOutput); ok {
		t.Fatal("4000 tokens of debt repaid in one minute")
	}
	if _, ok := l.Reserve(t0.Add(241*time.Second), 1, LearnedOutput); !ok {
		t.Fatal("debt not repaid after 4m1s")
	}
}

func TestAbsorbedInputIsNotSettledTwice(t *testing.T) {
	l := newLocal(t, Amounts{InputTokens: 10000})
	r, _ := l.Reserve(t0, 3000, LearnedOutput)
	// The provider has counted the real 5000 input: 5000 left, not 7000.
	if !observe1(l, t0, InputTokens, Observation{Remaining: 5000}) {
		t.Fatal("not lowered")
	}
	r.Absorbed |= 1 << InputTokens
	l.Settle(t0, r, Usage{InputTokens: 5000})
	if got := remaining(l, t0, InputTokens); got != 5000 {
		t.Fatalf("remaining = %d, want 5000 (the excess is in the provider's count already)", got)
	}
}

func TestObserveResetLowersForSlowRefill(t *testing.T) {
	l := newLocal(t, Amounts{Requests: 60})
	// Within the slack: nothing changes.
	observe1(l, t0, Requests, Observation{Remaining: -1, Reset: t0.Add(time.Second)})
	if got := remaining(l, t0, Requests); got != 60 {
		t.Fatalf("remaining = %d, want 60", got)
	}
	// Full only in 31s: at 1/s, at most 30 (31s - 1s slack) short of full.
	observe1(l, t0, Requests, Observation{Remaining: -1, Reset: t0.Add(31 * time.Second)})
	if got := remaining(l, t0, Requests); got != 30 {
		t.Fatalf("remaining = %d, want 30", got)
	}
	if s := l.Snapshot(t0).Dimensions[Requests]; !s.ResetAt.Equal(t0.Add(31 * time.Second)) {
		t.Fatalf("ResetAt = %v", s.ResetAt)
	}
	// A daily quota: nothing left for 10 minutes.
	observe1(l, t0, Requests, Observation{Remaining: 0, Reset: t0.Add(10*time.Minute + time.Second)})
	if w, _ := l.TimeToCapacity(t0, 0, LearnedOutput); w < 9*time.Minute {
		t.Fatalf("TimeToCapacity = %v, want about 9m", w)
	}
}

func TestCombinedTokens(t *testing.T) {
	l := newLocal(t, Amounts{})
	observe1(l, t0, Tokens, Observation{Limit: 1000, Remaining: 1000})
	r, ok := l.Reserve(t0, 300, LearnedOutput)
	if !ok || r.Taken[Tokens] != 300 || r.Taken[InputTokens] != 0 {
		t.Fatalf("reserve = %+v %v", r, ok)
	}
	l.Settle(t0, r, Usage{InputTokens: 300, OutputTokens: 200})
	if got := remaining(l, t0, Tokens); got != 500 {
		t.Fatalf("remaining = %d, want 500", got)
	}
}

func TestOutlookOrdersByRemainingShare(t *testing.T) {
	small := newLocal(t, Amounts{Requests: 10})
	big := newLocal(t, Amounts{Requests: 1000})
	reserveN(t, small, t0, 5, 0) // 50% left
	reserveN(t, big, t0, 100, 0) // 90% left
	if !big.Outlook().FullAt.Before(small.Outlook().FullAt) {
		t.Fatalf("big %v not before small %v", big.Outlook().FullAt, small.Outlook().FullAt)
	}
	// The order holds at a later instant without touching either.
	later := t0.Add(20 * time.Second)
	fs := float64(remaining(small, later, Requests)) / 10
	fb := float64(remaining(big, later, Requests)) / 1000
	if fb <= fs {
		t.Fatalf("shares at +20s: big %v small %v", fb, fs)
	}
}

func TestManyCreditsNeverOverfill(t *testing.T) {
	l := newLocal(t, Amounts{InputTokens: 100})
	for range 10000 {
		r, ok := l.Reserve(t0, 7, LearnedOutput)
		if !ok {
			t.Fatal("reserve failed")
		}
		l.Settle(t0, r, Usage{})
	}
	if got := remaining(l, t0, InputTokens); got != 100 {
		t.Fatalf("remaining = %d, want 100", got)
	}
	got := 0
	for {
		if _, ok := l.Reserve(t0, 1, LearnedOutput); !ok {
			break
		}
		got++
	}
	if got != 100 {
		t.Fatalf("granted %d units, want 100", got)
	}
}

func TestConcurrentReserveNeverOvergrants(t *testing.T) {
	l := newLocal(t, Amounts{Requests: 100, InputTokens: 100000})
	var granted atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				if r, ok := l.Reserve(t0, 10, LearnedOutput); ok {
					granted.Add(1)
					l.Settle(t0, r, Usage{InputTokens: 5, OutputTokens: 5})
				}
				observe1(l, t0, Requests, Observation{Limit: 100, Remaining: 100})
				l.Snapshot(t0)
			}
		})
	}
	wg.Wait()
	if g := granted.Load(); g != 100 {
		t.Fatalf("granted %d, want exactly 100 on a frozen clock", g)
	}
}

func TestDimensionString(t *testing.T) {
	if Requests.String() != "requests" || Tokens.String() != "tokens" || Dimension(9).String() != "unknown" {
		t.Fatal("bad names")
	}
}

// observe1 observes one dimension and reports whether its level was lowered.
func observe1(l *Local, now time.Time, d Dimension, o Observation) bool {
	obs := NoObservations
	obs[d] = o
	return l.Observe(now, obs)&(1<<d) != 0
}

func TestObserveAppliesAllDimensionsAtOnce(t *testing.T) {
	l := newLocal(t, Amounts{})
	obs := NoObservations
	obs[Requests] = Observation{Limit: 100, Remaining: 40}
	obs[InputTokens] = Observation{Limit: 1000, Remaining: 1000}
	obs[OutputTokens] = Observation{Limit: 500, Remaining: 100}
	if lowered := l.Observe(t0, obs); lowered != 1<<Requests|1<<OutputTokens {
		t.Fatalf("lowered = %b", lowered)
	}
	s := l.Snapshot(t0)
	if s.Dimensions[Requests].Remaining != 40 || s.Dimensions[InputTokens].Remaining != 1000 ||
		s.Dimensions[OutputTokens].Remaining != 100 || s.Dimensions[Tokens].Remaining != -1 {
		t.Fatalf("snapshot %+v", s)
	}
	if l.Observe(t0, NoObservations) != 0 {
		t.Fatal("nothing observed, something lowered")
	}
}

// A provider that admits output at the start (Anthropic, on max_tokens)
// already leaves an admitted request's output out of the remaining count it
// reports: the limiter must not take it off again.
func TestAdmittedOutputIsNotHeldTwice(t *testing.T) {
	l := newLocal(t, Amounts{OutputTokens: 1000})
	r, ok := l.ReserveAdmitted(t0, 0, 400)
	if !ok || r.Output[OutputTokens] != 400 {
		t.Fatalf("reservation %+v %v, want 400 output tokens taken", r, ok)
	}
	remainingReported := Observations{NoObservation, NoObservation, {Remaining: 600}, NoObservation}
	if lowered := l.Observe(t0, remainingReported); lowered != 0 {
		t.Fatalf("lowered %b: the reported 600 already excludes the admitted 400", lowered)
	}
	if got := remaining(l, t0, OutputTokens); got != 600 {
		t.Fatalf("remaining = %d, want 600", got)
	}
	// The provider refunds the unused 300 at the end, and so does Settle.
	l.Settle(t0, r, Usage{OutputTokens: 100})
	remainingReported[OutputTokens].Remaining = 900
	if lowered := l.Observe(t0, remainingReported); lowered != 0 || remaining(l, t0, OutputTokens) != 900 {
		t.Fatalf("after settling: lowered %b, remaining %d, want 0 and 900", lowered, remaining(l, t0, OutputTokens))
	}
	// Output held by a request the provider charges only when it ends is
	// still missing from its count: 800 reported less 400 held.
	if _, ok := l.Reserve(t0, 0, 400); !ok {
		t.Fatal("reserve failed")
	}
	remainingReported[OutputTokens].Remaining = 800
	if lowered := l.Observe(t0, remainingReported); lowered == 0 || remaining(l, t0, OutputTokens) != 400 {
		t.Fatalf("held output: lowered %b, remaining %d, want 400", lowered, remaining(l, t0, OutputTokens))
	}
}
