package proxy

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/keypool-dev/keypool-operator/internal/provider"
)

func TestRequestBodyLimit(t *testing.T) {
	const limit = 1024
	exact := anthropicBody("hi", false)
	exact = exact[:len(exact)-1] + strings.Repeat(" ", limit-len(exact)) + "}" // valid JSON of exactly limit bytes
	cases := []struct {
		name     string
		provider provider.Provider
		body     string
		chunked  bool
		status   int
	}{
		{"content-length over the limit", provider.Anthropic, strings.Repeat("x", limit+1), false, http.StatusRequestEntityTooLarge},
		{"chunked over the limit", provider.Anthropic, strings.Repeat("x", 4*limit), true, http.StatusRequestEntityTooLarge},
		{"openai shape", provider.OpenAI, strings.Repeat("x", limit+1), false, http.StatusRequestEntityTooLarge},
		{"exactly the limit", provider.Anthropic, exact, false, http.StatusOK},
		{"exactly the limit, chunked", provider.Anthropic, exact, true, http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envConfig{provider: tc.provider, maxBody: limit})
			var body io.Reader = strings.NewReader(tc.body)
			if tc.chunked {
				body = io.NopCloser(body) // unknown length: sent chunked
			}
			path := "/v1/messages"
			if tc.provider == provider.OpenAI {
				path = "/v1/chat/completions"
			}
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.base+path, body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Api-Key", clientToken)
			resp, err := e.front.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got := wantStatus(t, resp, tc.status)
			if tc.status == http.StatusOK {
				if n := len(e.requests()); n != 1 {
					t.Fatalf("upstream saw %d requests", n)
				}
				e.waitIdle()
				return
			}
			if tc.provider == provider.OpenAI {
				wantOpenAIError(t, got, "request_too_large", "request_too_large")
			} else {
				wantAnthropicError(t, got, "request_too_large")
			}
			if n := len(e.requests()); n != 0 {
				t.Fatalf("upstream saw %d requests", n)
			}
			e.waitIdle()
		})
	}
}
