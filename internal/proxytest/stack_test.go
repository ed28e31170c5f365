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

package proxytest_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/keypool-dev/keypool-operator/internal/apitest"
	"github.com/keypool-dev/keypool-operator/internal/provider"
	"github.com/keypool-dev/keypool-operator/internal/proxy"
	"github.com/keypool-dev/keypool-operator/internal/proxytest"
)

func newProxy(w proxytest.Wiring) http.Handler {
	return proxy.New(w.Registry, proxy.Options{Logger: w.Logger, Transport: w.Transport, Metrics: w.Metrics})
}

// TestStackWiresTheDataPlane sends one request through a default stack: it
// reaches the fake provider with the first tier's key, the stack records it,
// and the pool counts and settles the lease.
func TestStackWiresTheDataPlane(t *testing.T) {
	for _, p := range []provider.Provider{provider.Anthropic, provider.OpenAI} {
		t.Run(p.Name(), func(t *testing.T) {
			s := proxytest.New(t, proxytest.Config{Provider: p}, newProxy)
			req, err := s.NewRequest(t.Context(), apitest.Body(p, "hello", false))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := s.Front.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			s.WaitIdle()
			seen := s.Requests()
			if len(seen) != 1 {
				t.Fatalf("upstream saw %d requests", len(seen))
			}
			if auth := seen[0].Header.Get("X-Api-Key") + seen[0].Header.Get("Authorization"); auth != proxytest.KeyValue(1) &&
				auth != "Bearer "+proxytest.KeyValue(1) {
				t.Errorf("upstream credentials %q, want keys/k1's value", auth)
			}
			if ks := s.KeyStats(proxytest.KeyID(1)); ks.Acquired != 1 || ks.InFlight != 0 {
				t.Errorf("keys/k1: %d acquired, %d in flight", ks.Acquired, ks.InFlight)
			}
		})
	}
}

// TestStackOptions checks that options reach the parts: a dead upstream
// URL, one attempt, and no recording.
func TestStackOptions(t *testing.T) {
	s := proxytest.New(t, proxytest.Config{
		UpstreamURL: "http://127.0.0.1:1", MaxAttempts: 1, NoRecording: true,
	}, newProxy)
	req, err := s.NewRequest(t.Context(), apitest.AnthropicBody("hello", false))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.Front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 502 from a dead upstream: %s", resp.StatusCode, body)
	}
	if err := apitest.WellFormedError(provider.Anthropic, resp.Header, body); err != nil {
		t.Errorf("error body: %v", err)
	}
	s.WaitIdle()
	if n := len(s.Requests()); n != 0 {
		t.Errorf("%d requests recorded with NoRecording", n)
	}
}
