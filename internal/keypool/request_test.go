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
	"context"
	"errors"
	"testing"

	"github.com/keypool-dev/keypool-operator/internal/provider"
	"github.com/keypool-dev/keypool-operator/internal/quota"
	"github.com/keypool-dev/keypool-operator/internal/usage"
)

// inFlight is the number of requests holding key id.
func inFlight(t *testing.T, p *KeyPool, id string) int64 {
	t.Helper()
	for _, k := range p.GetStats().Keys {
		if k.ID == id {
			return k.InFlight
		}
	}
	t.Fatalf("no key %s", id)
	return 0
}

// TestRequestSettlesEverythingOnce: a failed-over attempt's key is given
// back by the next Acquire, Finish settles the last key and the client's
// quota with the same usage and counts the outcome, and a second Finish
// changes nothing.
func TestRequestSettlesEverythingOnce(t *testing.T) {
	cfg := PoolConfig{Keys: keyCfgs(2), Strategy: StrategyRoundRobin,
		Clients: []ClientConfig{{Name: "team", Quota: quota.Limits{DailyTokens: 1000}}}}
	cfg.Keys[0].ITPMLimit, cfg.Keys[1].ITPMLimit = 10_000, 10_000
	f := newFixture(t, provider.Anthropic, cfg)
	r, err := f.p.Begin("team", 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	first, err := r.Acquire(context.Background(), AcquireOptions{EstimatedInputTokens: 100})
	if err != nil {
		t.Fatal(err)
	}
	firstID := first.KeyID
	if inFlight(t, f.p, firstID) != 1 {
		t.Fatalf("%s not held", firstID)
	}
	second, err := r.Acquire(context.Background(), AcquireOptions{EstimatedInputTokens: 100, Exclude: []string{firstID}})
	if err != nil {
		t.Fatal(err)
	}
	if second.KeyID == firstID || inFlight(t, f.p, firstID) != 0 || inFlight(t, f.p, second.KeyID) != 1 {
		t.Fatalf("after failover: first %s in flight %d, second %s in flight %d",
			firstID, inFlight(t, f.p, firstID), second.KeyID, inFlight(t, f.p, second.KeyID))
	}
	secondID := second.KeyID
	charged := usage.Tokens{Input: 300, Output: 400}
	r.Finish(quota.OutcomeServed, charged, charged)
	r.Finish(quota.OutcomeFailed, charged, charged)
	if inFlight(t, f.p, secondID) != 0 {
		t.Fatalf("%s still held after Finish", secondID)
	}
	s := f.p.ClientStats()[0]
	if s.Requests[quota.OutcomeServed] != 1 || s.Requests[quota.OutcomeFailed] != 0 || s.OutputTokens != 400 {
		t.Fatalf("client counted %+v, want one served request with 400 output tokens", s.Requests)
	}
	if s.Budget == nil || s.Budget.DayTokens != 700 {
		t.Fatalf("budget %+v, want 700 spent once", s.Budget)
	}
	for _, k := range f.p.GetStats().Keys {
		if k.ID == secondID && k.ITPMRemaining != 10_000-300 {
			t.Fatalf("%s ITPM remaining %d, want the 300 charged", k.ID, k.ITPMRemaining)
		}
		if k.ID == firstID && k.ITPMRemaining != 10_000 {
			t.Fatalf("%s ITPM remaining %d, want its reservation returned", k.ID, k.ITPMRemaining)
		}
	}
}

// TestRequestOverQuotaHoldsNothing: Begin refuses a client over its quota
// with a *quota.Error, and takes no key.
func TestRequestOverQuotaHoldsNothing(t *testing.T) {
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keyCfgs(1),
		Clients: []ClientConfig{{Name: "team", Quota: quota.Limits{RPM: 1}}}})
	r, err := f.p.Begin("team", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	r.Finish(quota.OutcomeServed, usage.Tokens{}, usage.Tokens{})
	refused, err := f.p.Begin("team", 0, 0)
	var qe *quota.Error
	if !errors.As(err, &qe) || qe.Quota != quota.NameRPM {
		t.Fatalf("second Begin: %v, want over rpm", err)
	}
	if inFlight(t, f.p, "k0") != 0 {
		t.Fatal("a refused request holds a key")
	}
	refused.Finish(quota.OutcomeOverQuota, usage.Tokens{}, usage.Tokens{})
	if s := f.p.ClientStats()[0]; s.Requests[quota.OutcomeOverQuota] != 1 {
		t.Fatalf("client counted %v, want the refused request as over quota", s.Requests)
	}
}
