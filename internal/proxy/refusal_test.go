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

	"github.com/keypool-dev/keypool-operator/internal/provider"
)

// TestRefusalSameWhateverThePool: a wrong token sent to a pool that exists
// gets exactly the answer a pool that does not exist gives (status, body
// shape, header fields), whatever the pool's provider and whatever SDK the
// request looks like; otherwise a caller without a token could list the
// pools by the shape of their refusals.
func TestRefusalSameWhateverThePool(t *testing.T) {
	styles := []struct {
		name   string
		path   string
		header map[string]string
	}{
		{"anthropic sdk", "/v1/messages", map[string]string{"X-Api-Key": "wrong", "Anthropic-Version": "2023-06-01"}},
		{"openai sdk", "/v1/chat/completions", map[string]string{"Authorization": "Bearer wrong"}},
		{"gemini sdk", "/v1beta/models/gemini-2.0-flash:generateContent", map[string]string{"X-Goog-Api-Key": "wrong"}},
		{"gemini key parameter", "/v1beta/models/gemini-2.0-flash:generateContent?key=wrong", nil},
		{"azure sdk", "/openai/deployments/d/chat/completions?api-version=2024-10-21", map[string]string{"Api-Key": "wrong"}},
		{"no token", "/v1/messages", nil},
		{"not an api path", "/admin", map[string]string{"X-Api-Key": "wrong"}},
	}
	for _, p := range []provider.Provider{provider.Anthropic, provider.OpenAI, provider.Gemini, provider.Azure} {
		t.Run(p.Name(), func(t *testing.T) {
			e := newEnv(t, envConfig{provider: p})
			existing := strings.TrimPrefix(e.base, e.front.URL) // /pools/team-a/{name}
			missing := "/pools/" + namespace + "/nosuchpool"
			for _, st := range styles {
				t.Run(st.name, func(t *testing.T) {
					got := refusal(t, e, existing+st.path, st.header)
					want := refusal(t, e, missing+st.path, st.header)
					// The message names the pool the caller asked for, which
					// it knows already.
					want.body = strings.ReplaceAll(want.body, missing[len("/pools/"):], existing[len("/pools/"):])
					if got.status != want.status || got.body != want.body {
						t.Errorf("existing pool answers %d %s\nmissing pool answers %d %s", got.status, got.body, want.status, want.body)
					}
					if got.header != want.header {
						t.Errorf("existing pool's header %s\nmissing pool's header %s", got.header, want.header)
					}
				})
			}
			if n := len(e.requests()); n != 0 {
				t.Errorf("upstream saw %d requests", n)
			}
			e.waitIdle()
		})
	}
}

// answer is a response reduced to what a caller can compare.
type answer struct {
	status int
	body   string
	header string // every field but Date, in a fixed order
}

func refusal(t *testing.T, e *env, path string, header map[string]string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.front.URL+path, strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := e.front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, body: readAll(t, resp.Body)}
	resp.Header.Del("Date")
	var b strings.Builder
	if err := resp.Header.WriteSubset(&b, nil); err != nil {
		t.Fatal(err)
	}
	// Content-Length differs by the pool names' lengths only.
	a.header = strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return -1
		}
		return r
	}, b.String())), " ")
	return a
}
