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

package controller

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	llmv1alpha1 "github.com/keypool-dev/keypool-operator/api/v1alpha1"
	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/quota"
)

// maxListedKeys bounds how many key names a condition message lists.
const maxListedKeys = 5

// desiredStatus computes a KeyPool's status from the last reconcile's report
// and the live pool's statistics (nil when no pool is served). prev supplies
// the conditions, whose transition times are kept while their status holds.
func desiredStatus(prev llmv1alpha1.KeyPoolStatus, r report, stats *keypool.PoolStats) llmv1alpha1.KeyPoolStatus {
	status := llmv1alpha1.KeyPoolStatus{
		ObservedGeneration: r.generation,
		Conditions:         append([]metav1.Condition(nil), prev.Conditions...),
		Endpoint:           r.endpoint,
		Upstream:           r.upstream,
	}
	var rejected []string
	if stats != nil {
		status.TotalKeys = int32(stats.TotalKeys)
		status.AvailableKeys = int32(stats.AvailableKeys)
		status.ExhaustedKeys = int32(stats.ExhaustedKeys)
		status.TotalRPM = stats.TotalRPM
		status.RemainingRPM = stats.RemainingRPM
		status.RemainingTokens = stats.RemainingTokens
		status.Queued = int32(stats.Queued)
		keys := make([]llmv1alpha1.KeyStatus, len(stats.Keys))
		for i, k := range stats.Keys {
			keys[i] = keyStatus(k)
			if k.State == keypool.StateRejected {
				rejected = append(rejected, k.ID)
			}
		}
		status.Keys, status.OmittedKeys = capKeys(keys)
	}
	setReady(&status, r, stats, len(rejected))
	setDegraded(&status, r, rejected)
	return status
}

func setReady(status *llmv1alpha1.KeyPoolStatus, r report, stats *keypool.PoolStats, rejected int) {
	cond := metav1.Condition{Type: llmv1alpha1.ConditionReady, ObservedGeneration: r.generation}
	switch {
	case stats == nil:
		cond.Status, cond.Reason = metav1.ConditionFalse, llmv1alpha1.ReasonNoUsableKeys
		cond.Message = "the pool has no keys; the proxy does not serve it"
		if len(r.problems) > 0 {
			cond.Reason, cond.Message = r.problems[0].reason, r.problems[0].message
		}
	case hasReason(r.problems, llmv1alpha1.ReasonClientAuthInvalid):
		// Every client request would be refused: the pool is not usable.
		cond.Status, cond.Reason = metav1.ConditionFalse, llmv1alpha1.ReasonClientAuthInvalid
		cond.Message = "no client token is configured: every request is refused"
	case rejected == stats.TotalKeys:
		cond.Status, cond.Reason = metav1.ConditionFalse, llmv1alpha1.ReasonNoUsableKeys
		cond.Message = "the provider rejected every key of the pool"
	default:
		cond.Status, cond.Reason = metav1.ConditionTrue, llmv1alpha1.ReasonPoolReady
		cond.Message = fmt.Sprintf("the proxy serves the pool with %d usable keys", stats.TotalKeys-rejected)
	}
	meta.SetStatusCondition(&status.Conditions, cond)
}

func setDegraded(status *llmv1alpha1.KeyPoolStatus, r report, rejected []string) {
	cond := metav1.Condition{Type: llmv1alpha1.ConditionDegraded, ObservedGeneration: r.generation}
	switch {
	case len(r.problems) > 0:
		msgs := make([]string, len(r.problems))
		for i, p := range r.problems {
			msgs[i] = p.message
		}
		cond.Status, cond.Reason, cond.Message = metav1.ConditionTrue, r.problems[0].reason, strings.Join(msgs, "; ")
	case len(rejected) > 0:
		cond.Status, cond.Reason = metav1.ConditionTrue, llmv1alpha1.ReasonKeysRejected
		cond.Message = fmt.Sprintf("the provider rejected %d keys: %s", len(rejected), listKeys(rejected))
	default:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, llmv1alpha1.ReasonAsExpected, "every key is usable"
	}
	meta.SetStatusCondition(&status.Conditions, cond)
}

func listKeys(ids []string) string {
	if len(ids) <= maxListedKeys {
		return strings.Join(ids, ", ")
	}
	return strings.Join(ids[:maxListedKeys], ", ") + fmt.Sprintf(" and %d more", len(ids)-maxListedKeys)
}

// clientStatuses is status.clients, each configured client's last minute (at
// most maxStatusClients of them), and how many were left out.
func clientStatuses(stats []keypool.ClientStats) ([]llmv1alpha1.ClientStatus, int32) {
	if len(stats) == 0 {
		return nil, 0
	}
	out := make([]llmv1alpha1.ClientStatus, len(stats))
	for i, c := range stats {
		var n int64
		for _, v := range c.Requests {
			n += v
		}
		out[i] = llmv1alpha1.ClientStatus{
			Name:              c.Name,
			Requests:          n,
			ThrottledRequests: c.Requests[quota.OutcomeThrottled],
			InputTokens:       c.InputTokens,
			OutputTokens:      c.OutputTokens,
			CacheReadTokens:   c.CacheReadTokens,
			CacheWriteTokens:  c.CacheWriteTokens,
			Waiting:           int32(c.Waiting),
		}
		if b := c.Budget; b != nil {
			out[i].Budget = &llmv1alpha1.ClientBudget{Day: b.Day, DayTokens: b.DayTokens, Month: b.Month, MonthTokens: b.MonthTokens}
		}
	}
	return capClients(out)
}

func keyStatus(k keypool.KeyStats) llmv1alpha1.KeyStatus {
	return llmv1alpha1.KeyStatus{
		Name:          k.ID,
		State:         llmv1alpha1.KeyState(k.State),
		LimitGroup:    k.LimitGroup,
		RPMRemaining:  known(k.RPMRemaining),
		ITPMRemaining: known(k.ITPMRemaining),
		OTPMRemaining: known(k.OTPMRemaining),
		ResetAt:       timeOrNil(k.ResetAt),
		CooldownUntil: timeOrNil(k.CooldownUntil),
		Classes:       classStatus(k.Classes),
		LastError:     k.LastError,
	}
}

// maxStatusClasses bounds status.keys[].classes, so that 250 keys with
// many classes each keep the status far below etcd's object limit.
const maxStatusClasses = 8

// classStatus is a key's model classes as the status shows them: at most
// maxStatusClasses, those cooling down first, then in the order the key
// first served them.
func classStatus(cs []keypool.ClassStats) []llmv1alpha1.ClassStatus {
	if len(cs) == 0 {
		return nil
	}
	cs = slices.Clone(cs)
	slices.SortStableFunc(cs, func(a, b keypool.ClassStats) int {
		return cmp.Compare(boolRank(a.CooldownUntil.IsZero()), boolRank(b.CooldownUntil.IsZero()))
	})
	cs = cs[:min(len(cs), maxStatusClasses)]
	out := make([]llmv1alpha1.ClassStatus, len(cs))
	for i, c := range cs {
		out[i] = llmv1alpha1.ClassStatus{
			Name:          c.Name,
			RPMRemaining:  known(c.RPMRemaining),
			ITPMRemaining: known(c.ITPMRemaining),
			OTPMRemaining: known(c.OTPMRemaining),
			CooldownUntil: timeOrNil(c.CooldownUntil),
		}
	}
	return out
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// known maps the engine's -1 (unknown) to an absent field.
func known(v int64) *int64 {
	if v < 0 {
		return nil
	}
	return &v
}

// timeOrNil truncates to seconds, as the API server stores times, so that an
// unchanged time compares equal to what was written before.
func timeOrNil(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	mt := metav1.NewTime(t.Truncate(time.Second))
	return &mt
}

func hasReason(problems []problem, reason string) bool {
	for _, p := range problems {
		if p.reason == reason {
			return true
		}
	}
	return false
}
