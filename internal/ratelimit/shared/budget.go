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
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// budgetScript adds to one client's spend in a day and a month, atomically,
// and returns both totals. KEYS: the day's and the month's counters. ARGV:
// 1 tokens to add (0 reads), 2 and 3 their TTLs (ms). A counter outlives
// its period by its TTL and then disappears on its own.
const budgetScript = `
local d = redis.call('INCRBY', KEYS[1], ARGV[1])
local m = redis.call('INCRBY', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return {d, m}
`

var budgets = redis.NewScript(budgetScript)

// How long a period's counter is kept after it was last written: past the
// period's end, so that a replica whose clock lags still finds it.
const (
	dayBudgetTTL   = 3 * 24 * time.Hour
	monthBudgetTTL = 62 * 24 * time.Hour
)

// ErrUnavailable is returned by shared budgets while Redis is
// unreachable.
var ErrUnavailable = errors.New("redis unavailable")

// Budgets keeps clients' token spend per day and month in Redis,
// under one scope (a pool's namespace/name), so that every replica counts
// the spend of all and a restarted one carries on from it.
type Budgets struct {
	b     *Backend
	scope string
}

// Budgets returns the shared budgets of scope.
func (b *Backend) Budgets(scope string) *Budgets {
	return &Budgets{b: b, scope: strings.ReplaceAll(scope, "}", "_")}
}

// AddSpent adds tokens (>= 0; 0 only reads) to client's spend in the day
// and month named, and returns the spend of both since they began, by
// every replica. While Redis is unreachable it fails at once with
// ErrUnavailable, without a round trip.
func (s *Budgets) AddSpent(client, day, month string, tokens int64) (daySpent, monthSpent int64, err error) {
	if s.b.Degraded() {
		return 0, 0, ErrUnavailable
	}
	// One hash tag per client: its two counters share a Redis Cluster slot.
	base := s.b.prefix + "{" + s.scope + "/client/" + strings.ReplaceAll(client, "}", "_") + "}"
	keys := []string{base + "/day/" + day, base + "/month/" + month}
	ctx, cancel := context.WithTimeout(context.Background(), s.b.timeout)
	defer cancel()
	v, err := budgets.Run(ctx, s.b.client, keys, max(tokens, 0), dayBudgetTTL.Milliseconds(),
		monthBudgetTTL.Milliseconds()).Int64Slice()
	if err != nil {
		s.b.fail(err) // an outage only when Redis failed, not this call
		return 0, 0, fmt.Errorf("budget of client %s: %w", client, err)
	}
	if len(v) != 2 {
		return 0, 0, fmt.Errorf("budget of client %s: %d values from redis, want 2", client, len(v))
	}
	return v[0], v[1], nil
}
