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
	"fmt"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
)

// Quota is one client's optional limits; 0 means none.
type Quota struct {
	// RPM, ITPM and OTPM are requests, input tokens and output tokens per
	// minute, enforced as buckets refilling over a minute like a key's.
	RPM, ITPM, OTPM int64
	// DailyTokens and MonthlyTokens are budgets of tokens (input, cache
	// writes and output, as the provider reports them) per UTC calendar
	// day and month.
	DailyTokens, MonthlyTokens int64
}

func (q *Quota) perMinute() ratelimit.Amounts {
	return ratelimit.Amounts{ratelimit.Requests: q.RPM, ratelimit.InputTokens: q.ITPM, ratelimit.OutputTokens: q.OTPM}
}

func (q *Quota) any() bool { return *q != Quota{} }

// Quota names, as in the KeyPool spec (spec.clients[].quota.<name>).
const (
	QuotaRPM           = "rpm"
	QuotaITPM          = "itpm"
	QuotaOTPM          = "otpm"
	QuotaDailyTokens   = "dailyTokens"
	QuotaMonthlyTokens = "monthlyTokens"
)

// BudgetSpent is what a client spent of its token budgets in the periods
// named, so that a restarted process carries on from it.
type BudgetSpent struct {
	Day         string // UTC day, "2006-01-02"
	DayTokens   int64
	Month       string // UTC month, "2006-01"
	MonthTokens int64
}

const (
	dayLayout   = "2006-01-02"
	monthLayout = "2006-01"
)

// QuotaError says which quota of which client a request is over, and when
// the client may retry.
type QuotaError struct {
	Client     string
	Quota      string // one of the Quota* names
	Limit      int64
	RetryAfter time.Duration // > 0
}

// Error implements error.
func (e *QuotaError) Error() string {
	return fmt.Sprintf("client %s is over its %s quota of %d; retry after %s", e.Client, e.Quota, e.Limit, e.RetryAfter)
}

// ClientLease is a request's hold on its client's quota, settled with what
// it used by SettleClient. The zero value holds nothing.
type ClientLease struct {
	a   *clientAccount
	res ratelimit.Reservation
}

// clientQuota is the quota state of one client account; its mu guards it.
type clientQuota struct {
	q          Quota
	lim        *ratelimit.Local // nil without a per-minute quota
	day, month string           // current periods
	dayEnd     time.Time        // when day ends (month end likewise)
	monthEnd   time.Time
	daySpent   int64
	monthSpent int64
	// With a BudgetStore (budget.go): spend not yet added to it, whether a
	// round trip to it is in flight, and when it was last read.
	pending  int64
	syncing  bool
	syncedAt time.Time
}

// setQuota installs q, keeping what was spent. seed is what a previous
// process spent, taken only by an account that has not counted yet.
func (a *clientAccount) setQuota(now time.Time, q Quota, seed *BudgetSpent, fresh bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	cq := &a.quota
	cq.q = q
	switch {
	case q.perMinute() == ratelimit.Amounts{}:
		cq.lim = nil
	case cq.lim == nil:
		cq.lim, _ = ratelimit.NewLocal(now, q.perMinute()) // validated limits cannot fail
	default:
		cq.lim.SetLimits(now, q.perMinute())
	}
	cq.roll(now)
	if fresh && seed != nil {
		if seed.Day == cq.day {
			cq.daySpent = max(cq.daySpent, seed.DayTokens)
		}
		if seed.Month == cq.month {
			cq.monthSpent = max(cq.monthSpent, seed.MonthTokens)
		}
	}
}

// roll starts new budget periods when now is past the current ones.
func (cq *clientQuota) roll(now time.Time) {
	u := now.UTC()
	if !u.Before(cq.dayEnd) {
		start := time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC)
		cq.day, cq.dayEnd, cq.daySpent = start.Format(dayLayout), start.AddDate(0, 0, 1), 0
	}
	if !u.Before(cq.monthEnd) {
		start := time.Date(u.Year(), u.Month(), 1, 0, 0, 0, 0, time.UTC)
		cq.month, cq.monthEnd, cq.monthSpent = start.Format(monthLayout), start.AddDate(0, 1, 0), 0
	}
}

// AdmitClient checks client's quotas for a request with estInput input
// tokens, before any key is touched, and takes the request's share of the
// per-minute quotas. It fails with a *QuotaError naming the first quota the
// request is over. A client without quotas (or an unnamed one) is admitted
// with a zero ClientLease.
func (p *KeyPool) AdmitClient(client string, estInput int64) (ClientLease, error) {
	ca := p.accounts.Load()
	if ca == nil {
		return ClientLease{}, nil
	}
	a := ca.byName[client]
	if a == nil || !a.hasQuota.Load() {
		return ClientLease{}, nil
	}
	now := p.clock.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	cq := &a.quota
	cq.roll(now)
	if p.sharedBudget(cq) && now.Sub(cq.syncedAt) >= budgetRefresh {
		p.syncBudget(a, now) // what the other replicas spent
	}
	if b := cq.q.DailyTokens; b > 0 && cq.daySpent >= b {
		return ClientLease{}, &QuotaError{Client: client, Quota: QuotaDailyTokens, Limit: b, RetryAfter: cq.dayEnd.Sub(now)}
	}
	if b := cq.q.MonthlyTokens; b > 0 && cq.monthSpent >= b {
		return ClientLease{}, &QuotaError{Client: client, Quota: QuotaMonthlyTokens, Limit: b, RetryAfter: cq.monthEnd.Sub(now)}
	}
	if cq.lim == nil {
		return ClientLease{a: a}, nil
	}
	res, ok := cq.lim.Reserve(now, max(estInput, 0), ratelimit.LearnedOutput)
	if !ok {
		d, dim := cq.lim.TimeToCapacity(now, max(estInput, 0), ratelimit.LearnedOutput)
		e := &QuotaError{Client: client, RetryAfter: max(d, time.Millisecond)}
		switch dim {
		case ratelimit.InputTokens:
			e.Quota, e.Limit = QuotaITPM, cq.q.ITPM
		case ratelimit.OutputTokens:
			e.Quota, e.Limit = QuotaOTPM, cq.q.OTPM
		default:
			e.Quota, e.Limit = QuotaRPM, cq.q.RPM
		}
		return ClientLease{}, e
	}
	return ClientLease{a: a, res: res}, nil
}

// SettleClient charges what the request really used to its client's
// quotas and budgets. A budget may be overdrawn by the request that crosses
// it (its usage is known only afterwards); the next request is refused.
// A second call is a no-op.
func (p *KeyPool) SettleClient(l *ClientLease, u Usage) {
	a := l.a
	if a == nil {
		return
	}
	l.a = nil
	now := p.clock.Now()
	cu := u.counted()
	a.mu.Lock()
	defer a.mu.Unlock()
	cq := &a.quota
	if cq.lim != nil {
		cq.lim.Settle(now, l.res, cu)
	}
	cq.roll(now)
	spent := cu.InputTokens + cu.OutputTokens
	cq.daySpent += spent
	cq.monthSpent += spent
	if p.sharedBudget(cq) && spent > 0 {
		cq.pending += spent
		p.syncBudget(a, now)
	}
}

// budgetSpent is what the account spent in the current periods; nil
// without a budget.
func (a *clientAccount) budgetSpent(now time.Time) *BudgetSpent {
	a.mu.Lock()
	defer a.mu.Unlock()
	cq := &a.quota
	if cq.q.DailyTokens == 0 && cq.q.MonthlyTokens == 0 {
		return nil
	}
	cq.roll(now)
	return &BudgetSpent{Day: cq.day, DayTokens: cq.daySpent, Month: cq.month, MonthTokens: cq.monthSpent}
}
