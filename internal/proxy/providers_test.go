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
	"time"

	"github.com/keypool-dev/keypool-operator/internal/fakeprovider"
	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/provider"
	"github.com/keypool-dev/keypool-operator/internal/proxytest"
)

const geminiGenerate = "/v1beta/models/gemini-2.5-flash:generateContent"

// geminiBody is a generateContent request of 40 bytes of text (10 tokens).
const geminiBody = `{"contents":[{"role":"user","parts":[{"text":"` + "0123456789012345678901234567890123456789" + `"}]}]}`

// tieredLimitedKeys are the default three tiers of keys, each with token
// limits, so that what the pool settled shows in the remaining counts (the
// clock is frozen: nothing refills).
func tieredLimitedKeys() []keypool.KeyConfig {
	keys := proxytest.Keys([]string{keyValue(1), keyValue(2), keyValue(3)}, true)
	for i := range keys {
		keys[i].ITPMLimit, keys[i].OTPMLimit = 10_000, 10_000
	}
	return keys
}

// TestGeminiRetryInfoCoolsTheKey: Gemini's 429 carries its wait only in the
// body's RetryInfo; the pool cools the key for exactly that long and the
// request goes to the next key.
func TestGeminiRetryInfoCoolsTheKey(t *testing.T) {
	e := newEnv(t, envConfig{provider: provider.Gemini, keys: tieredLimitedKeys()})
	if err := e.fake.SetFault(fakeprovider.Fault{Kind: fakeprovider.FaultRateLimit, Key: keyValue(1), Count: 1, RetryAfter: 37 * time.Second}); err != nil {
		t.Fatal(err)
	}
	resp := e.do(t.Context(), http.MethodPost, geminiGenerate, geminiBody,
		map[string]string{"X-Goog-Api-Key": clientToken, "Content-Type": "application/json"})
	body := wantStatus(t, resp, http.StatusOK)
	if resp.Header.Get(HeaderKey) != "keys/k2" || resp.Header.Get(HeaderAttempts) != "2" {
		t.Fatalf("served by %q after %q attempts, want keys/k2 after 2", resp.Header.Get(HeaderKey), resp.Header.Get(HeaderAttempts))
	}
	if !strings.Contains(body, `"usageMetadata"`) {
		t.Errorf("body %s", body)
	}
	e.waitIdle()
	k1 := e.keyStats("keys/k1")
	if k1.State != keypool.StateCoolingDown || !k1.CooldownUntil.Equal(t0.Add(37*time.Second)) {
		t.Errorf("keys/k1 %v until %v, want CoolingDown until t0+37s (the RetryInfo)", k1.State, k1.CooldownUntil)
	}
	// The 429's body had no Retry-After header for the key's own use: the
	// pool learned it from the body alone.
	for _, r := range e.requests() {
		if r.Header.Get("X-Goog-Api-Key") == clientToken || r.Header.Get("X-Goog-Api-Key") == "" {
			t.Errorf("upstream x-goog-api-key %q, want a pool key", r.Header.Get("X-Goog-Api-Key"))
		}
	}
	// Usage counted from usageMetadata: 10 prompt tokens, 32 output tokens.
	k2 := e.keyStats("keys/k2")
	if k2.ITPMRemaining != 10_000-10 || k2.OTPMRemaining != 10_000-fakeprovider.DefaultOutputTokens {
		t.Errorf("keys/k2 remaining ITPM %d OTPM %d, want the response's usage taken", k2.ITPMRemaining, k2.OTPMRemaining)
	}
}

// TestGeminiKeyParameter: a client token in Google's key query parameter
// authenticates, and the parameter never reaches the upstream; the SSE
// stream's usage is counted.
func TestGeminiKeyParameter(t *testing.T) {
	e := newEnv(t, envConfig{provider: provider.Gemini, keys: tieredLimitedKeys()})
	resp := e.do(t.Context(), http.MethodPost, "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key="+clientToken,
		geminiBody, map[string]string{"Content-Type": "application/json"})
	body := wantStatus(t, resp, http.StatusOK)
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") || !strings.Contains(body, "\r\n\r\n") {
		t.Fatalf("stream %v %q", resp.Header, body)
	}
	e.waitIdle()
	reqs := e.requests()
	if len(reqs) != 1 || reqs[0].RawQuery != "alt=sse" || reqs[0].Header.Get("X-Goog-Api-Key") != keyValue(1) {
		t.Fatalf("upstream saw %+v, want alt=sse only and the pool key", reqs)
	}
	k1 := e.keyStats("keys/k1")
	if k1.ITPMRemaining != 10_000-10 || k1.OTPMRemaining != 10_000-fakeprovider.DefaultOutputTokens {
		t.Errorf("remaining ITPM %d OTPM %d after a stream", k1.ITPMRemaining, k1.OTPMRemaining)
	}
	resp = e.do(t.Context(), http.MethodPost, geminiGenerate+"?key=wrong", geminiBody, nil)
	if body := wantStatus(t, resp, http.StatusUnauthorized); !strings.Contains(body, `"UNAUTHENTICATED"`) {
		t.Errorf("wrong key parameter: %s", body)
	}
}

// TestGeminiBadKeyFailsOver: Gemini blames a bad key with a 400
// API_KEY_INVALID, not a 401; the request moves on and the re-check rejects
// the key. A 400 about the request itself goes to the client as it came.
func TestGeminiBadKeyFailsOver(t *testing.T) {
	e := newEnv(t, envConfig{provider: provider.Gemini})
	if err := e.fake.RevokeKey(keyValue(1)); err != nil {
		t.Fatal(err)
	}
	h := map[string]string{"X-Goog-Api-Key": clientToken, "Content-Type": "application/json"}
	resp := e.do(t.Context(), http.MethodPost, geminiGenerate, geminiBody, h)
	wantStatus(t, resp, http.StatusOK)
	if resp.Header.Get(HeaderKey) != "keys/k2" || resp.Header.Get(HeaderAttempts) != "2" {
		t.Fatalf("served by %q after %q attempts", resp.Header.Get(HeaderKey), resp.Header.Get(HeaderAttempts))
	}
	e.waitIdle()
	e.proxy.checks.Wait() // the key's re-check confirms the verdict
	if s := e.keyStats("keys/k1").State; s != keypool.StateRejected {
		t.Fatalf("keys/k1 is %v, want Rejected after the re-check", s)
	}

	before := len(e.requests())
	resp = e.do(t.Context(), http.MethodPost, geminiGenerate, `{"contents":[]}`, h)
	if body := wantStatus(t, resp, http.StatusBadRequest); !strings.Contains(body, "contents is not specified") {
		t.Errorf("bad request answer %s", body)
	}
	if n := len(e.requests()) - before; n != 1 || resp.Header.Get(HeaderAttempts) != "1" {
		t.Errorf("a bad request was sent %d times (attempts %q), want once", n, resp.Header.Get(HeaderAttempts))
	}
}

// TestAzureThroughPool: api-key in and out, the deployment path and its
// api-version forwarded, a 429's retry-after-ms cooling the key, and Azure's
// 401 retiring a bad key.
func TestAzureThroughPool(t *testing.T) {
	e := newEnv(t, envConfig{provider: provider.Azure, keys: tieredLimitedKeys()})
	if err := e.fake.SetFault(fakeprovider.Fault{Kind: fakeprovider.FaultRateLimit, Key: keyValue(1), Count: 1, RetryAfter: 37 * time.Second}); err != nil {
		t.Fatal(err)
	}
	const path = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
	body := `{"messages":[{"role":"user","content":"0123456789012345678901234567890123456789"}]}`
	h := map[string]string{"Api-Key": clientToken, "Content-Type": "application/json"}
	resp := e.do(t.Context(), http.MethodPost, path, body, h)
	wantStatus(t, resp, http.StatusOK)
	if resp.Header.Get(HeaderKey) != "keys/k2" || resp.Header.Get(HeaderAttempts) != "2" || resp.Header.Get("Apim-Request-Id") == "" {
		t.Fatalf("answer headers %v", resp.Header)
	}
	e.waitIdle()
	if k1 := e.keyStats("keys/k1"); !k1.CooldownUntil.Equal(t0.Add(37 * time.Second)) {
		t.Errorf("keys/k1 cooling until %v, want t0+37s", k1.CooldownUntil)
	}
	for _, r := range e.requests() {
		if r.RawQuery != "api-version=2024-10-21" || r.Path != "/openai/deployments/gpt-4o/chat/completions" ||
			r.Header.Get("Api-Key") == clientToken || r.Header.Get("Authorization") != "" {
			t.Errorf("upstream saw %s?%s with %v", r.Path, r.RawQuery, r.Header)
		}
	}
	if k2 := e.keyStats("keys/k2"); k2.ITPMRemaining != 10_000-10 || k2.OTPMRemaining != 10_000-fakeprovider.DefaultOutputTokens {
		t.Errorf("keys/k2 remaining ITPM %d OTPM %d", k2.ITPMRemaining, k2.OTPMRemaining)
	}

	if err := e.fake.RevokeKey(keyValue(2)); err != nil {
		t.Fatal(err)
	}
	resp = e.do(t.Context(), http.MethodPost, path, body, h)
	wantStatus(t, resp, http.StatusOK)
	if resp.Header.Get(HeaderKey) != "keys/k3" {
		t.Fatalf("served by %q, want keys/k3 after keys/k2's 401", resp.Header.Get(HeaderKey))
	}
	e.waitIdle()
	e.proxy.checks.Wait() // the key's re-check confirms the verdict
	if s := e.keyStats("keys/k2").State; s != keypool.StateRejected {
		t.Fatalf("keys/k2 is %v, want Rejected after the re-check", s)
	}
}
