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

import "time"

// Spent is what a client spent of its token budgets in the periods named,
// so that a restarted process carries on from it.
type Spent struct {
	Day         string // UTC day, "2006-01-02"
	DayTokens   int64
	Month       string // UTC month, "2006-01"
	MonthTokens int64
}

const (
	dayLayout   = "2006-01-02"
	monthLayout = "2006-01"
)

// Store keeps what clients spent of their token budgets where every
// replica of a pool counts it (shared.Budgets: Redis, when limits
// are shared). Without one, Clients keeps the spend in its own memory (and
// the operator in KeyPool status, see Client.Spent).
type Store interface {
	// AddSpent adds tokens (0 only reads) to client's spend in day
	// ("2006-01-02", UTC) and month ("2006-01") and returns the spend of
	// both since they began, every replica's.
	AddSpent(client, day, month string, tokens int64) (daySpent, monthSpent int64, err error)
}

// storeRefresh is how often an admission reads the shared spend, so that
// what other replicas spent stops a client here within about that long
// even when this replica settles none of its requests meanwhile.
const storeRefresh = time.Second

// sync sends a's spend not yet in the store and reads the store's totals,
// which become a's view unless it counts more (spend of its own still on
// the way). One round trip at a time per client: spend settled meanwhile
// waits for the next, which the same call makes. When the store fails, the
// spend stays pending here and is sent with the next one. a.mu is held; it
// is released during the round trips.
func (c *Clients) sync(a *account, now time.Time) {
	s := &a.quota
	if s.syncing {
		return
	}
	s.syncing = true
	defer func() { s.syncing = false }()
	for first := true; first || s.pending > 0; first = false {
		n, day, month := s.pending, s.day, s.month
		s.pending = 0
		s.syncedAt = now
		a.mu.Unlock()
		d, m, err := c.store.AddSpent(a.name, day, month, n)
		a.mu.Lock()
		if err != nil {
			s.pending += n
			return
		}
		if day == s.day {
			s.daySpent = max(s.daySpent, d)
		}
		if month == s.month {
			s.monthSpent = max(s.monthSpent, m)
		}
	}
}

// shared reports whether the budgets of s are kept in the store; its
// account's mu is held.
func (c *Clients) shared(s *state) bool { return c.store != nil && s.limits.budgeted() }
