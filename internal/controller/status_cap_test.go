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
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	llmv1alpha1 "github.com/keypool-dev/keypool-operator/api/v1alpha1"
	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/quota"
)

// worstKey is a key entry as large as the API lets it be: a 253-character
// Secret name and data key, a 256-character last error, every optional
// field set.
func worstKey(i int, state keypool.State) keypool.KeyStats {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	id := fmt.Sprintf("%0253d/%0253d", i, i)
	return keypool.KeyStats{
		ID: id, State: state, LimitGroup: strings.Repeat("g", 63),
		RPMRemaining: 1 << 40, ITPMRemaining: 1 << 40, OTPMRemaining: 1 << 40,
		ResetAt: now, CooldownUntil: now, LastError: strings.Repeat("e", 256),
	}
}

// worstClient is a client entry as large as the API lets it be.
func worstClient(i int, requests int64) keypool.ClientStats {
	c := keypool.ClientStats{Stats: quota.Stats{
		Name: fmt.Sprintf("%0253d", i), InputTokens: 1 << 40, OutputTokens: 1 << 40,
		CacheReadTokens: 1 << 40, CacheWriteTokens: 1 << 40,
		Budget: &quota.Spent{Day: "2030-01-02", DayTokens: 1 << 40, Month: "2030-01", MonthTokens: 1 << 40},
	}, Waiting: 1 << 20}
	c.Requests[quota.OutcomeServed] = requests
	c.Requests[quota.OutcomeThrottled] = 1 << 30
	return c
}

// TestStatusBounded: however many keys and clients a pool has, the status
// written stays well under etcd's 1.5 MiB object limit (under 768 KiB with
// every entry at its largest), keeping the entries that matter: every key
// that is not Available before Available ones, the most active clients.
// The full picture is in the keypool_keys and client metrics.
func TestStatusBounded(t *testing.T) {
	const n = 6000
	stats := keypool.PoolStats{TotalKeys: n}
	for i := range n {
		st := keypool.StateAvailable
		if i%1000 == 999 { // 6 rejected keys, late in configuration order
			st = keypool.StateRejected
		}
		stats.Keys = append(stats.Keys, worstKey(i, st))
	}
	var clients []keypool.ClientStats
	for i := range n {
		clients = append(clients, worstClient(i, int64(i)))
	}
	status := desiredStatus(llmv1alpha1.KeyPoolStatus{}, report{generation: 1}, &stats)
	status.Clients, status.OmittedClients = clientStatuses(clients)

	kp := llmv1alpha1.KeyPool{Status: status}
	raw, err := json.Marshal(&kp)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("status of %d keys and %d clients listed, all at their largest: %d bytes", len(status.Keys), len(status.Clients), len(raw))
	if len(raw) > 768<<10 {
		t.Errorf("status of %d worst-case keys and clients is %d bytes, want at most 768 KiB", n, len(raw))
	}
	rejected := 0
	for _, k := range status.Keys {
		if k.State == llmv1alpha1.KeyState(keypool.StateRejected) {
			rejected++
		}
	}
	if rejected != 6 {
		t.Errorf("%d of the 6 rejected keys listed (of %d entries)", rejected, len(status.Keys))
	}
	if int(status.OmittedKeys)+len(status.Keys) != n || int(status.OmittedClients)+len(status.Clients) != n {
		t.Errorf("%d keys listed and %d omitted, %d clients listed and %d omitted; want %d each in all",
			len(status.Keys), status.OmittedKeys, len(status.Clients), status.OmittedClients, n)
	}
	for _, c := range status.Clients {
		if c.Requests < n-int64(len(status.Clients)) {
			t.Errorf("client %s with %d requests listed while a more active one is not", c.Name[len(c.Name)-4:], c.Requests)
			break
		}
	}
}
