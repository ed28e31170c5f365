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
	"crypto/sha256"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/keypool-dev/keypool-operator/internal/apitest"
	"github.com/keypool-dev/keypool-operator/internal/provider"

	"github.com/keypool-dev/keypool-operator/internal/keypool"
)

func TestClientAuth(t *testing.T) {
	cases := []struct {
		name     string
		provider provider.Provider
		header   map[string]string
		ok       bool
	}{
		{"anthropic x-api-key", provider.Anthropic, map[string]string{"X-Api-Key": clientToken}, true},
		{"anthropic bearer", provider.Anthropic, map[string]string{"Authorization": "Bearer " + clientToken}, true},
		{"bearer scheme is case-insensitive", provider.Anthropic, map[string]string{"Authorization": "bearer " + clientToken}, true},
		{"either header may match", provider.Anthropic, map[string]string{"X-Api-Key": "stale", "Authorization": "Bearer " + clientToken}, true},
		{"anthropic wrong x-api-key", provider.Anthropic, map[string]string{"X-Api-Key": "wrong"}, false},
		{"anthropic wrong bearer", provider.Anthropic, map[string]string{"Authorization": "Bearer wrong"}, false},
		{"anthropic basic auth", provider.Anthropic, map[string]string{"Authorization": "Basic " + clientToken}, false},
		{"anthropic no credentials", provider.Anthropic, nil, false},
		{"anthropic pool key is no client token", provider.Anthropic, map[string]string{"X-Api-Key": keyValue(1)}, false},
		{"openai bearer", provider.OpenAI, map[string]string{"Authorization": "Bearer " + clientToken}, true},
		{"openai x-api-key", provider.OpenAI, map[string]string{"X-Api-Key": clientToken}, true},
		{"openai wrong bearer", provider.OpenAI, map[string]string{"Authorization": "Bearer wrong"}, false},
		{"openai no credentials", provider.OpenAI, nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envConfig{provider: tc.provider})
			path, body := "/v1/messages", apitest.AnthropicBody("hello", false)
			if tc.provider == provider.OpenAI {
				path, body = "/v1/chat/completions", apitest.OpenAIBody("hello", false)
			}
			h := map[string]string{"Content-Type": "application/json"}
			for k, v := range tc.header {
				h[k] = v
			}
			resp := e.do(t.Context(), http.MethodPost, path, body, h)
			if !tc.ok {
				got := wantStatus(t, resp, http.StatusUnauthorized)
				// The refusal is in the shape the request looks like, not
				// the pool's (TestRefusalSameWhateverThePool): a Bearer
				// token alone on /v1/messages is the OpenAI SDK's habit.
				if tc.provider == provider.OpenAI || strings.HasPrefix(tc.header["Authorization"], "Bearer ") && tc.header["X-Api-Key"] == "" {
					apitest.WantOpenAIError(t, got, "authentication_error", "invalid_api_key")
				} else {
					apitest.WantAnthropicError(t, got, "authentication_error")
				}
				if n := len(e.requests()); n != 0 {
					t.Fatalf("upstream saw %d requests from an unauthenticated client", n)
				}
				return
			}
			wantStatus(t, resp, http.StatusOK)
			if got := resp.Header.Get(HeaderKey); got != "keys/k1" {
				t.Errorf("%s = %q, want keys/k1", HeaderKey, got)
			}
			if got := resp.Header.Get(HeaderAttempts); got != "1" {
				t.Errorf("%s = %q, want 1", HeaderAttempts, got)
			}
			wantUpstreamCredentials(t, e, tc.provider)
			e.waitIdle()
		})
	}
}

// wantUpstreamCredentials checks that the upstream saw exactly the pool key,
// in the provider's header, and nothing of the client's credentials.
func wantUpstreamCredentials(t *testing.T, e *env, prov provider.Provider) {
	t.Helper()
	reqs := e.requests()
	if len(reqs) != 1 {
		t.Fatalf("upstream saw %d requests, want 1", len(reqs))
	}
	h := reqs[0].Header
	for k, vs := range h {
		for _, v := range vs {
			if v == clientToken || v == "Bearer "+clientToken || v == "stale" {
				t.Errorf("client credential reached the upstream in %s", k)
			}
		}
	}
	if prov == provider.OpenAI {
		if got := h.Values("Authorization"); !slices.Equal(got, []string{"Bearer " + keyValue(1)}) {
			t.Errorf("upstream Authorization = %q, want the pool key", got)
		}
		if got := h.Values("X-Api-Key"); len(got) != 0 {
			t.Errorf("upstream x-api-key = %q, want none", got)
		}
		return
	}
	if got := h.Values("X-Api-Key"); !slices.Equal(got, []string{keyValue(1)}) {
		t.Errorf("upstream x-api-key = %q, want the pool key", got)
	}
	if got := h.Values("Authorization"); len(got) != 0 {
		t.Errorf("upstream Authorization = %q, want none", got)
	}
}

func TestUnauthenticatedPoolStillStripsCredentials(t *testing.T) {
	e := newEnv(t, envConfig{allowUnauth: true})
	resp := e.do(t.Context(), http.MethodPost, "/v1/messages", apitest.AnthropicBody("hi", false),
		map[string]string{"Content-Type": "application/json"})
	wantStatus(t, resp, http.StatusOK)

	resp = e.do(t.Context(), http.MethodPost, "/v1/messages", apitest.AnthropicBody("hi", false),
		map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + clientToken})
	wantStatus(t, resp, http.StatusOK)
	reqs := e.requests()
	if len(reqs) != 2 {
		t.Fatalf("upstream saw %d requests, want 2", len(reqs))
	}
	for _, r := range reqs {
		if r.Header.Get("Authorization") != "" || r.Header.Get("X-Api-Key") != keyValue(1) {
			t.Errorf("upstream credentials: Authorization=%q x-api-key=%q", r.Header.Get("Authorization"), r.Header.Get("X-Api-Key"))
		}
	}
	e.waitIdle()
}

func TestAuthenticateUnit(t *testing.T) {
	acc := &keypool.Access{}
	if _, ok := authenticate(acc, http.Header{"X-Api-Key": {clientToken}}, ""); ok {
		t.Error("a pool without client tokens must accept nobody")
	}
	if _, ok := authenticate(&keypool.Access{AllowUnauthenticated: true}, http.Header{}, ""); !ok {
		t.Error("an unauthenticated pool must accept everybody")
	}
	if _, ok := bearerToken("Bearer "); ok {
		t.Error("empty bearer token accepted")
	}
	sum := sha256.Sum256([]byte(clientToken))
	acc = &keypool.Access{ClientTokenHashes: [][sha256.Size]byte{sum}}
	for _, tc := range []struct {
		name  string
		h     http.Header
		query string
		want  bool
	}{
		{"azure api-key", http.Header{"Api-Key": {clientToken}}, "", true},
		{"gemini x-goog-api-key", http.Header{"X-Goog-Api-Key": {clientToken}}, "", true},
		{"gemini key parameter", http.Header{}, "alt=sse&key=" + clientToken, true},
		{"escaped key parameter", http.Header{}, "%6Bey=" + clientToken, true},
		{"wrong header, right parameter", http.Header{"X-Goog-Api-Key": {"stale"}}, "key=" + clientToken, true},
		{"wrong key parameter", http.Header{}, "key=wrong", false},
		{"other parameter", http.Header{}, "apikey=" + clientToken, false},
		{"empty key parameter", http.Header{}, "key=", false},
		{"wrong api-key", http.Header{"Api-Key": {"wrong"}}, "", false},
	} {
		if _, got := authenticate(acc, tc.h, tc.query); got != tc.want {
			t.Errorf("%s: authenticate = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestUpstreamQuery: the key parameter never goes upstream, whatever its
// spelling and whatever a provider's allowlist says; the rest is the
// provider's allowlist (see TestOnlyDocumentedQueryParameters).
func TestUpstreamQuery(t *testing.T) {
	for in, want := range map[string]string{
		"":                                  "",
		"alt=sse":                           "alt=sse",
		"alt=sse&key=tok":                   "alt=sse",
		"key=tok&alt=sse":                   "alt=sse",
		"key=a&key=b":                       "",
		"%6Bey=tok&api-version=2024-10-21":  "api-version=2024-10-21",
		"monkey=1&keys=2&key":               "monkey=1&keys=2",
		"monkey=1&keys=2":                   "monkey=1&keys=2",
		"api-version=2024-10-21&x=%ZZ&key=": "api-version=2024-10-21&x=%ZZ",
		"%ZZ=1&alt=sse":                     "alt=sse",
		"alt=sse&&alt=json":                 "alt=sse&alt=json",
	} {
		if got := upstreamQuery(in, allParams{}); got != want {
			t.Errorf("upstreamQuery(%q) = %q, want %q", in, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { upstreamQuery("api-version=2024-10-21&limit=2", provider.Azure) }); n != 0 {
		t.Errorf("a query of allowed parameters allocates %v times", n)
	}
}

// allParams is a provider whose allowlist has every query parameter, even
// key.
type allParams struct{ provider.Provider }

func (allParams) ForwardsQueryParam(string) bool { return true }

// TestAuthenticateNamesTheClient: the name is the one configured for the
// matching token, whichever header carries it; a token without a name is
// an unnamed client; a wrong token is nobody.
func TestAuthenticateNamesTheClient(t *testing.T) {
	acc := &keypool.Access{
		ClientTokenHashes: [][sha256.Size]byte{sha256.Sum256([]byte("tok-a")), sha256.Sum256([]byte("tok-b")),
			sha256.Sum256([]byte("tok-c"))},
		ClientNames: []string{"team-a", "team-b"}, // tok-c has no name
	}
	for _, tc := range []struct {
		h      http.Header
		client string
		ok     bool
	}{
		{http.Header{"X-Api-Key": {"tok-a"}}, "team-a", true},
		{http.Header{"Authorization": {"Bearer tok-b"}}, "team-b", true},
		{http.Header{"X-Api-Key": {"nope"}, "Authorization": {"bearer tok-b"}}, "team-b", true},
		{http.Header{"X-Api-Key": {"tok-c"}}, "", true},
		{http.Header{"X-Api-Key": {"tok-d"}}, "", false},
	} {
		client, ok := authenticate(acc, tc.h, "")
		if client != tc.client || ok != tc.ok {
			t.Errorf("%v: got %q %v, want %q %v", tc.h, client, ok, tc.client, tc.ok)
		}
	}
	h := http.Header{"X-Api-Key": {"tok-b"}}
	if n := testing.AllocsPerRun(100, func() { _, _ = authenticate(acc, h, "") }); n != 0 {
		t.Errorf("authenticate allocates %v times", n)
	}
}
