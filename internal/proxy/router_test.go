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
)

// TestRoutingErrors: a path that names no pool is 404; a pool that does not
// exist answers exactly as a pool that exists answers a wrong token (401),
// so that callers without a token cannot learn which pools exist; only an
// authenticated caller learns that a path is not proxied (404).
func TestRoutingErrors(t *testing.T) {
	e := newEnv(t, envConfig{})
	auth := map[string]string{"X-Api-Key": clientToken}
	cases := []struct {
		name   string
		url    string
		header map[string]string
		openAI bool
		status int
	}{
		{"unknown pool, anthropic path", "/pools/team-a/nope/v1/messages", auth, false, http.StatusUnauthorized},
		{"unknown namespace", "/pools/team-b/claude/v1/messages", auth, false, http.StatusUnauthorized},
		{"unknown pool, openai path", "/pools/team-a/nope/v1/chat/completions", map[string]string{"Authorization": "Bearer x"}, true, http.StatusUnauthorized},
		{"unknown pool, openai embeddings", "/pools/team-a/nope/v1/embeddings", nil, true, http.StatusUnauthorized},
		{"unknown pool, models with bearer", "/pools/team-a/nope/v1/models", map[string]string{"Authorization": "Bearer x"}, true, http.StatusUnauthorized},
		{"unknown pool, models with anthropic-version", "/pools/team-a/nope/v1/models", map[string]string{"Authorization": "Bearer x", "Anthropic-Version": "2023-06-01"}, false, http.StatusUnauthorized},
		{"not under /pools", "/v1/messages", auth, false, http.StatusNotFound},
		{"no rest", "/pools/team-a/claude", auth, false, http.StatusNotFound},
		{"empty namespace", "/pools//claude/v1/messages", auth, false, http.StatusNotFound},
		{"known pool, not under /v1/", "/pools/team-a/claude/admin", auth, false, http.StatusNotFound},
		{"known pool, not under /v1/, no token", "/pools/team-a/claude/admin", nil, false, http.StatusUnauthorized},
		{"known pool, /v1 without slash", "/pools/team-a/claude/v1", auth, false, http.StatusNotFound},
		{"known pool, dot segments", "/pools/team-a/claude/v1/../admin", auth, false, http.StatusNotFound},
		{"known pool, escaped dot segments", "/pools/team-a/claude/v1/%2e%2e/admin", auth, false, http.StatusNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.front.URL, strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			// Set the path verbatim: the client would clean dot segments.
			req.URL.Opaque = tc.url
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, err := e.front.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body := wantStatus(t, resp, tc.status)
			switch {
			case tc.status == http.StatusUnauthorized && tc.openAI:
				apitest.WantOpenAIError(t, body, "authentication_error", "invalid_api_key")
			case tc.status == http.StatusUnauthorized:
				apitest.WantAnthropicError(t, body, "authentication_error")
			case tc.openAI:
				apitest.WantOpenAIError(t, body, "not_found_error", "not_found")
			default:
				apitest.WantAnthropicError(t, body, "not_found_error")
			}
		})
	}
	if n := len(e.requests()); n != 0 {
		t.Fatalf("upstream saw %d requests", n)
	}
	e.waitIdle()
}

func TestForwardedURLAndHeaders(t *testing.T) {
	e := newEnv(t, envConfig{
		passThrough: everything,
		basePath:    "/gateway",
		upstream: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Connection", "X-Hop")
			w.Header().Set("X-Hop", "connection-listed")
			w.Header().Set("Keep-Alive", "timeout=5")
			w.Header().Set("Request-Id", "req_1")
			w.Header().Add("Set-Cookie", "a=1")
			w.Header().Add("Set-Cookie", "b=2")
			_, _ = io.WriteString(w, `{"usage":{"input_tokens":1,"output_tokens":2}}`)
		}),
	})
	resp := e.do(t.Context(), http.MethodPost, "/v1/messages/batches/msgbatch_1%2Fx/results?beta=true&limit=2", `{}`,
		map[string]string{
			"X-Api-Key":           clientToken,
			"Anthropic-Version":   "2023-06-01",
			"Anthropic-Beta":      "prompt-caching-2024-07-31",
			"Connection":          "X-Client-Hop",
			"X-Client-Hop":        "connection-listed",
			"Proxy-Authorization": "Basic c2VjcmV0",
			"Te":                  "trailers",
			"Accept-Encoding":     "gzip",
			"X-Request-Id":        "trace-1",
		})
	wantStatus(t, resp, http.StatusOK)

	reqs := e.requests()
	if len(reqs) != 1 {
		t.Fatalf("upstream saw %d requests", len(reqs))
	}
	r := reqs[0]
	if r.Path != "/v1/messages/batches/msgbatch_1/x/results" || r.RawPath != "/v1/messages/batches/msgbatch_1%2Fx/results" {
		t.Errorf("upstream path %q raw %q: base path not stripped once or escapes lost", r.Path, r.RawPath)
	}
	if r.RawQuery != "beta=true&limit=2" {
		t.Errorf("upstream query %q", r.RawQuery)
	}
	for k, want := range map[string]string{
		"Anthropic-Version": "2023-06-01", "Anthropic-Beta": "prompt-caching-2024-07-31",
		"X-Request-Id": "", "Content-Type": "", "X-Api-Key": keyValue(1),
		"X-Client-Hop": "", "Proxy-Authorization": "", "Te": "", "Accept-Encoding": "", "User-Agent": "Go-http-client/1.1",
	} {
		if got := r.Header.Get(k); got != want {
			t.Errorf("upstream header %s = %q, want %q", k, got, want)
		}
	}
	for k, want := range map[string]string{
		"Request-Id": "req_1", "X-Hop": "", "Keep-Alive": "", HeaderKey: "keys/k1", HeaderAttempts: "1",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("response header %s = %q, want %q", k, got, want)
		}
	}
	if got := resp.Header.Values("Set-Cookie"); len(got) != 0 {
		t.Errorf("Set-Cookie = %q, want none: upstream cookies stay with the pool", got)
	}
	e.waitIdle()
}
