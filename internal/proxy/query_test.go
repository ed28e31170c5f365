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
	"testing"

	"github.com/keypool-dev/keypool-operator/internal/provider"
)

// TestOnlyDocumentedQueryParameters: a client's query reaches the upstream
// with only the parameters the provider's API documents for its endpoints.
// Google's system parameters would let a client bill another project
// (userProject), pick a quota bucket (quotaUser) or bring its own credential
// ($key, access_token, oauth_token); the key parameter never goes, whatever
// its spelling.
func TestOnlyDocumentedQueryParameters(t *testing.T) {
	cases := []struct {
		prov        provider.Provider
		path, query string
		want        string
	}{
		{provider.Gemini, "/v1beta/models/gemini-2.0-flash:streamGenerateContent",
			"alt=sse&$key=x&userProject=p&quotaUser=q&access_token=t&oauth_token=o&%24fields=a&prettyPrint=false&$.xgafv=2&key=" + clientToken,
			"alt=sse"},
		{provider.Gemini, "/v1beta/models", "pageSize=10&pageToken=abc&%6Bey=" + clientToken + "&%75serProject=p", "pageSize=10&pageToken=abc"},
		{provider.Anthropic, "/v1/messages/batches", "beta=true&limit=2&after_id=a&before_id=b&debug=1", "beta=true&limit=2&after_id=a&before_id=b"},
		{provider.OpenAI, "/v1/files", "limit=1&after=f&order=asc&purpose=batch&user=u&api-version=1", "limit=1&after=f&order=asc&purpose=batch"},
		{provider.Azure, "/openai/deployments/d/chat/completions", "api-version=2024-10-21&userProject=p", "api-version=2024-10-21"},
		// A parameter smuggled after a semicolon, which some servers split on.
		{provider.Gemini, "/v1beta/models", "pageSize=1;userProject=p&pageToken=t", "pageToken=t"},
	}
	for _, tc := range cases {
		t.Run(tc.prov.Name()+" "+tc.query, func(t *testing.T) {
			e := newEnv(t, envConfig{provider: tc.prov, passThrough: everything, upstream: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{}`)
			})})
			resp := e.do(t.Context(), http.MethodGet, tc.path+"?"+tc.query, "", map[string]string{"X-Api-Key": clientToken})
			wantStatus(t, resp, http.StatusOK)
			e.waitIdle()
			reqs := e.requests()
			if len(reqs) != 1 {
				t.Fatalf("upstream saw %d requests", len(reqs))
			}
			if reqs[0].RawQuery != tc.want {
				t.Errorf("upstream query %q, want %q", reqs[0].RawQuery, tc.want)
			}
		})
	}
}
