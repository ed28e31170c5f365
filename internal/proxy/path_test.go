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

	"github.com/keypool-dev/keypool-operator/internal/apitest"
	"github.com/keypool-dev/keypool-operator/internal/provider"
)

// TestNonCanonicalPathsRefused: an authenticated request whose path is not
// canonical is answered 404 by the proxy and never reaches the upstream: a
// backslash (which some servers read as a slash), a dot segment after one
// more percent-decode (an upstream or a gateway in front of it that decodes
// twice would resolve it), an empty segment, a control character. Canonical
// paths, escaped IDs among them, still go.
func TestNonCanonicalPathsRefused(t *testing.T) {
	cases := []struct {
		path    string
		forward bool
	}{
		{`/v1/..\admin`, false},
		{`/v1/%252e%252e/admin`, false},
		{`/v1/%252E%252E/admin`, false},
		{`/v1/files/..%252fadmin`, false},
		{`/v1/files/%252e%252e%252fadmin`, false},
		{`/v1/files/a%5cb`, false},
		{`/v1/files/a%255cb`, false},
		{`/v1/files/%252e`, false},
		{`/v1//admin`, false},
		{`/v1/files/a%2F%2Fb`, false},
		{`/v1/files/a%00b`, false},
		{`/v1/files/a%0d%0ab`, false},
		{`/v1/messages`, true},
		{`/v1/messages/batches/msgbatch_1%2Fx/results`, true},
		{`/v1/files/a%252fb`, true},
		{`/v1/files/file.txt`, true},
		{`/v1/files/..x`, true},
		{`/v1/models/`, true},
		{`/v1beta/models/gemini-2.0-flash:generateContent`, true},
	}
	e := newEnv(t, envConfig{passThrough: everything})
	sent := 0
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.front.URL, strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			// Set the path verbatim: the client would clean it.
			req.URL.Opaque = "/pools/" + namespace + "/" + poolName + tc.path
			req.Header.Set("X-Api-Key", clientToken)
			resp, err := e.front.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body := readAll(t, resp.Body)
			if tc.forward {
				sent++
				if n := len(e.requests()); n != sent {
					t.Errorf("%d %s: not forwarded", resp.StatusCode, body)
				}
				return
			}
			if resp.StatusCode != http.StatusNotFound {
				t.Fatalf("status %d, want 404; body %s", resp.StatusCode, body)
			}
			apitest.WantAnthropicError(t, body, "not_found_error")
			if n := len(e.requests()); n != sent {
				t.Errorf("forwarded to the upstream as %s", e.requests()[n-1].RawPath)
				sent = n
			}
		})
	}
	e.waitIdle()
}

// TestPathCheckDoesNotAllocate: the check runs on every request, so a
// canonical path costs no allocation.
func TestPathCheckDoesNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _ = validRest("/v1/messages/batches/msgbatch_1/results", provider.Anthropic) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}
