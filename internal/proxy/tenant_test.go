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
	"sync/atomic"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/apitest"
	"github.com/keypool-dev/keypool-operator/internal/fakeprovider"
	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/provider"
)

// These tests play a hostile or careless tenant against a shared pool: no
// request may retire a key that is fine, and nothing a client sends may
// reach the upstream twice when the upstream may have acted on it.

// wantNoKeyRejected fails when any key of e's pool was retired.
func (e *env) wantNoKeyRejected() {
	e.t.Helper()
	e.waitIdle()
	e.proxy.checks.Wait()
	for _, k := range e.pool.GetStats().Keys {
		if k.State == keypool.StateRejected {
			e.t.Errorf("%s was retired by what a client sent (%s)", k.ID, k.LastError)
		}
	}
}

// TestClientOrganizationHeaderRetiresNoKey: an OpenAI SDK configured with
// another organisation (OPENAI_ORG_ID) sends OpenAI-Organization; the API
// answers such a mismatch with 401 mismatched_organization. The header never
// reaches the upstream, so the request succeeds and no key is retired.
func TestClientOrganizationHeaderRetiresNoKey(t *testing.T) {
	e := newEnv(t, envConfig{provider: provider.OpenAI})
	for range 3 {
		resp := e.do(t.Context(), http.MethodPost, "/v1/chat/completions", apitest.OpenAIBody("hi", false), map[string]string{
			"Authorization": "Bearer " + clientToken, "Content-Type": "application/json", "OpenAI-Organization": "org-someone-else"})
		wantStatus(t, resp, http.StatusOK)
	}
	e.wantNoKeyRejected()
	for _, r := range e.requests() {
		if r.Header.Get("Openai-Organization") != "" {
			t.Fatal("the client's OpenAI-Organization reached the upstream")
		}
	}
}

// TestRequestSpecific403RetiresNoKey: a model outside the keys' access
// answers 403 permission_error for that request only. The client gets the
// provider's 403 after one attempt; no key is retired or skipped, and another
// tenant is served at once.
func TestRequestSpecific403RetiresNoKey(t *testing.T) {
	for _, prov := range []provider.Provider{provider.Anthropic, provider.OpenAI} {
		t.Run(prov.Name(), func(t *testing.T) {
			e := newEnv(t, envConfig{provider: prov})
			body := strings.Replace(apitest.AnthropicBody("hi", false), "claude-test", fakeprovider.RestrictedModelPrefix+"model", 1)
			if prov == provider.OpenAI {
				body = strings.Replace(apitest.OpenAIBody("hi", false), "gpt-test", fakeprovider.RestrictedModelPrefix+"model", 1)
			}
			for range 5 {
				resp := e.post(body)
				wantStatus(t, resp, http.StatusForbidden)
				if got := resp.Header.Get(HeaderAttempts); got != "1" {
					t.Fatalf("attempts %q: a request-specific 403 failed over", got)
				}
			}
			e.wantNoKeyRejected()
			if n := len(e.requests()); n != 5 {
				t.Errorf("upstream saw %d requests for 5 client requests", n)
			}
			body = apitest.AnthropicBody("hi", false)
			if prov == provider.OpenAI {
				body = apitest.OpenAIBody("hi", false)
			}
			resp := e.post(body)
			wantStatus(t, resp, http.StatusOK)
			if got := resp.Header.Get(HeaderKey); got != "keys/k1" {
				t.Errorf("next tenant served by %q, want the first key, keys/k1", got)
			}
		})
	}
}

// TestDocumentedErrorsRetireNoValidKey: whatever error the upstream answers
// with (every one the providers document, including an invalid-key 401 for
// one request), a key whose re-check passes stays in the pool.
func TestDocumentedErrorsRetireNoValidKey(t *testing.T) {
	errors := map[string][]struct {
		status int
		body   string
	}{
		"anthropic": {
			{400, `{"type":"error","error":{"type":"invalid_request_error","message":"x"}}`},
			{401, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`},
			{403, `{"type":"error","error":{"type":"permission_error","message":"x"}}`},
			{404, `{"type":"error","error":{"type":"not_found_error","message":"x"}}`},
			{413, `{"type":"error","error":{"type":"request_too_large","message":"x"}}`},
			{429, `{"type":"error","error":{"type":"rate_limit_error","message":"x"}}`},
			{500, `{"type":"error","error":{"type":"api_error","message":"x"}}`},
			{529, `{"type":"error","error":{"type":"overloaded_error","message":"x"}}`},
		},
		"openai": {
			{401, `{"error":{"message":"x","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`},
			{401, `{"error":{"message":"x","type":"invalid_request_error","param":null,"code":"mismatched_organization"}}`},
			{403, `{"error":{"message":"x","type":"request_forbidden","param":null,"code":"unsupported_country_region_territory"}}`},
			{404, `{"error":{"message":"x","type":"invalid_request_error","param":null,"code":"model_not_found"}}`},
			{429, `{"error":{"message":"x","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`},
			{500, `{"error":{"message":"x","type":"server_error","param":null,"code":null}}`},
			{503, `{"error":{"message":"x","type":"server_error","param":null,"code":null}}`},
		},
	}
	for _, prov := range []provider.Provider{provider.Anthropic, provider.OpenAI} {
		for _, answer := range errors[prov.Name()] {
			t.Run(prov.Name()+"/"+http.StatusText(answer.status), func(t *testing.T) {
				// The upstream answers every API request with the error and
				// every key check (GET /v1/models) with 200: the keys are fine.
				var checks atomic.Int64
				handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "application/json")
					if r.Method == http.MethodGet && r.URL.Path == "/v1/models" {
						checks.Add(1)
						_, _ = w.Write([]byte(`{"data":[]}`))
						return
					}
					w.Header().Set("Retry-After", "1")
					w.WriteHeader(answer.status)
					_, _ = w.Write([]byte(answer.body))
				})
				e := newEnv(t, envConfig{provider: prov, upstream: handler})
				for range 3 {
					e.post(apitest.AnthropicBody("hi", false))
				}
				e.wantNoKeyRejected()
				if prov.KeyInvalid(answer.status, []byte(answer.body)) && checks.Load() == 0 {
					t.Error("an invalid-key answer retired nothing but was not re-checked either")
				}
			})
		}
	}
}

// TestSideEffectsAreNotRepeated: a request that creates state upstream
// (a batch) goes to one key only when the upstream may have processed it;
// only answers that say it was not processed move it to another key.
func TestSideEffectsAreNotRepeated(t *testing.T) {
	cases := []struct {
		name     string
		status   int   // the upstream's answer; 0: no answer in time
		upstream int64 // requests the upstream sees
		client   int   // what the client gets
	}{
		{"500 may have been processed", 500, 1, 500},
		{"502 may have been processed", 502, 1, 502},
		{"no answer before the header timeout", 0, 1, http.StatusBadGateway},
		{"429 was not processed", 429, 3, 429},
		{"529 was not processed", 529, 3, 529},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var seen atomic.Int64
			release := make(chan struct{})
			handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen.Add(1)
				_, _ = io.Copy(io.Discard, r.Body) // so that the server notices the proxy hanging up
				if tc.status == 0 {
					select { // hold the answer until the proxy gave up
					case <-r.Context().Done():
					case <-release:
					}
					return
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(`{"type":"error","error":{"type":"api_error","message":"x"}}`))
			})
			e := newEnv(t, envConfig{upstream: handler, transport: func(rt http.RoundTripper) http.RoundTripper {
				rt.(*http.Transport).ResponseHeaderTimeout = 200 * time.Millisecond
				return rt
			}})
			t.Cleanup(func() { close(release) }) // before the upstream server closes: it waits for the handler
			resp := e.do(t.Context(), http.MethodPost, "/v1/messages/batches", `{"requests":[]}`,
				map[string]string{"X-Api-Key": clientToken, "Anthropic-Version": "2023-06-01", "Content-Type": "application/json"})
			wantStatus(t, resp, tc.client)
			e.waitIdle()
			if n := seen.Load(); n != tc.upstream {
				t.Errorf("the upstream saw the batch %d times, want %d", n, tc.upstream)
			}
		})
	}
}

// TestSafeRequestsStillFailOver: a message (safe to repeat) still moves to
// another key after a 500 or a dropped connection.
func TestSafeRequestsStillFailOver(t *testing.T) {
	var seen atomic.Int64
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if seen.Add(1) == 1 {
			w.WriteHeader(500)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"usage":{"input_tokens":1,"output_tokens":1}}`))
	})
	e := newEnv(t, envConfig{upstream: handler})
	resp := e.post(apitest.AnthropicBody("hi", false))
	wantStatus(t, resp, http.StatusOK)
	if got := resp.Header.Get(HeaderAttempts); got != "2" {
		t.Errorf("attempts %q, want 2", got)
	}
	e.waitIdle()
}
