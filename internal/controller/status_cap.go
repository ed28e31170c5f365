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
	"slices"

	llmv1alpha1 "github.com/keypool-dev/keypool-operator/api/v1alpha1"
	"github.com/keypool-dev/keypool-operator/internal/keypool"
)

// The status lists at most maxStatusKeys keys and maxStatusClients clients:
// etcd refuses objects over 1.5 MiB, and a status it refuses is a status
// never written (and, without Redis, client budgets never persisted). With
// every entry at its largest (253-character names, a 256-character error)
// a key takes ~1.2 KB and a client ~0.6 KB, so the caps keep the object
// under ~0.5 MiB (TestStatusBounded: 0.4 MiB); typical entries take ~270
// and ~230 bytes. The metrics cover every key and client whatever the caps
// (keypool_keys by state, each key's and client's traffic);
// status.omittedKeys and status.omittedClients count what is left out.
const (
	maxStatusKeys    = 250
	maxStatusClients = 250
)

// stateRank orders keys by how much their entry tells: a rejected key first,
// then cooling down, rate limited, and Available last.
func stateRank(s llmv1alpha1.KeyState) int {
	switch keypool.State(s) {
	case keypool.StateRejected:
		return 0
	case keypool.StateCoolingDown:
		return 1
	case keypool.StateRateLimited:
		return 2
	default:
		return 3
	}
}

// capKeys keeps at most maxStatusKeys entries, those that are not Available
// first, in their configuration order, and returns how many it dropped.
func capKeys(keys []llmv1alpha1.KeyStatus) ([]llmv1alpha1.KeyStatus, int32) {
	return keep(keys, maxStatusKeys, func(a, b llmv1alpha1.KeyStatus) int {
		return cmp.Compare(stateRank(a.State), stateRank(b.State))
	})
}

// capClients keeps at most maxStatusClients entries, the most active in the
// last minute first, then those with the most budget spent this month (whose
// entry is where the spend survives a restart without Redis), in their
// configuration order, and returns how many it dropped.
func capClients(clients []llmv1alpha1.ClientStatus) ([]llmv1alpha1.ClientStatus, int32) {
	return keep(clients, maxStatusClients, func(a, b llmv1alpha1.ClientStatus) int {
		if c := cmp.Compare(b.Requests, a.Requests); c != 0 {
			return c
		}
		return cmp.Compare(monthSpent(b), monthSpent(a))
	})
}

func monthSpent(c llmv1alpha1.ClientStatus) int64 {
	if c.Budget == nil {
		return 0
	}
	return c.Budget.MonthTokens
}

// keep returns the max entries of s that rank first under rank (ties in
// their order in s), in their order in s, and how many it left out. s is
// returned as it is when it fits.
func keep[T any](s []T, limit int, rank func(a, b T) int) ([]T, int32) {
	if len(s) <= limit {
		return s, 0
	}
	idx := make([]int, len(s))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return rank(s[a], s[b]) })
	idx = idx[:limit]
	slices.Sort(idx)
	out := make([]T, limit)
	for i, j := range idx {
		out[i] = s[j]
	}
	return out, int32(len(s) - limit)
}
