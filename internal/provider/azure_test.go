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
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
	"github.com/keypool-dev/keypool-operator/internal/usage"
)

// azureHeader is what an Azure OpenAI deployment sends on a 200.
func azureHeader() http.Header {
	h := http.Header{}
	h.Set("x-ratelimit-limit-requests", "300")
	h.Set("x-ratelimit-remaining-requests", "299")
	h.Set("x-ratelimit-limit-tokens", "30000")
	h.Set("x-ratelimit-remaining-tokens", "29880")
	h.Set("apim-request-id", "6a1d0c3e-8c5f-4b8e-9d2a-1f3c5e7a9b0d")
	h.Set("x-ms-region", "Sweden Central")
	return h
}

func TestParseAzureLimits(t *testing.T) {
	hl := Azure.ParseLimits(azureHeader(), t0)
	if o := hl.Dimensions[ratelimit.Requests]; o.Limit != 300 || o.Remaining != 299 || !o.Reset.IsZero() {
		t.Errorf("requests = %+v", o)
	}
	if o := hl.Dimensions[ratelimit.Tokens]; o.Limit != 30000 || o.Remaining != 29880 {
		t.Errorf("tokens = %+v", o)
	}
	if hl.Organization != "" {
		t.Errorf("organization %q: Azure has none", hl.Organization)
	}
	// Older API versions send only the remaining counts; a 429 carries
	// retry-after-ms, preferred over retry-after.
	h := http.Header{}
	h.Set("x-ratelimit-remaining-requests", "0")
	h.Set("x-ratelimit-remaining-tokens", "120")
	h.Set("retry-after", "2")
	h.Set("retry-after-ms", "1500")
	hl = Azure.ParseLimits(h, t0)
	if o := hl.Dimensions[ratelimit.Requests]; o.Limit != 0 || o.Remaining != 0 || !o.Reported() {
		t.Errorf("remaining-only requests = %+v", o)
	}
	if hl.RetryAfter != 1500*time.Millisecond {
		t.Errorf("RetryAfter = %v, want 1.5s from retry-after-ms", hl.RetryAfter)
	}
	// Azure forwards an OpenAI-style organization header never; a stray one
	// is not learned as an account.
	h.Set("openai-organization", "org-x")
	if hl = Azure.ParseLimits(h, t0); hl.Organization != "" {
		t.Errorf("organization %q learned from Azure", hl.Organization)
	}
}

func TestAzureKeyAndHeaders(t *testing.T) {
	h := sent(t, Azure, "az-key", &http.Request{Header: http.Header{}}).Header
	if h.Get("Api-Key") != "az-key" || h.Get("Authorization") != "" {
		t.Errorf("key header %v", h)
	}
	for k, want := range map[string]bool{
		"Api-Key": false, "Authorization": false, "Content-Type": true, "X-Stainless-Lang": true,
		"X-Ms-Client-Request-Id": true, "Openai-Organization": false, "Cookie": false,
	} {
		if Azure.ForwardsRequestHeader(k) != want {
			t.Errorf("request header %s forwarded = %v", k, !want)
		}
	}
	for k, want := range map[string]bool{
		"Apim-Request-Id": true, "X-Ms-Region": true, "Retry-After-Ms": true,
		"X-Ratelimit-Remaining-Tokens": false, "Azureml-Model-Session": false,
	} {
		if Azure.ForwardsResponseHeader(k) != want {
			t.Errorf("response header %s forwarded = %v", k, !want)
		}
	}
}

func TestAzureWriteError(t *testing.T) {
	w := httptest.NewRecorder()
	Azure.WriteError(w, ErrRateLimited, "no key has capacity")
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || w.Code != 429 || e.Error.Code != "429" || e.Error.Message != "no key has capacity" {
		t.Errorf("429 answer %d %s (%v)", w.Code, w.Body, err)
	}
	w = httptest.NewRecorder()
	Azure.WriteError(w, ErrUnauthorized, "x")
	if w.Code != 401 || !Azure.KeyInvalid(401, w.Body.Bytes()) {
		// The proxy's own 401 is Azure's invalid-key shape: an SDK sees the
		// same error it would for a wrong key.
		t.Errorf("401 answer %d %s", w.Code, w.Body)
	}
}

func TestAzureUsage(t *testing.T) {
	// Azure's first stream event carries prompt_filter_results and no usage;
	// the last one (include_usage) carries OpenAI's usage object.
	stream := "data: {\"choices\":[],\"created\":0,\"id\":\"\",\"model\":\"\",\"object\":\"\",\"prompt_filter_results\":[{\"prompt_index\":0,\"content_filter_results\":{}}]}\n\n" +
		"data: {\"choices\":[{\"delta\":{\"content\":\"hi\"},\"index\":0}],\"object\":\"chat.completion.chunk\",\"usage\":null}\n\n" +
		"data: {\"choices\":[],\"object\":\"chat.completion.chunk\",\"usage\":{\"prompt_tokens\":21,\"completion_tokens\":7,\"total_tokens\":28,\"prompt_tokens_details\":{\"cached_tokens\":0}}}\n\n" +
		"data: [DONE]\n\n"
	s := usage.NewScanner(usage.FormatSSE, Azure.Usage())
	_, _ = s.Write([]byte(stream))
	if got := s.Tokens(); got != (usage.Tokens{Input: 21, Output: 7}) {
		t.Errorf("azure stream usage %+v", got)
	}
}
