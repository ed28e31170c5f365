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

	"github.com/keypool-dev/keypool-operator/internal/usage"
)

// TestBudgetReservedAtAdmission: requests in flight hold their estimated
// cost (input estimate plus max_tokens) against the budget, so that
// concurrent requests cannot all pass a check of what was spent; settling
// gives back what a request did not use.
func TestBudgetReservedAtAdmission(t *testing.T) {
	f := newFixture(t, Limits{DailyTokens: 1000}, nil)
	var held []Lease
	for range 40 {
		l, err := f.c.Admit("team", 100, 50)
		if err != nil {
			var qe *Error
			if !errors.As(err, &qe) || qe.Quota != NameDailyTokens || qe.RetryAfter != budgetBusyRetry {
				t.Fatalf("refusal %v, want dailyTokens with a retry after %v", err, budgetBusyRetry)
			}
			continue
		}
		held = append(held, l)
	}
	if len(held) != 6 { // 6 x 150 = 900 reserved; 100 left fits no seventh
		t.Fatalf("%d of 40 concurrent requests admitted, want 6", len(held))
	}
	for i := range held {
		f.c.Settle(&held[i], usage.Tokens{Input: 90, Output: 10})
	}
	// 600 spent, nothing reserved: four more fit, then a lone request may
	// cross what is left, and nothing after it.
	for range 2 {
		admit(t, f, 100, usage.Tokens{Input: 100, Output: 50})
	}
	admit(t, f, 100, usage.Tokens{Input: 100, Output: 50}) // 1050: the lone request
	overQuota(t, f, 0, NameDailyTokens, 14*time.Hour, 14*time.Hour)
}

// TestLoneRequestLargerThanTheBudget: a request larger than the whole budget
// is admitted when nothing is in flight (else the budget could never be
// used by it), and only then.
func TestLoneRequestLargerThanTheBudget(t *testing.T) {
	f := newFixture(t, Limits{DailyTokens: 1000}, nil)
	l, err := f.c.Admit("team", 100, 32000)
	if err != nil {
		t.Fatalf("lone request: %v", err)
	}
	if _, err := f.c.Admit("team", 10, 10); err == nil {
		t.Fatal("a second request admitted while the lone one holds the budget")
	}
	f.c.Settle(&l, usage.Tokens{Input: 100, Output: 200})
	admit(t, f, 10, usage.Tokens{Input: 10, Output: 10})
}

// TestOutputEstimateIsTheClientsOwn: without max_tokens, a client's output
// estimate is what its own answers reported, not another client's.
func TestOutputEstimateIsTheClientsOwn(t *testing.T) {
	f := newFixture(t, Limits{}, nil)
	for range 20 {
		f.c.Record("other", OutcomeServed, usage.Tokens{Output: 50_000})
		f.c.Record("team", OutcomeServed, usage.Tokens{Output: 2})
	}
	if got := f.c.OutputEstimate("team", 0); got != 2 {
		t.Errorf("team's output estimate %d, want 2 (its own answers)", got)
	}
	if got := f.c.OutputEstimate("team", 300); got != 300 {
		t.Errorf("with max_tokens 300: %d", got)
	}
	if got := f.c.OutputEstimate("", 0); got != 0 {
		t.Errorf("unnamed client: %d, want 0", got)
	}
}
