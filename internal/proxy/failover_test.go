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
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/apitest"
	"github.com/keypool-dev/keypool-operator/internal/provider"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/keypool-dev/keypool-operator/internal/fakeprovider"
	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/testproc"
)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// refusingTransport sends requests made with keys/k1's value to a port
// nobody listens on (outside the kernel's range for ":0", none will),
// so they fail with a real ECONNREFUSED.
func refusingTransport(t *testing.T, refused *atomic.Int64) func(http.RoundTripper) http.RoundTripper {
	closed, err := testproc.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Header.Get("X-Api-Key") != keyValue(1) && r.Header.Get("Authorization") != "Bearer "+keyValue(1) {
				return next.RoundTrip(r)
			}
			r2 := r.Clone(r.Context())
			r2.URL.Host, r2.Host = closed, ""
			resp, err := next.RoundTrip(r2)
			if errors.Is(err, syscall.ECONNREFUSED) {
				refused.Add(1)
			}
			return resp, err
		})
	}
}

func TestFailover(t *testing.T) {
	k1 := keyValue(1)
	cases := []struct {
		name      string
		fault     func(*fakeprovider.Provider) error
		refuse    bool
		reason    string
		k1State   keypool.State
		k1Upstrm  int64 // requests the upstream saw with k1
		streaming bool
	}{
		{name: "429", reason: "rate_limited", k1State: keypool.StateCoolingDown, k1Upstrm: 1,
			fault: func(p *fakeprovider.Provider) error {
				return p.SetFault(fakeprovider.Fault{Kind: fakeprovider.FaultRateLimit, Key: k1, RetryAfter: 30 * time.Second})
			}},
		// A revoked key: its re-check fails too, so it is retired.
		{name: "401 revoked", reason: "rejected", k1State: keypool.StateRejected, k1Upstrm: 1,
			fault: func(p *fakeprovider.Provider) error { return p.RevokeKey(k1) }},
		// One 401 for a key that is fine: the re-check finds it valid.
		{name: "401 once", reason: "rejected", k1State: keypool.StateAvailable, k1Upstrm: 1,
			fault: func(p *fakeprovider.Provider) error {
				return p.SetFault(fakeprovider.Fault{Kind: fakeprovider.FaultStatus, Key: k1, Status: 401})
			}},
		{name: "500", reason: "server_error", k1State: keypool.StateAvailable, k1Upstrm: 1,
			fault: func(p *fakeprovider.Provider) error {
				return p.SetFault(fakeprovider.Fault{Kind: fakeprovider.FaultStatus, Key: k1, Status: 500})
			}},
		{name: "529", reason: "server_error", k1State: keypool.StateAvailable, k1Upstrm: 1, streaming: true,
			fault: func(p *fakeprovider.Provider) error {
				return p.SetFault(fakeprovider.Fault{Kind: fakeprovider.FaultStatus, Key: k1, Status: 529})
			}},
		{name: "connection reset", reason: "connection_error", k1State: keypool.StateAvailable, k1Upstrm: 1, streaming: true,
			fault: func(p *fakeprovider.Provider) error {
				return p.SetFault(fakeprovider.Fault{Kind: fakeprovider.FaultReset, Key: k1})
			}},
		{name: "connection refused", reason: "connection_error", k1State: keypool.StateAvailable, refuse: true},
	}
	for _, prov := range []provider.Provider{provider.Anthropic, provider.OpenAI} {
		for _, tc := range cases {
			t.Run(prov.Name()+"/"+tc.name, func(t *testing.T) {
				var refused atomic.Int64
				cfg := envConfig{provider: prov}
				if tc.refuse {
					cfg.transport = refusingTransport(t, &refused)
				}
				e := newEnv(t, cfg)
				if tc.fault != nil {
					if err := tc.fault(e.fake); err != nil {
						t.Fatal(err)
					}
				}
				body := apitest.AnthropicBody("hello", tc.streaming)
				if prov == provider.OpenAI {
					body = apitest.OpenAIBody("hello", tc.streaming)
				}
				resp := e.post(body)
				wantStatus(t, resp, http.StatusOK)
				if got := resp.Header.Get(HeaderKey); got != "keys/k2" {
					t.Errorf("served by %q, want keys/k2", got)
				}
				if got := resp.Header.Get(HeaderAttempts); got != "2" {
					t.Errorf("attempts %q, want 2", got)
				}
				e.waitIdle()
				e.proxy.checks.Wait()
				st := e.fake.Stats()
				if st.Keys[k1].Requests != tc.k1Upstrm || st.Keys[keyValue(2)].OK != 1 || st.Keys[keyValue(3)].Requests != 0 {
					t.Errorf("upstream saw k1 %d, k2 ok %d, k3 %d requests",
						st.Keys[k1].Requests, st.Keys[keyValue(2)].OK, st.Keys[keyValue(3)].Requests)
				}
				if tc.refuse && refused.Load() != 1 {
					t.Errorf("%d connections refused, want 1", refused.Load())
				}
				ks := e.keyStats("keys/k1")
				if ks.State != tc.k1State {
					t.Errorf("keys/k1 is %s, want %s (%+v)", ks.State, tc.k1State, ks)
				}
				if tc.name == "429" && !ks.CooldownUntil.Equal(t0.Add(30*time.Second)) {
					t.Errorf("keys/k1 cools down until %s, want retry-after 30s from %s", ks.CooldownUntil, t0)
				}
				if n := testutil.ToFloat64(e.proxy.metrics.failovers.WithLabelValues(namespace, e.poolName(), tc.reason)); n != 1 {
					t.Errorf("failovers{reason=%s} = %v, want 1", tc.reason, n)
				}
			})
		}
	}
}

func TestFailoverExhausted(t *testing.T) {
	allFail := func(p *fakeprovider.Provider) error {
		return p.SetFault(fakeprovider.Fault{Kind: fakeprovider.FaultStatus, Status: 500})
	}
	cases := []struct {
		name        string
		maxAttempts int
		fault       func(*fakeprovider.Provider) error
		exhaust     []string // keys cooled down in the pool beforehand
		status      int
		errType     string // Anthropic error type in the body
		key         string // x-keypool-key
		attempts    string
		upstream    int64 // requests the upstream saw
		retryAfter  string
	}{
		{name: "every key 500: the last answer as is", maxAttempts: 3, fault: allFail,
			status: 500, errType: "api_error", key: "keys/k3", attempts: "3", upstream: 3},
		{name: "maxAttempts bounds the keys tried", maxAttempts: 2, fault: allFail,
			status: 500, errType: "api_error", key: "keys/k2", attempts: "2", upstream: 2},
		{name: "maxAttempts above the key count", maxAttempts: 5, fault: allFail,
			status: 500, errType: "api_error", key: "keys/k3", attempts: "3", upstream: 3},
		{name: "maxAttempts 1 never fails over", maxAttempts: 1,
			fault: func(p *fakeprovider.Provider) error {
				return p.SetFault(fakeprovider.Fault{Kind: fakeprovider.FaultRateLimit, RetryAfter: 7 * time.Second})
			},
			status: 429, errType: "rate_limit_error", key: "keys/k1", attempts: "1", upstream: 1, retryAfter: "7"},
		{name: "every connection reset: 502", maxAttempts: 3,
			fault: func(p *fakeprovider.Provider) error {
				return p.SetFault(fakeprovider.Fault{Kind: fakeprovider.FaultReset})
			},
			status: 502, errType: "api_error", key: "keys/k3", attempts: "3", upstream: 3},
		{name: "no other key to acquire: the provider's error", maxAttempts: 3, fault: allFail,
			exhaust: []string{"keys/k2", "keys/k3"},
			status:  500, errType: "api_error", key: "keys/k1", attempts: "1", upstream: 1},
		{name: "no other key after a 429: the pool's Retry-After", maxAttempts: 3,
			fault: func(p *fakeprovider.Provider) error {
				return p.SetFault(fakeprovider.Fault{Kind: fakeprovider.FaultRateLimit, RetryAfter: 30 * time.Second})
			},
			exhaust: []string{"keys/k2", "keys/k3"},
			status:  429, errType: "rate_limit_error", attempts: "1", upstream: 1, retryAfter: "30"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envConfig{maxAttempts: tc.maxAttempts})
			if err := tc.fault(e.fake); err != nil {
				t.Fatal(err)
			}
			for i, id := range tc.exhaust {
				if err := e.pool.MarkKeyExhausted(id, t0.Add(time.Duration(40+10*i)*time.Second)); err != nil {
					t.Fatal(err)
				}
			}
			resp := e.post(apitest.AnthropicBody("hello", false))
			body := wantStatus(t, resp, tc.status)
			apitest.WantAnthropicError(t, body, tc.errType)
			if got := resp.Header.Get(HeaderKey); got != tc.key {
				t.Errorf("key %q, want %q", got, tc.key)
			}
			if got := resp.Header.Get(HeaderAttempts); got != tc.attempts {
				t.Errorf("attempts %q, want %s", got, tc.attempts)
			}
			if got := resp.Header.Get("Retry-After"); got != tc.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tc.retryAfter)
			}
			e.waitIdle()
			if n := int64(len(e.requests())); n != tc.upstream {
				t.Errorf("upstream saw %d requests, want %d", n, tc.upstream)
			}
		})
	}
}

// TestEveryKeyRejected: once the provider rejected every key, the client gets
// 503 (no Retry-After: waiting does not help), not a 429.
func TestEveryKeyRejected(t *testing.T) {
	e := newEnv(t, envConfig{})
	for n := 1; n <= 3; n++ {
		if err := e.fake.RevokeKey(keyValue(n)); err != nil {
			t.Fatal(err)
		}
	}
	// The first request tries every key and gets the provider's 401.
	body := wantStatus(t, e.post(apitest.AnthropicBody("hello", false)), http.StatusUnauthorized)
	apitest.WantAnthropicError(t, body, "authentication_error")
	e.proxy.checks.Wait() // each key's re-check confirms the verdict
	for _, id := range []string{"keys/k1", "keys/k2", "keys/k3"} {
		if s := e.keyStats(id).State; s != keypool.StateRejected {
			t.Fatalf("%s is %s, want Rejected", id, s)
		}
	}
	resp := e.post(apitest.AnthropicBody("hello", false))
	body = wantStatus(t, resp, http.StatusServiceUnavailable)
	apitest.WantAnthropicError(t, body, "overloaded_error")
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		t.Errorf("Retry-After %q on a pool whose every key is rejected", ra)
	}
	if !strings.Contains(body, "rejected every key") {
		t.Errorf("body does not say why: %s", body)
	}
}
