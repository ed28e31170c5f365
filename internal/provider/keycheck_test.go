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

package provider

import (
	"net/http"
	"net/url"
	"testing"
)

// TestKeyInvalidDocumentedErrors: of every error the providers document,
// only the ones that blame the key itself may start a re-check of it.
func TestKeyInvalidDocumentedErrors(t *testing.T) {
	for _, tc := range []struct {
		prov   Provider
		status int
		body   string
		want   bool
	}{
		{Anthropic, 400, `{"type":"error","error":{"type":"invalid_request_error","message":"x"}}`, false},
		{Anthropic, 401, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`, true},
		{Anthropic, 403, `{"type":"error","error":{"type":"permission_error","message":"Your API key does not have permission to use the specified resource."}}`, false},
		{Anthropic, 404, `{"type":"error","error":{"type":"not_found_error","message":"model: x"}}`, false},
		{Anthropic, 413, `{"type":"error","error":{"type":"request_too_large","message":"x"}}`, false},
		{Anthropic, 429, `{"type":"error","error":{"type":"rate_limit_error","message":"x"}}`, false},
		{Anthropic, 500, `{"type":"error","error":{"type":"api_error","message":"x"}}`, false},
		{Anthropic, 529, `{"type":"error","error":{"type":"overloaded_error","message":"x"}}`, false},
		{Anthropic, 401, `not json`, false},
		{Anthropic, 401, `{"type":"error","error":{"type":"permission_error"}}`, false},
		{OpenAI, 401, `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`, true},
		{OpenAI, 401, `{"error":{"message":"This key is associated with a deactivated account.","type":"invalid_request_error","code":"account_deactivated"}}`, true},
		{OpenAI, 401, `{"error":{"message":"OpenAI-Organization header should match organization for API key","type":"invalid_request_error","code":"mismatched_organization"}}`, false},
		{OpenAI, 401, `{"error":{"message":"You must be a member of an organization to use the API.","type":"invalid_request_error","code":"no_organization"}}`, false},
		{OpenAI, 403, `{"error":{"message":"Country, region, or territory not supported","type":"request_forbidden","code":"unsupported_country_region_territory"}}`, false},
		{OpenAI, 404, `{"error":{"message":"The model does not exist or you do not have access to it.","type":"invalid_request_error","code":"model_not_found"}}`, false},
		{OpenAI, 429, `{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}`, false},
		{OpenAI, 429, `{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`, false},
		{OpenAI, 500, `{"error":{"message":"The server had an error","type":"server_error","code":null}}`, false},
		{OpenAI, 503, `{"error":{"message":"The engine is currently overloaded","type":"server_error","code":null}}`, false},
		{OpenAI, 401, `{"error":{"type":"authentication_error","message":"x"}}`, false},
		{Azure, 401, `{"error":{"code":"401","message":"Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource."}}`, true},
		{Azure, 401, `{"error":{"code":"PermissionDenied","message":"Principal does not have access to API/Operation."}}`, false},
		{Azure, 404, `{"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist."}}`, false},
		{Azure, 429, `{"error":{"code":"429","message":"Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 6 seconds."}}`, false},
		{Azure, 400, `{"error":{"message":"The response was filtered","type":null,"param":"prompt","code":"content_filter","status":400}}`, false},
		{Azure, 401, `garbage`, false},
		{Gemini, 400, geminiBadKey, true},
		{Gemini, 400, `{"error":{"code":400,"message":"API key expired. Please renew the API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}`, true},
		{Gemini, 403, `{"error":{"code":403,"message":"Permission denied: Consumer 'api_key:x' has been suspended.","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"CONSUMER_SUSPENDED","domain":"googleapis.com"}]}}`, true},
		{Gemini, 400, `{"error":{"code":400,"message":"* GenerateContentRequest.contents: contents is not specified","status":"INVALID_ARGUMENT"}}`, false},
		{Gemini, 403, `{"error":{"code":403,"message":"Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.","status":"PERMISSION_DENIED"}}`, false},
		{Gemini, 404, `{"error":{"code":404,"message":"models/gemini-9 is not found for API version v1beta","status":"NOT_FOUND"}}`, false},
		{Gemini, 429, geminiQuota429, false},
		{Gemini, 500, geminiBadKey, false},
		{Gemini, 400, `garbage`, false},
	} {
		if got := tc.prov.KeyInvalid(tc.status, []byte(tc.body)); got != tc.want {
			t.Errorf("%s KeyInvalid(%d, %.80s) = %v, want %v", tc.prov.Name(), tc.status, tc.body, got, tc.want)
		}
	}
}

// sent is r as base sees it when sent through p's Authenticate with key.
func sent(t *testing.T, p Provider, key string, r *http.Request) *http.Request {
	t.Helper()
	var got *http.Request
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		got = r
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: r}, nil
	})
	if _, err := p.Authenticate(base, key).RoundTrip(r); err != nil {
		t.Fatal(err)
	}
	return got
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestKeyCheck(t *testing.T) {
	base, _ := url.Parse("https://gw.example/anthropic/?x=1")
	r := sent(t, Anthropic, "sk-1", Anthropic.KeyCheck(base))
	if r.Method != http.MethodGet || r.URL.String() != "https://gw.example/anthropic/v1/models?limit=1" ||
		r.Header.Get("X-Api-Key") != "sk-1" || r.Header.Get("Anthropic-Version") == "" {
		t.Errorf("anthropic check %s %s %v", r.Method, r.URL, r.Header)
	}
	base, _ = url.Parse("https://api.openai.com")
	r = sent(t, OpenAI, "sk-2", OpenAI.KeyCheck(base))
	if r.URL.String() != "https://api.openai.com/v1/models" || r.Header.Get("Authorization") != "Bearer sk-2" {
		t.Errorf("openai check %s %v", r.URL, r.Header)
	}
	base, _ = url.Parse("https://my-resource.openai.azure.com/")
	r = sent(t, Azure, "az-1", Azure.KeyCheck(base))
	if r.URL.String() != "https://my-resource.openai.azure.com/openai/models?api-version=2024-10-21" || r.Header.Get("Api-Key") != "az-1" {
		t.Errorf("azure check %s %v", r.URL, r.Header)
	}
	base, _ = url.Parse("https://generativelanguage.googleapis.com")
	r = sent(t, Gemini, "AIza-1", Gemini.KeyCheck(base))
	if r.URL.String() != "https://generativelanguage.googleapis.com/v1beta/models?pageSize=1" || r.Header.Get("X-Goog-Api-Key") != "AIza-1" {
		t.Errorf("gemini check %s %v", r.URL, r.Header)
	}
}

func TestSafeToRepeat(t *testing.T) {
	for _, tc := range []struct {
		prov         Provider
		method, path string
		want         bool
	}{
		{Anthropic, "POST", "/v1/messages", true},
		{Anthropic, "POST", "/v1/messages/count_tokens", true},
		{Anthropic, "POST", "/v1/messages/batches", false},
		{Anthropic, "POST", "/v1/files", false},
		{Anthropic, "DELETE", "/v1/files/f1", false},
		{Anthropic, "GET", "/v1/messages/batches/b1", true},
		{OpenAI, "POST", "/v1/chat/completions", true},
		{OpenAI, "POST", "/v1/embeddings", true},
		{OpenAI, "POST", "/v1/responses", false},
		{OpenAI, "POST", "/v1/batches", false},
		{OpenAI, "POST", "/v1/files", false},
		{OpenAI, "GET", "/v1/models", true},
		{Azure, "POST", "/openai/deployments/gpt-4o/chat/completions", true},
		{Azure, "POST", "/openai/deployments/emb/embeddings", true},
		{Azure, "POST", "/openai/v1/chat/completions", true},
		{Azure, "POST", "/openai/v1/responses", false},
		{Azure, "POST", "/openai/files", false},
		{Azure, "POST", "/openai/deployments//chat/completions", false},
		{Azure, "POST", "/openai/deployments/gpt-4o", false},
		{Azure, "DELETE", "/openai/deployments/gpt-4o/chat/completions", false},
		{Azure, "GET", "/openai/models", true},
		{Gemini, "POST", "/v1beta/models/gemini-2.5-flash:generateContent", true},
		{Gemini, "POST", "/v1beta/models/gemini-2.5-flash:streamGenerateContent", true},
		{Gemini, "POST", "/v1/models/gemini-2.5-flash:countTokens", true},
		{Gemini, "POST", "/v1beta/models/text-embedding-004:batchEmbedContents", true},
		{Gemini, "POST", "/v1beta/models/gemini-2.5-flash:batchGenerateContent", false},
		{Gemini, "POST", "/v1beta/cachedContents", false},
		{Gemini, "POST", "/v1beta/files:generateContent", false},
		{Gemini, "GET", "/v1beta/models", true},
	} {
		if got := tc.prov.SafeToRepeat(tc.method, tc.path); got != tc.want {
			t.Errorf("%s SafeToRepeat(%s %s) = %v, want %v", tc.prov.Name(), tc.method, tc.path, got, tc.want)
		}
	}
}
