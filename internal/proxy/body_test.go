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
)

func TestRequestBodyLimit(t *testing.T) {
	const limit = 1024
	exact := apitest.AnthropicBody("hi", false)
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
				apitest.WantOpenAIError(t, got, "request_too_large", "request_too_large")
			} else {
				apitest.WantAnthropicError(t, got, "request_too_large")
			}
			if n := len(e.requests()); n != 0 {
				t.Fatalf("upstream saw %d requests", n)
			}
			e.waitIdle()
		})
	}
}

// TestTransportMayReadTheBodyAfterTheAnswer: net/http's transport can go on
// reading a request's body after it returned the answer, and after the
// handler closed that answer (its write loop, when the upstream answered
// before it read the whole body). The handler's end must leave that body
// as it was given: emptying it under the reader is a data race, and cuts
// the request short on the wire.
func TestTransportMayReadTheBodyAfterTheAnswer(t *testing.T) {
	sent := make(chan io.ReadCloser, 1)
	st := proxytest.New(t, proxytest.Config{
		WrapTransport: func(http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(r *http.Request) (*http.Response, error) {
				sent <- r.Body // read later, as the write loop does
				return &http.Response{
					StatusCode: http.StatusBadRequest,
					Header:     http.Header{"Content-Type": {"application/json"}},
					Body: io.NopCloser(strings.NewReader(
						`{"type":"error","error":{"type":"invalid_request_error","message":"answered early"}}`)),
					Request: r,
				}, nil
			})
		},
	}, func(w proxytest.Wiring) http.Handler {
		return New(w.Registry, Options{Logger: w.Logger, Transport: w.Transport, Metrics: w.Metrics})
	})
	body := apitest.AnthropicBody(strings.Repeat("read after the answer ", 500), false)
	req, err := st.NewRequest(t.Context(), body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := st.Front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, resp, http.StatusBadRequest)
	st.WaitIdle() // the handler has returned

	got, err := io.ReadAll(<-sent)
	if err != nil || string(got) != body {
		t.Fatalf("after the handler returned the transport read %d of the body's %d bytes (%v)", len(got), len(body), err)
	}
}
