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

package proxy

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/keypool-dev/keypool-operator/internal/apitest"
	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/proxytest"
	"github.com/keypool-dev/keypool-operator/internal/quota"
)

// TestClientMetricsAndWindowMove: a named client's requests are counted by
// outcome, and its tokens are the ones that settled the keys (the pool's
// own token series); the pool's per-client window moves with them. An
// unnamed token adds no client series.
func TestClientMetricsAndWindowMove(t *testing.T) {
	keys := proxytest.Keys([]string{keyValue(1)}, false)
	e := newEnv(t, envConfig{keys: keys, clientNames: []string{"", "team-a"}})
	keys[0].RPMLimit = 2
	if err := e.pool.Update(keypool.PoolConfig{Keys: keys, Access: *e.pool.Access()}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		wantStatus(t, e.post(apitest.AnthropicBody("hello there", false)), http.StatusOK)
	}
	// The key's 2 RPM are spent and the pool does not queue: a 429.
	wantStatus(t, e.post(apitest.AnthropicBody("hello again", false)), http.StatusTooManyRequests)
	e.waitIdle()

	m := e.proxy.metrics
	if n := testutil.ToFloat64(m.clientReqs.WithLabelValues(namespace, poolName, "team-a", "served")); n != 2 {
		t.Errorf("served %v, want 2", n)
	}
	if n := testutil.ToFloat64(m.clientReqs.WithLabelValues(namespace, poolName, "team-a", "throttled")); n != 1 {
		t.Errorf("throttled %v, want 1", n)
	}
	for _, d := range []string{"input", "output"} {
		pool := testutil.ToFloat64(m.tokens.WithLabelValues(namespace, poolName, d))
		client := testutil.ToFloat64(m.clientTokens.WithLabelValues(namespace, poolName, "team-a", d))
		if pool == 0 || client != pool {
			t.Errorf("%s tokens: client %v, pool %v; want equal and > 0", d, client, pool)
		}
	}
	stats := e.pool.ClientStats()
	if len(stats) != 1 || stats[0].Name != "team-a" {
		t.Fatalf("client stats %+v, want team-a only", stats)
	}
	s := stats[0]
	in := testutil.ToFloat64(m.tokens.WithLabelValues(namespace, poolName, "input"))
	if s.Requests[quota.OutcomeServed] != 2 || s.Requests[quota.OutcomeThrottled] != 1 || float64(s.InputTokens) != in {
		t.Errorf("window %+v, want 2 served, 1 throttled, %v input tokens", s, in)
	}

	// The unnamed token's requests add no client series.
	before := testutil.CollectAndCount(m.clientReqs)
	resp := e.do(t.Context(), http.MethodPost, "/v1/messages", apitest.AnthropicBody("hi", false),
		map[string]string{"X-Api-Key": "another-client", "Anthropic-Version": "2023-06-01", "Content-Type": "application/json"})
	_ = resp.Body.Close()
	e.waitIdle()
	if after := testutil.CollectAndCount(m.clientReqs); after != before {
		t.Errorf("client series %d -> %d after an unnamed client's request", before, after)
	}
}

// TestQuota429NamesTheQuotaBeforeAnyKey: a named client over its RPM quota
// gets 429 in the provider's shape, a Retry-After from the quota and a
// message naming it; the upstream never sees the request, and the other
// client is not affected.
func TestQuota429NamesTheQuotaBeforeAnyKey(t *testing.T) {
	keys := proxytest.Keys([]string{keyValue(1)}, false)
	e := newEnv(t, envConfig{keys: keys, clientNames: []string{"team-b", "team-a"}})
	if err := e.pool.Update(keypool.PoolConfig{Keys: keys, Access: *e.pool.Access(),
		Clients: []keypool.ClientConfig{{Name: "team-a", Quota: quota.Limits{RPM: 1}}}}); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.post(apitest.AnthropicBody("hello", false)), http.StatusOK)
	resp := e.post(apitest.AnthropicBody("hello", false))
	body := wantStatus(t, resp, http.StatusTooManyRequests)
	if !strings.Contains(body, `"rate_limit_error"`) || !strings.Contains(body, "spec.clients[team-a].quota.rpm (1)") {
		t.Fatalf("body %s, want a rate_limit_error naming the rpm quota", body)
	}
	if ra := resp.Header.Get("Retry-After"); ra != "60" {
		t.Fatalf("Retry-After %q, want 60 (one request a minute)", ra)
	}
	e.waitIdle()
	if n := len(e.requests()); n != 1 {
		t.Fatalf("upstream saw %d requests, want 1", n)
	}
	m := e.proxy.metrics
	if n := testutil.ToFloat64(m.clientReqs.WithLabelValues(namespace, poolName, "team-a", "over_quota")); n != 1 {
		t.Fatalf("over_quota %v, want 1", n)
	}
	other := e.do(t.Context(), http.MethodPost, "/v1/messages", apitest.AnthropicBody("hi", false),
		map[string]string{"X-Api-Key": "another-client", "Anthropic-Version": "2023-06-01", "Content-Type": "application/json"})
	wantStatus(t, other, http.StatusOK)
}
