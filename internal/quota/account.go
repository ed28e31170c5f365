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

package quota

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
	"github.com/keypool-dev/keypool-operator/internal/usage"
)

// window is the span Stats report: the last minute, kept as buckets, so
// that it slides in steps of a bucket.
const (
	window     = time.Minute
	numBuckets = 6
	bucketSpan = window / numBuckets
)

// totals are a client's counts over some span.
type totals struct {
	requests         [NumOutcomes]int64
	input, output    int64
	cacheRead, write int64
}

func (t *totals) add(o *totals) {
	for i := range t.requests {
		t.requests[i] += o.requests[i]
	}
	t.input += o.input
	t.output += o.output
	t.cacheRead += o.cacheRead
	t.write += o.write
}

// account is one client's sliding window of usage and its quota state. Its
// own mutex keeps a client's bookkeeping off every lock another client
// takes.
type account struct {
	name     string
	hasQuota atomic.Bool // read without mu on every request
	mu       sync.Mutex
	buckets  [numBuckets]totals
	starts   [numBuckets]int64 // Unix ns at which each bucket's span began
	quota    state
	// outAvg is the output the client's answers reported, a moving
	// average over about outAvgWeight answers (see OutputEstimate).
	outAvg atomic.Int64
}

// outAvgWeight is how many answers the output average mostly reflects.
const outAvgWeight = 8

// outputEstimate is Clients.OutputEstimate for a's client.
func (a *account) outputEstimate(maxOutput int64) int64 {
	if maxOutput > 0 {
		return maxOutput
	}
	return a.outAvg.Load()
}

// state is the quota state of one account; the account's mu guards it.
type state struct {
	limits     Limits
	lim        *ratelimit.Local // nil without a per-minute quota
	day, month string           // current periods
	dayEnd     time.Time        // when day ends (month end likewise)
	monthEnd   time.Time
	daySpent   int64
	monthSpent int64
	// reserved is what the requests in flight (inFlight of them) reserved
	// against the budgets at admission and have not settled yet.
	reserved int64
	inFlight int
	// With a Store (budget.go): spend not yet added to it, whether a
	// round trip to it is in flight, and when it was last read.
	pending  int64
	syncing  bool
	syncedAt time.Time
}

// record adds one request at nowNs.
func (a *account) record(nowNs int64, o Outcome, t *usage.Tokens) {
	start := nowNs - nowNs%int64(bucketSpan)
	i := int(start/int64(bucketSpan)) % numBuckets
	a.mu.Lock()
	b := &a.buckets[i]
	if a.starts[i] != start {
		*b, a.starts[i] = totals{}, start
	}
	b.requests[o]++
	b.input += t.Input
	b.output += t.Output
	b.cacheRead += t.CacheRead
	b.write += t.CacheCreation
	if o == OutcomeServed && t.Output > 0 {
		avg := a.outAvg.Load()
		if avg == 0 {
			avg = t.Output
		}
		a.outAvg.Store(avg + (t.Output-avg)/outAvgWeight)
	}
	a.mu.Unlock()
}

// window sums the buckets that began within the last window.
func (a *account) window(nowNs int64) totals {
	var t totals
	oldest := nowNs - nowNs%int64(bucketSpan) - int64(window-bucketSpan)
	a.mu.Lock()
	for i := range a.buckets {
		if a.starts[i] >= oldest && a.starts[i] <= nowNs {
			t.add(&a.buckets[i])
		}
	}
	a.mu.Unlock()
	return t
}

// setLimits installs q, keeping what was spent. seed is what a previous
// process spent, taken only by an account that has not counted yet.
func (a *account) setLimits(now time.Time, q Limits, seed *Spent, fresh bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := &a.quota
	s.limits = q
	switch {
	case q.perMinute() == ratelimit.Amounts{}:
		s.lim = nil
	case s.lim == nil:
		s.lim, _ = ratelimit.NewLocal(now, q.perMinute()) // validated limits cannot fail
	default:
		s.lim.SetLimits(now, q.perMinute())
	}
	s.roll(now)
	if fresh && seed != nil {
		if seed.Day == s.day {
			s.daySpent = max(s.daySpent, seed.DayTokens)
		}
		if seed.Month == s.month {
			s.monthSpent = max(s.monthSpent, seed.MonthTokens)
		}
	}
	a.hasQuota.Store(q.any())
}

// roll starts new budget periods when now is past the current ones.
func (s *state) roll(now time.Time) {
	u := now.UTC()
	if !u.Before(s.dayEnd) {
		start := time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC)
		s.day, s.dayEnd, s.daySpent = start.Format(dayLayout), start.AddDate(0, 0, 1), 0
	}
	if !u.Before(s.monthEnd) {
		start := time.Date(u.Year(), u.Month(), 1, 0, 0, 0, 0, time.UTC)
		s.month, s.monthEnd, s.monthSpent = start.Format(monthLayout), start.AddDate(0, 1, 0), 0
	}
}

// spent is what the account spent in the current periods; nil without a
// budget.
func (a *account) spent(now time.Time) *Spent {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := &a.quota
	if !s.limits.budgeted() {
		return nil
	}
	s.roll(now)
	return &Spent{Day: s.day, DayTokens: s.daySpent, Month: s.month, MonthTokens: s.monthSpent}
}
