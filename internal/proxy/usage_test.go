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
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/keypool-dev/keypool-operator/internal/apitest"
	"github.com/keypool-dev/keypool-operator/internal/provider"
	"github.com/keypool-dev/keypool-operator/internal/proxytest"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/keypool-dev/keypool-operator/internal/keypool"
)

const tokenLimit = 100_000

// limitedKeys gives keys/k1 input and output limits, so the pool's remaining
// capacity shows exactly what was settled (the pool clock is frozen, so
// nothing refills).
func limitedKeys() []keypool.KeyConfig {
	keys := proxytest.Keys([]string{keyValue(1), keyValue(2), keyValue(3)}, true)
	keys[0].ITPMLimit, keys[0].OTPMLimit = tokenLimit, tokenLimit
	return keys
}

func TestUsageSettled(t *testing.T) {
	// The fake provider counts a prompt's text bytes/4 as input tokens, and
	// the directive fixes the output tokens.
	prompt := strings.Repeat("count me ", 40) + "[[output_tokens=57]]"
	for _, prov := range []provider.Provider{provider.Anthropic, provider.OpenAI} {
		for _, stream := range []bool{false, true} {
			name := prov.Name() + "/json"
			if stream {
				name = prov.Name() + "/sse"
			}
			t.Run(name, func(t *testing.T) {
				e := newEnv(t, envConfig{provider: prov, keys: limitedKeys()})
				body := apitest.AnthropicBody(prompt, stream)
				if prov == provider.OpenAI {
					body = apitest.OpenAIBody(prompt, stream)
				}
				resp := e.post(body)
				got := wantStatus(t, resp, http.StatusOK)
				wantCT := "application/json"
				if stream {
					wantCT = "text/event-stream"
				}
				if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, wantCT) {
					t.Fatalf("Content-Type %q, want %s", ct, wantCT)
				}
				if stream && !strings.Contains(got, "[DONE]") && !strings.Contains(got, "message_stop") {
					t.Fatalf("stream incomplete: %s", got)
				}
				e.waitIdle()

				fs := e.fake.Stats().Keys[keyValue(1)]
				if fs.InputTokens <= 0 || fs.OutputTokens != 57 {
					t.Fatalf("fake provider charged %d/%d tokens", fs.InputTokens, fs.OutputTokens)
				}
				ks := e.keyStats("keys/k1")
				if ks.ITPMRemaining != tokenLimit-fs.InputTokens || ks.OTPMRemaining != tokenLimit-fs.OutputTokens {
					t.Errorf("pool remaining ITPM %d OTPM %d, want %d %d (settled with the real usage)",
						ks.ITPMRemaining, ks.OTPMRemaining, tokenLimit-fs.InputTokens, tokenLimit-fs.OutputTokens)
				}
				m := e.proxy.metrics.tokens
				if in := testutil.ToFloat64(m.WithLabelValues(namespace, e.poolName(), "input")); in != float64(fs.InputTokens) {
					t.Errorf("input tokens metric %v, want %d", in, fs.InputTokens)
				}
				if out := testutil.ToFloat64(m.WithLabelValues(namespace, e.poolName(), "output")); out != 57 {
					t.Errorf("output tokens metric %v, want 57", out)
				}
			})
		}
	}
}

// TestStreamUsageAskedForTheClient: an OpenAI stream request without
// stream_options reports no usage; the proxy asks the upstream for it, the
// key and the client's budget are charged the real usage, and the client's
// stream has no usage chunk it did not ask for.
func TestStreamUsageAskedForTheClient(t *testing.T) {
	keys := limitedKeys()
	e := newEnv(t, envConfig{provider: provider.OpenAI, keys: keys, clientNames: []string{"team-b", "team-a"}})
	budgeted(t, e, keys, 10*tokenLimit)
	prompt := strings.Repeat("count me ", 40) + "[[output_tokens=57]]"
	reported := apitest.OpenAIBody(prompt, true)
	unasked := strings.Replace(reported, `,"stream_options":{"include_usage":true}`, "", 1)
	if unasked == reported {
		t.Fatalf("no stream_options to drop in %s", reported)
	}
	got := wantStatus(t, e.post(unasked), http.StatusOK)
	if strings.Contains(got, `"usage":{`) || !strings.Contains(got, "[DONE]") || !strings.Contains(got, `"finish_reason":"stop"`) {
		t.Fatalf("the client's stream, which asked for no usage: %s", got)
	}
	e.waitIdle()
	fs := e.fake.Stats().Keys[keyValue(1)]
	ks := e.keyStats("keys/k1")
	if fs.OutputTokens != 57 || ks.ITPMRemaining != tokenLimit-fs.InputTokens || ks.OTPMRemaining != tokenLimit-57 {
		t.Errorf("pool remaining ITPM %d OTPM %d, want %d %d (the real usage)", ks.ITPMRemaining, ks.OTPMRemaining,
			tokenLimit-fs.InputTokens, tokenLimit-57)
	}
	if spent := e.spent("team-a"); spent != fs.InputTokens+57 {
		t.Errorf("team-a's budget spent %d tokens, want %d", spent, fs.InputTokens+57)
	}
	// The metric counts only reported usage: the upstream was asked.
	if out := testutil.ToFloat64(e.proxy.metrics.tokens.WithLabelValues(namespace, e.poolName(), "output")); out != 57 {
		t.Errorf("output tokens metric %v, want 57 (reported)", out)
	}
}

func TestCacheUsageSettled(t *testing.T) {
	e := newEnv(t, envConfig{
		keys: limitedKeys(),
		upstream: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"type":"message","content":[{"type":"text","text":"{\"usage\":{\"input_tokens\":999}}"}],`+
				`"usage":{"input_tokens":10,"cache_creation_input_tokens":20,"cache_read_input_tokens":30,"output_tokens":5}}`)
		}),
	})
	wantStatus(t, e.post(apitest.AnthropicBody("hi", false)), http.StatusOK)
	e.waitIdle()
	ks := e.keyStats("keys/k1")
	// Anthropic counts cache writes, not cache reads, against the input limit.
	if ks.ITPMRemaining != tokenLimit-30 || ks.OTPMRemaining != tokenLimit-5 {
		t.Errorf("pool remaining ITPM %d OTPM %d", ks.ITPMRemaining, ks.OTPMRemaining)
	}
	for dir, want := range map[string]float64{"input": 10, "output": 5, "cache_creation": 20, "cache_read": 30} {
		if got := testutil.ToFloat64(e.proxy.metrics.tokens.WithLabelValues(namespace, poolName, dir)); got != want {
			t.Errorf("%s tokens %v, want %v", dir, got, want)
		}
	}
}

func (e *env) poolName() string {
	if e.pool.Provider() == provider.OpenAI {
		return "gpt"
	}
	return poolName
}
