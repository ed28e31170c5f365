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
	"fmt"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
)

// Limits are one client's optional quotas; 0 means none.
type Limits struct {
	// RPM, ITPM and OTPM are requests, input tokens and output tokens per
	// minute, enforced as buckets refilling over a minute like a key's.
	RPM, ITPM, OTPM int64
	// DailyTokens and MonthlyTokens are budgets of tokens (input, cache
	// writes and output, as the provider reports them) per UTC calendar
	// day and month.
	DailyTokens, MonthlyTokens int64
}

func (q *Limits) perMinute() ratelimit.Amounts {
	return ratelimit.Amounts{ratelimit.Requests: q.RPM, ratelimit.InputTokens: q.ITPM, ratelimit.OutputTokens: q.OTPM}
}

// Validate fails for a negative quota.
func (q *Limits) Validate() error {
	if err := ratelimit.ValidateLimits(q.perMinute()); err != nil {
		return err
	}
	if q.DailyTokens < 0 || q.MonthlyTokens < 0 {
		return fmt.Errorf("negative token budget")
	}
	return nil
}

func (q *Limits) any() bool { return *q != Limits{} }

func (q *Limits) budgeted() bool { return q.DailyTokens > 0 || q.MonthlyTokens > 0 }

// Quota names, as in the KeyPool spec (spec.clients[].quota.<name>).
const (
	NameRPM           = "rpm"
	NameITPM          = "itpm"
	NameOTPM          = "otpm"
	NameDailyTokens   = "dailyTokens"
	NameMonthlyTokens = "monthlyTokens"
)

// Error says which quota of which client a request is over, and when the
// client may retry.
type Error struct {
	Client     string
	Quota      string // one of the Name* names
	Limit      int64
	RetryAfter time.Duration // > 0
}

// Error implements error.
func (e *Error) Error() string {
	return fmt.Sprintf("client %s is over its %s quota of %d; retry after %s", e.Client, e.Quota, e.Limit, e.RetryAfter)
}
