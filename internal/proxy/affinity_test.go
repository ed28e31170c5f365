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
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/keypool-dev/keypool-operator/internal/apitest"
	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/provider"
	"github.com/keypool-dev/keypool-operator/internal/proxytest"
)

// cachedTurn is turn n of a conversation with a cached 1500-token system
// prompt (the fake counts 4 bytes a token), in Anthropic's shape; with
// user, it carries metadata.user_id.
func cachedTurn(t *testing.T, n int, user string) string {
	t.Helper()
	msgs := []any{}
	for i := range n {
		if i > 0 {
			msgs = append(msgs, map[string]any{"role": "assistant", "content": "reply " + strings.Repeat("r", i)})
		}
		msgs = append(msgs, map[string]any{"role": "user", "content": "question " + strings.Repeat("q", i)})
	}
	req := map[string]any{
		"model": "claude-test", "max_tokens": 16, "messages": msgs,
		"system": []any{map[string]any{"type": "text", "text": strings.Repeat("rule ", 1200),
			"cache_control": map[string]any{"type": "ephemeral"}}},
	}
	if user != "" {
		req["metadata"] = map[string]any{"user_id": user}
	}
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// affinityEnv is three keys of three organisations in one tier, taken in
// turn (round-robin), so that without affinity a conversation's turns
// would go to every organisation.
func affinityEnv(t *testing.T, on bool) *env {
	t.Helper()
	keys := proxytest.Keys([]string{keyValue(1), keyValue(2), keyValue(3)}, false)
	e := newEnv(t, envConfig{provider: provider.Anthropic, keys: keys})
	if err := e.pool.Update(keypool.PoolConfig{Keys: keys, Access: *e.pool.Access(), Strategy: keypool.StrategyRoundRobin,
		Affinity: on}); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestAffinityKeepsConversationOnOneOrganisation(t *testing.T) {
	e := affinityEnv(t, true)
	var first string
	for turn := 1; turn <= 4; turn++ {
		resp := e.post(cachedTurn(t, turn, ""))
		wantStatus(t, resp, http.StatusOK)
		key := resp.Header.Get(HeaderKey)
		if turn == 1 {
			first = key
		} else if key != first {
			t.Fatalf("turn %d went to %s, want %s with the cached prefix", turn, key, first)
		}
		// Unrelated traffic in between moves round-robin on.
		wantStatus(t, e.post(cachedTurn(t, 1, "someone-else")), http.StatusOK)
	}
	e.waitIdle()
	// The conversation's three later turns read at least the system prompt
	// from the cache; the other user's requests may read or write it too,
	// and the metrics count whatever the provider reported.
	var read, created int64
	for _, ks := range e.fake.Stats().Keys {
		read += ks.CacheReadTokens
		created += ks.CacheCreationTokens
	}
	if read < 3*1500 {
		t.Fatalf("cache reads %d tokens, want at least the three later turns' 4500", read)
	}
	got := testutil.ToFloat64(e.proxy.metrics.tokens.WithLabelValues(namespace, poolName, "cache_read"))
	if got != float64(read) {
		t.Fatalf("cache_read tokens metric %v, want the provider's %d", got, read)
	}
	if w := testutil.ToFloat64(e.proxy.metrics.tokens.WithLabelValues(namespace, poolName, "cache_creation")); w != float64(created) {
		t.Fatalf("cache_creation tokens metric %v, want the provider's %d", w, created)
	}
	st := e.pool.AffinityStats()
	if st.Hits < 3 {
		t.Fatalf("affinity stats %+v, want the conversation's 3 later turns as hits", st)
	}
	// The same counts, as keypool_affinity_total.
	for result, want := range map[string]int64{"hit": st.Hits, "move": st.Moves, "miss": st.Misses} {
		m := &dto.Metric{}
		found := false
		mfs, err := e.prom.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "keypool_affinity_total" {
				continue
			}
			for _, x := range mf.GetMetric() {
				for _, l := range x.GetLabel() {
					if l.GetName() == "result" && l.GetValue() == result {
						m, found = x, true
					}
				}
			}
		}
		if !found || int64(m.GetCounter().GetValue()) != want {
			t.Fatalf("keypool_affinity_total{result=%q}: found %v, %v; want %d", result, found, m.GetCounter().GetValue(), want)
		}
	}
}

func TestWithoutAffinityConversationSpreads(t *testing.T) {
	e := affinityEnv(t, false)
	seen := map[string]bool{}
	for turn := 1; turn <= 3; turn++ {
		resp := e.post(cachedTurn(t, turn, ""))
		wantStatus(t, resp, http.StatusOK)
		seen[resp.Header.Get(HeaderKey)] = true
	}
	e.waitIdle()
	if len(seen) != 3 {
		t.Fatalf("round-robin without affinity used %d keys, want 3", len(seen))
	}
	if read := e.fake.Stats().Total.CacheReadTokens; read != 0 {
		t.Fatalf("cache reads %d, want none: every turn went to another organisation", read)
	}
}

func TestNoAffinitySeriesWithoutAffinity(t *testing.T) {
	e := affinityEnv(t, false)
	wantStatus(t, e.post(cachedTurn(t, 1, "")), http.StatusOK)
	e.waitIdle()
	if n := testutil.CollectAndCount(NewAffinityCollector(e.reg)); n != 0 {
		t.Fatalf("%d affinity series for a pool without affinity", n)
	}
}

// BenchmarkProxyAffinity is BenchmarkProxy's request (through the proxy to
// the fake provider) with the pool's affinity off and on: on, the proxy
// hashes the body's head and the pool looks the hash up and remembers it.
func BenchmarkProxyAffinity(b *testing.B) {
	prompt := strings.Repeat("benchmark prompt text ", 50) + "[[output_tokens=64]]"
	body := apitest.AnthropicBody(prompt, false)
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("affinity=%v", on), func(b *testing.B) {
			st := proxytest.New(b, proxytest.Config{
				KeyValues:    []string{keyValue(1), keyValue(2)},
				ClientTokens: []string{clientToken},
				Transport:    &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true},
				Quiet:        true,
				NoRecording:  true,
			}, func(w proxytest.Wiring) http.Handler {
				return New(w.Registry, Options{Logger: w.Logger, Transport: w.Transport, Metrics: w.Metrics})
			})
			keys := proxytest.Keys([]string{keyValue(1), keyValue(2)}, false)
			if err := st.Pool.Update(keypool.PoolConfig{Keys: keys, Access: *st.Pool.Access(), Affinity: on}); err != nil {
				b.Fatal(err)
			}
			tr := &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}
			b.Cleanup(tr.CloseIdleConnections)
			t := &benchTarget{url: st.Base + "/v1/messages", header: proxytest.ClientHeader(provider.Anthropic, clientToken),
				client: &http.Client{Transport: tr}}
			t.roundTrip(b, body) // warm the connections
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				t.roundTrip(b, body)
			}
		})
	}
}
