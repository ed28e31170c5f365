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
	"errors"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/clock"
	"github.com/keypool-dev/keypool-operator/internal/usage"
)

// t0 is 10:00 UTC on the first of a month.
var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

type fixture struct {
	c     *Clients
	clock *clock.Fake
}

// newFixture is a set of clients where "team" has quota q.
func newFixture(t *testing.T, q Limits, spent *Spent) *fixture {
	t.Helper()
	f := &fixture{clock: clock.NewFake(t0)}
	f.c = New(f.clock, nil)
	f.c.Configure([]Client{{Name: "team", Limits: q, Spent: spent}, {Name: "other"}})
	return f
}

// overQuota asserts that admitting one request of est input tokens fails
// on quota name, with a Retry-After within [lo, hi].
func overQuota(t *testing.T, f *fixture, est int64, name string, lo, hi time.Duration) {
	t.Helper()
	_, err := f.c.Admit("team", est, 0)
	var qe *Error
	if !errors.As(err, &qe) || qe.Quota != name || qe.Client != "team" {
		t.Fatalf("admit: %v, want over %s", err, name)
	}
	if qe.RetryAfter < lo || qe.RetryAfter > hi {
		t.Fatalf("%s: retry after %v, want %v..%v", name, qe.RetryAfter, lo, hi)
	}
}

func admit(t *testing.T, f *fixture, est int64, u usage.Tokens) {
	t.Helper()
	l, err := f.c.Admit("team", est, 0)
	if err != nil {
		t.Fatalf("admit: %v", err)
	}
	f.c.Settle(&l, u)
}

func TestQuotaRPM(t *testing.T) {
	f := newFixture(t, Limits{RPM: 2}, nil)
	admit(t, f, 0, usage.Tokens{})
	admit(t, f, 0, usage.Tokens{})
	overQuota(t, f, 0, NameRPM, 29*time.Second, 31*time.Second) // one request refills in 30s
	// Another client is not affected.
	if _, err := f.c.Admit("other", 0, 0); err != nil {
		t.Fatalf("other client: %v", err)
	}
	f.clock.Advance(30 * time.Second)
	admit(t, f, 0, usage.Tokens{})
}

func TestQuotaITPM(t *testing.T) {
	f := newFixture(t, Limits{ITPM: 6000}, nil)
	admit(t, f, 5000, usage.Tokens{Input: 6000}) // the estimate settled higher
	overQuota(t, f, 3000, NameITPM, 29*time.Second, 31*time.Second)
	f.clock.Advance(30 * time.Second)
	admit(t, f, 3000, usage.Tokens{Input: 3000})
}

func TestQuotaOTPM(t *testing.T) {
	f := newFixture(t, Limits{OTPM: 600}, nil)
	// 1200 output tokens put the bucket 600 in debt, and the next request is
	// expected to produce as much: it fits when the bucket is full again.
	admit(t, f, 0, usage.Tokens{Output: 1200})
	overQuota(t, f, 0, NameOTPM, 2*time.Minute-time.Second, 2*time.Minute+time.Second)
	f.clock.Advance(2 * time.Minute)
	admit(t, f, 0, usage.Tokens{})
}

// TestQuotaDailyBudgetRollsOverAtMidnightUTC: a spent day budget refuses
// until the next UTC day, then starts from zero.
func TestQuotaDailyBudgetRollsOverAtMidnightUTC(t *testing.T) {
	f := newFixture(t, Limits{DailyTokens: 1000}, nil) // t0 is 10:00 UTC
	admit(t, f, 0, usage.Tokens{Input: 300, CacheCreation: 100, Output: 500, CacheRead: 999})
	admit(t, f, 0, usage.Tokens{Output: 150}) // 1050: crossing is allowed once
	overQuota(t, f, 0, NameDailyTokens, 14*time.Hour, 14*time.Hour)
	f.clock.Advance(14*time.Hour - time.Second)
	overQuota(t, f, 0, NameDailyTokens, time.Second, time.Second)
	f.clock.Advance(time.Second)
	admit(t, f, 0, usage.Tokens{Output: 999})
	if b := f.c.Stats()[1].Budget; b == nil || b.Day != "2026-03-02" || b.DayTokens != 999 || b.MonthTokens != 2049 {
		t.Fatalf("budget %+v, want 999 spent on 2026-03-02, 2049 in the month", b)
	}
}

// TestQuotaMonthlyBudgetRollsOverOnTheFirst: the month budget holds across
// days and ends with the UTC month.
func TestQuotaMonthlyBudgetRollsOverOnTheFirst(t *testing.T) {
	f := newFixture(t, Limits{DailyTokens: 1000, MonthlyTokens: 2500}, nil)
	for range 3 {
		admit(t, f, 0, usage.Tokens{Output: 900})
		f.clock.Advance(24 * time.Hour)
	}
	// 2700 spent on March 1-3; now March 4, 10:00.
	monthLeft := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC).Sub(f.clock.Now())
	overQuota(t, f, 0, NameMonthlyTokens, monthLeft, monthLeft)
	f.clock.Advance(monthLeft)
	admit(t, f, 0, usage.Tokens{Output: 900})
}

// TestQuotaBudgetSeededFromAPreviousProcess: clients configured with what a
// previous process spent today refuse at once; a seed of another day is
// ignored; a second Configure does not apply a seed over what was counted.
func TestQuotaBudgetSeededFromAPreviousProcess(t *testing.T) {
	f := newFixture(t, Limits{DailyTokens: 1000}, &Spent{Day: "2026-03-01", DayTokens: 1000, Month: "2026-03", MonthTokens: 1000})
	overQuota(t, f, 0, NameDailyTokens, 14*time.Hour, 14*time.Hour)

	g := newFixture(t, Limits{DailyTokens: 1000}, &Spent{Day: "2026-02-28", DayTokens: 1000})
	admit(t, g, 0, usage.Tokens{Output: 10})
	g.c.Configure([]Client{{Name: "team", Limits: Limits{DailyTokens: 1000}, Spent: &Spent{Day: "2026-03-01", DayTokens: 0}}})
	if b := g.c.Stats()[0].Budget; b == nil || b.DayTokens != 10 {
		t.Fatalf("budget after Configure %+v, want the 10 counted", b)
	}
}

// TestAdmitWithoutQuotaDoesNotAllocate: the common case, a client without
// quotas, costs a map lookup.
func TestAdmitWithoutQuotaDoesNotAllocate(t *testing.T) {
	f := newFixture(t, Limits{}, nil)
	if n := testing.AllocsPerRun(100, func() {
		l, _ := f.c.Admit("team", 100, 0)
		f.c.Settle(&l, usage.Tokens{})
	}); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}
