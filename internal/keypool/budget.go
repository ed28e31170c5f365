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

import "time"

// BudgetStore keeps what clients spent of their token budgets where every
// replica of a pool counts it (ratelimit.SharedBudgets: Redis, when limits
// are shared). Without one, a pool keeps the spend in its own memory (and
// the operator in KeyPool status, see ClientConfig.Spent).
type BudgetStore interface {
	// AddSpent adds tokens (0 only reads) to client's spend in day
	// ("2006-01-02", UTC) and month ("2006-01") and returns the spend of
	// both since they began, every replica's.
	AddSpent(client, day, month string, tokens int64) (daySpent, monthSpent int64, err error)
}

// budgetRefresh is how often an admission reads the shared spend, so that
// what other replicas spent stops a client here within about that long
// even when this replica settles none of its requests meanwhile.
const budgetRefresh = time.Second

// syncBudget sends a's spend not yet in the store and reads the store's
// totals, which become a's view unless it counts more (spend of its own
// still on the way). One round trip at a time per client: spend settled
// meanwhile waits for the next, which the same call makes. When the store
// fails, the spend stays pending here and is sent with the next one.
// a.mu is held; it is released during the round trips.
func (p *KeyPool) syncBudget(a *clientAccount, now time.Time) {
	cq := &a.quota
	if cq.syncing {
		return
	}
	cq.syncing = true
	defer func() { cq.syncing = false }()
	for first := true; first || cq.pending > 0; first = false {
		n, day, month := cq.pending, cq.day, cq.month
		cq.pending = 0
		cq.syncedAt = now
		a.mu.Unlock()
		d, m, err := p.budgets.AddSpent(a.name, day, month, n)
		a.mu.Lock()
		if err != nil {
			cq.pending += n
			return
		}
		if day == cq.day {
			cq.daySpent = max(cq.daySpent, d)
		}
		if month == cq.month {
			cq.monthSpent = max(cq.monthSpent, m)
		}
	}
}

// sharedBudget reports whether the budgets of cq are kept in the store;
// its account's mu is held.
func (p *KeyPool) sharedBudget(cq *clientQuota) bool {
	return p.budgets != nil && (cq.q.DailyTokens > 0 || cq.q.MonthlyTokens > 0)
}
