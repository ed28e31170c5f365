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
	"testing"

	"github.com/keypool-dev/keypool-operator/internal/provider"
)

// orgHeaders is a 200's headers naming org, with a requests limit of 10 and
// the given remaining count.
func orgHeaders(org, remaining string) map[string][]string {
	return hdr("anthropic-organization-id", org,
		"anthropic-ratelimit-requests-limit", "10", "anthropic-ratelimit-requests-remaining", remaining)
}

func TestKeysOfOneOrganisationAreGroupedFromHeaders(t *testing.T) {
	keys := keyCfgs(3)
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys, Strategy: StrategyRoundRobin})
	// k0 and k1 report org-a, k2 org-b: only k0 and k1 share limits.
	for i, org := range []string{"org-a", "org-a", "org-b"} {
		l := f.acquire(AcquireOptions{Exclude: excludeAllBut(keys, i)})
		f.p.ReportResponse(&l, 200, orgHeaders(org, "9"))
		f.p.Settle(&l, Usage{})
	}
	if g0, g1, g2 := f.stats("k0").LimitGroup, f.stats("k1").LimitGroup, f.stats("k2").LimitGroup; g0 != "org:org-a" || g1 != g0 || g2 != "" {
		t.Fatalf("groups %q %q %q, want org:org-a twice and none", g0, g1, g2)
	}
	// One limiter for the organisation: 9 requests left between k0 and k1,
	// not 9 each.
	if r0, r1 := f.stats("k0").RPMRemaining, f.stats("k1").RPMRemaining; r0 != 9 || r1 != 9 {
		t.Fatalf("remaining %d %d, want the shared 9", r0, r1)
	}
	l := f.acquire(AcquireOptions{Exclude: []string{"k1", "k2"}})
	defer f.p.Settle(&l, Usage{})
	if r1 := f.stats("k1").RPMRemaining; r1 != 8 {
		t.Fatalf("k1 remaining %d after a request on k0, want 8", r1)
	}
}

func TestLearnedOrganisationJoinsConfiguredGroup(t *testing.T) {
	keys := keyCfgs(3)
	keys[0].LimitGroup = "team"
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys})
	for i := range 2 {
		l := f.acquire(AcquireOptions{Exclude: excludeAllBut(keys, i)})
		f.p.ReportResponse(&l, 200, orgHeaders("org-a", "9"))
		f.p.Settle(&l, Usage{})
	}
	if g := f.stats("k1").LimitGroup; g != "team" {
		t.Fatalf("k1 group %q, want the configured group of its organisation", g)
	}
	// An update keeps what was learned; a changed key value forgets it.
	if err := f.p.Update(PoolConfig{Keys: keys}); err != nil {
		t.Fatal(err)
	}
	if g := f.stats("k1").LimitGroup; g != "team" {
		t.Fatalf("after update: k1 group %q, want team", g)
	}
	keys[1].APIKey = "rotated"
	if err := f.p.Update(PoolConfig{Keys: keys}); err != nil {
		t.Fatal(err)
	}
	if g := f.stats("k1").LimitGroup; g != "" {
		t.Fatalf("after rotation: k1 group %q, want none", g)
	}
}

func excludeAllBut(keys []KeyConfig, i int) []string {
	var ex []string
	for j, k := range keys {
		if j != i {
			ex = append(ex, k.ID)
		}
	}
	return ex
}
