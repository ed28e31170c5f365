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
	"testing"

	"github.com/keypool-dev/keypool-operator/internal/provider"
)

// TestKeyTransportIsMadeOncePerKeyValue: an attempt with a key costs no
// allocation for its authentication, and a key whose value changed is sent
// with the new value.
func TestKeyTransportIsMadeOncePerKeyValue(t *testing.T) {
	var seen string
	s := &Server{transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		seen = r.Header.Get("X-Api-Key")
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: r}, nil
	})}
	rt := s.keyTransport(provider.Anthropic, "sk-old")
	if allocs := testing.AllocsPerRun(100, func() { _ = s.keyTransport(provider.Anthropic, "sk-old") }); allocs != 0 {
		t.Errorf("%v allocations per lookup, want 0", allocs)
	}
	if s.keyTransport(provider.Anthropic, "sk-old") != rt {
		t.Error("a second lookup made another RoundTripper")
	}
	for key, want := range map[string]string{"sk-old": "sk-old", "sk-new": "sk-new"} {
		req, _ := http.NewRequest(http.MethodGet, "http://upstream.test/v1/models", nil)
		if _, err := s.keyTransport(provider.Anthropic, key).RoundTrip(req); err != nil {
			t.Fatal(err)
		}
		if seen != want {
			t.Errorf("sent with %q, want %q", seen, want)
		}
	}
	if s.keyTransport(provider.OpenAI, "sk-old") == rt {
		t.Error("two providers share one key's RoundTripper")
	}
}
