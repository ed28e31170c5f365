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
	"context"
	"net/http"
	"testing"

	llmv1alpha1 "github.com/keypool-dev/keypool-operator/api/v1alpha1"
	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/provider"
)

// TestStatusShowsLearnedOrganisationGroup: two keys without a configured
// limitGroup whose responses name one organisation show the group the pool
// formed, org:<id>, in status.keys[].limitGroup; a configured group shows as
// configured and an ungrouped key shows none.
func TestStatusShowsLearnedOrganisationGroup(t *testing.T) {
	prov, ok := provider.Lookup("anthropic")
	if !ok {
		t.Fatal("no anthropic provider")
	}
	p, err := keypool.NewKeyPool(prov, keypool.PoolConfig{
		Strategy: keypool.StrategyRoundRobin,
		Keys: []keypool.KeyConfig{
			{ID: "s/a", APIKey: "value-a"}, {ID: "s/b", APIKey: "value-b"},
			{ID: "s/c", APIKey: "value-c"}, {ID: "s/d", APIKey: "value-d", LimitGroup: "team"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	all := []string{"s/a", "s/b", "s/c", "s/d"}
	for i, org := range []string{"org-1", "org-1", "org-2"} {
		var exclude []string
		for j, id := range all {
			if j != i {
				exclude = append(exclude, id)
			}
		}
		l, err := p.Acquire(context.Background(), keypool.AcquireOptions{Exclude: exclude})
		if err != nil {
			t.Fatal(err)
		}
		p.ReportResponse(&l, http.StatusOK, http.Header{"Anthropic-Organization-Id": {org}})
		p.Settle(&l, keypool.Usage{})
	}
	stats := p.GetStats()
	status := desiredStatus(llmv1alpha1.KeyPoolStatus{}, report{}, &stats)
	want := map[string]string{"s/a": "org:org-1", "s/b": "org:org-1", "s/c": "", "s/d": "team"}
	for _, k := range status.Keys {
		if k.LimitGroup != want[k.Name] {
			t.Errorf("status.keys[%s].limitGroup = %q, want %q", k.Name, k.LimitGroup, want[k.Name])
		}
	}
	if len(status.Keys) != len(want) {
		t.Fatalf("%d keys in the status, want %d", len(status.Keys), len(want))
	}
}
