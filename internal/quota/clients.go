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
	"slices"
	"sync/atomic"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/clock"
	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
	"github.com/keypool-dev/keypool-operator/internal/usage"
)

// Client is one named client's quotas: the holder of a client token, named
// by the token's Secret data key.
type Client struct {
	// Name is the client's name; never the token.
	Name string
	// Limits are the client's optional quotas (see Clients.Admit).
	Limits Limits
	// Spent is what a previous process spent of the client's budgets; a
	// new Clients (or a client new to it) starts from it when its periods
	// are the current ones.
	Spent *Spent
}

// Clients are a pool's named clients. It is safe for concurrent use: the
// set of clients is replaced whole by Configure and read without a lock,
// and each client's bookkeeping has a mutex of its own.
type Clients struct {
	clock    clock.Clock
	store    Store // nil: budgets counted in this process only
	accounts atomic.Pointer[accounts]
}

// accounts maps client names to their accounts.
type accounts struct {
	byName map[string]*account
	names  []string // sorted, for a stable status
}

// New returns an empty set of clients reading clk (nil: the wall clock)
// and keeping budget spend in store (nil: in this process).
func New(clk clock.Clock, store Store) *Clients {
	return &Clients{clock: clock.Or(clk), store: store}
}

// Configure makes clients the set of clients. A client that stays keeps
// its last minute and what it spent; one named twice counts once, with its
// first entry's quotas.
func (c *Clients) Configure(clients []Client) {
	prev := c.accounts.Load()
	next := &accounts{byName: make(map[string]*account, len(clients))}
	now := c.clock.Now()
	for i := range clients {
		cl := &clients[i]
		if _, dup := next.byName[cl.Name]; dup {
			continue
		}
		var a *account
		if prev != nil {
			a = prev.byName[cl.Name]
		}
		fresh := a == nil
		if fresh {
			a = &account{name: cl.Name}
		}
		a.setLimits(now, cl.Limits, cl.Spent, fresh)
		next.byName[cl.Name] = a
		next.names = append(next.names, cl.Name)
	}
	slices.Sort(next.names)
	c.accounts.Store(next)
}

// account returns client's account; nil for a name not configured.
func (c *Clients) account(client string) *account {
	ca := c.accounts.Load()
	if ca == nil {
		return nil
	}
	return ca.byName[client]
}

// Lease is a request's hold on its client's quota, settled with what it
// used by Clients.Settle. The zero value holds nothing.
type Lease struct {
	a    *account
	res  ratelimit.Reservation
	cost int64 // reserved against the budgets until Settle
}

// budgetBusyRetry is the Retry-After of a request refused because the
// client's requests in flight hold what is left of its budget: they settle
// within about that long, and their real usage is usually below what they
// reserved.
const budgetBusyRetry = time.Second

// Admit checks client's quotas for a request with estInput input tokens
// and maxOutput output tokens at most (the request's own max_tokens; 0 if
// it sets none), before any key is touched, and takes the request's share
// of the per-minute quotas. It fails with an *Error naming the first quota
// the request is over. A client without quotas (or an unnamed one) is
// admitted with a zero Lease.
//
// Against the daily and monthly budgets the request reserves its estimated
// cost, estInput plus its output estimate (OutputEstimate), until Settle
// replaces it with what it used. It is admitted when that fits in what is
// left after the spend and the reservations of the client's requests in
// flight; a request larger than what is left is admitted only alone (none
// in flight, some budget left), so that a budget smaller than one request
// is still usable. A budget is thus overdrawn at most by what requests use
// beyond their estimates, plus that one lone request.
func (c *Clients) Admit(client string, estInput, maxOutput int64) (Lease, error) {
	a := c.account(client)
	if a == nil || !a.hasQuota.Load() {
		return Lease{}, nil
	}
	estInput = max(estInput, 0)
	now := c.clock.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	s := &a.quota
	s.roll(now)
	if c.shared(s) && now.Sub(s.syncedAt) >= storeRefresh {
		c.sync(a, now) // what the other replicas spent
	}
	var cost int64
	if s.limits.budgeted() {
		cost = estInput + a.outputEstimate(maxOutput)
		if e := s.overBudget(client, now, cost); e != nil {
			return Lease{}, e
		}
	}
	l := Lease{a: a, cost: cost}
	if s.lim != nil {
		res, ok := s.lim.Reserve(now, estInput, ratelimit.LearnedOutput)
		if !ok {
			d, dim := s.lim.TimeToCapacity(now, estInput, ratelimit.LearnedOutput)
			e := &Error{Client: client, RetryAfter: max(d, time.Millisecond)}
			switch dim {
			case ratelimit.InputTokens:
				e.Quota, e.Limit = NameITPM, s.limits.ITPM
			case ratelimit.OutputTokens:
				e.Quota, e.Limit = NameOTPM, s.limits.OTPM
			default:
				e.Quota, e.Limit = NameRPM, s.limits.RPM
			}
			return Lease{}, e
		}
		l.res = res
	}
	s.reserved += cost
	s.inFlight++
	return l, nil
}

// overBudget is the error for a request of cost that a budget of s cannot
// take now (see Admit); nil if every budget can. The account's mu is held.
func (s *state) overBudget(client string, now time.Time, cost int64) *Error {
	check := func(name string, budget, spent int64, end time.Time) *Error {
		if budget <= 0 {
			return nil
		}
		left := budget - spent - s.reserved
		switch {
		case spent >= budget:
			return &Error{Client: client, Quota: name, Limit: budget, RetryAfter: end.Sub(now)}
		case cost <= left || (s.inFlight == 0 && left > 0):
			return nil
		}
		return &Error{Client: client, Quota: name, Limit: budget, RetryAfter: budgetBusyRetry}
	}
	if e := check(NameDailyTokens, s.limits.DailyTokens, s.daySpent, s.dayEnd); e != nil {
		return e
	}
	return check(NameMonthlyTokens, s.limits.MonthlyTokens, s.monthSpent, s.monthEnd)
}

// OutputEstimate is what a request of client is expected to generate when
// its answer does not say: maxOutput, the request's own max_tokens, when it
// sets one, else the output of this client's own answers (a moving
// average), never what other clients' answers were; 0 for an unnamed
// client or one without reported usage yet.
func (c *Clients) OutputEstimate(client string, maxOutput int64) int64 {
	if maxOutput > 0 {
		return maxOutput
	}
	if a := c.account(client); a != nil {
		return a.outputEstimate(0)
	}
	return 0
}

// Settle charges what the request really used to its client's quotas and
// budgets, in place of what Admit reserved. A second call is a no-op.
func (c *Clients) Settle(l *Lease, t usage.Tokens) {
	a := l.a
	if a == nil {
		return
	}
	l.a = nil
	now := c.clock.Now()
	cu := ratelimit.Usage{InputTokens: t.Input + t.CacheCreation, OutputTokens: t.Output}
	a.mu.Lock()
	defer a.mu.Unlock()
	s := &a.quota
	if s.lim != nil {
		s.lim.Settle(now, l.res, cu)
	}
	s.reserved -= l.cost
	s.inFlight--
	s.roll(now)
	spent := cu.InputTokens + cu.OutputTokens
	s.daySpent += spent
	s.monthSpent += spent
	if c.shared(s) && spent > 0 {
		s.pending += spent
		c.sync(a, now)
	}
}

// Record counts one answered request of client (a configured client name;
// other names are not counted) with what it really used. The proxy calls it
// once per client request; it takes no shared lock and does not allocate.
func (c *Clients) Record(client string, o Outcome, t usage.Tokens) {
	a := c.account(client)
	if a == nil || o >= NumOutcomes {
		return
	}
	a.record(c.clock.Now().UnixNano(), o, &t)
}

// Stats are one client's requests and tokens in the last minute.
type Stats struct {
	Name string
	// Requests counts requests answered, by outcome (index by Outcome).
	Requests                  [NumOutcomes]int64
	InputTokens, OutputTokens int64
	CacheReadTokens           int64
	CacheWriteTokens          int64
	Window                    time.Duration // the span counted: one minute
	// Budget is what the client spent of its token budgets in the current
	// day and month; nil without a budget.
	Budget *Spent
}

// Stats returns every client's last minute, sorted by name.
func (c *Clients) Stats() []Stats {
	ca := c.accounts.Load()
	if ca == nil || len(ca.names) == 0 {
		return nil
	}
	now := c.clock.Now()
	nowNs := now.UnixNano()
	out := make([]Stats, len(ca.names))
	for i, n := range ca.names {
		a := ca.byName[n]
		t := a.window(nowNs)
		out[i] = Stats{
			Name: n, Requests: t.requests, InputTokens: t.input, OutputTokens: t.output,
			CacheReadTokens: t.cacheRead, CacheWriteTokens: t.write, Window: window,
			Budget: a.spent(now),
		}
	}
	return out
}
