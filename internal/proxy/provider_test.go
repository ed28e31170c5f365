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
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/apitest"
	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/provider"
	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
	"github.com/keypool-dev/keypool-operator/internal/usage"
)

// acme is a fictional third provider, written here the way a new provider
// file in internal/provider would be: a few tables and one-liners. Nothing in
// keypool, the proxy or the controller knows about it.
type acme struct{}

var (
	acmeLimits = provider.RateLimitHeaders{
		Dimensions: []provider.DimensionHeaders{{
			Dimension: ratelimit.Requests, Limit: "Acme-Requests-Limit",
			Remaining: "Acme-Requests-Remaining", Reset: "Acme-Requests-Reset",
		}},
		Reset: provider.ResetDuration,
	}
	acmeUsage = usage.MustSchema(usage.Under([]string{"meter"},
		usage.Path{Keys: []string{"in"}, Field: usage.FieldInput},
		usage.Path{Keys: []string{"out"}, Field: usage.FieldOutput})...)
	acmeRequestHeaders = provider.NewHeaderSet("Content-Type", "Acme-Version")
)

func (acme) Name() string                                           { return "acme" }
func (acme) DefaultUpstream() string                                { return "https://api.acme.example" }
func (acme) ForwardsRequestHeader(k string) bool                    { return acmeRequestHeaders.Has(k) }
func (acme) ForwardsResponseHeader(k string) bool                   { return k == "Content-Type" }
func (acme) ParseLimits(h http.Header, t time.Time) provider.Limits { return acmeLimits.Parse(h, t) }
func (acme) Usage() *usage.Schema                                   { return acmeUsage }
func (acme) ForwardsQueryParam(k string) bool                       { return k == "page" }
func (acme) KeyInvalid(status int, _ []byte) bool                   { return status == http.StatusUnauthorized }
func (acme) EstimateInputTokens(b []byte) int64                     { return int64(len(b) / 4) }
func (acme) Model(string, *provider.RequestFacts) string            { return "" } // one limit per key
func (acme) SafeToRepeat(method, _ string) bool                     { return method == http.MethodGet }
func (acme) ReadRequest(method, _ string, b []byte) provider.RequestFacts {
	return provider.RequestFacts{InputTokens: int64(len(b) / 4), Generates: method == http.MethodPost}
}
func (acme) Authenticate(base http.RoundTripper, key string) http.RoundTripper {
	return provider.HeaderAuth(base, "X-Acme-Key", key)
}
func (acme) KeyCheck(u *url.URL) *http.Request {
	r, _ := http.NewRequest(http.MethodGet, u.JoinPath("/v1/whoami").String(), nil)
	return r
}
func (acme) WriteError(w http.ResponseWriter, e provider.Error, msg string) {
	provider.WriteJSON(w, e.Status(), map[string]any{"fault": map[string]any{"code": e.Status(), "text": msg}})
}

// TestThirdProvider: a provider defined outside internal/provider gets its
// key placed, its headers filtered, its limits learned, its usage counted
// and its error shape, through the unchanged pool and proxy.
func TestThirdProvider(t *testing.T) {
	var seen http.Header
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Clone()
		w.Header().Set("Acme-Requests-Limit", "100")
		w.Header().Set("Acme-Requests-Remaining", "7")
		w.Header().Set("Acme-Requests-Reset", "30s")
		w.Header().Set("Acme-Secret-Account", "acct-1")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"answer":"hi","meter":{"in":30,"out":12}}`))
	})
	keys := []keypool.KeyConfig{{ID: "keys/k1", APIKey: keyValue(1), ITPMLimit: 1000, OTPMLimit: 1000}}
	e := newEnv(t, envConfig{provider: acme{}, upstream: upstream, keys: keys})

	resp := e.do(t.Context(), http.MethodPost, "/v1/generate", `{"prompt":"hi"}`, map[string]string{
		"X-Api-Key": clientToken, "Acme-Version": "3", "Cookie": "session=1", "Content-Type": "application/json"})
	wantStatus(t, resp, http.StatusOK)
	e.waitIdle()

	if seen.Get("X-Acme-Key") != keyValue(1) || seen.Get("X-Api-Key") != "" || seen.Get("Cookie") != "" || seen.Get("Acme-Version") != "3" {
		t.Errorf("upstream request header %v: want the key in X-Acme-Key and only allowed client headers", seen)
	}
	if resp.Header.Get("Acme-Secret-Account") != "" || resp.Header.Get("Acme-Requests-Limit") != "" {
		t.Errorf("response header %v leaks the key's own headers", resp.Header)
	}
	k := e.keyStats("keys/k1")
	if k.RPMLimit != 100 || k.RPMRemaining != 7 {
		t.Errorf("learned RPM limit %d remaining %d, want 100 and 7", k.RPMLimit, k.RPMRemaining)
	}
	if k.ITPMRemaining != 1000-30 || k.OTPMRemaining != 1000-12 {
		t.Errorf("settled ITPM remaining %d OTPM remaining %d, want 970 and 988 from the usage in meter", k.ITPMRemaining, k.OTPMRemaining)
	}

	// The proxy's own errors to an authenticated client are in the pool's
	// shape.
	resp = e.do(t.Context(), http.MethodPost, "/admin", `{}`, map[string]string{"X-Api-Key": clientToken})
	body := wantStatus(t, resp, http.StatusNotFound)
	var fault struct {
		Fault struct {
			Code int    `json:"code"`
			Text string `json:"text"`
		} `json:"fault"`
	}
	if err := json.Unmarshal([]byte(body), &fault); err != nil || fault.Fault.Code != http.StatusNotFound || fault.Fault.Text == "" {
		t.Errorf("404 body %s is not in acme's error shape (%v)", body, err)
	}
	// A refused token is answered in the shape the request looks like, as
	// for a pool that does not exist: not acme's, which would tell that the
	// pool exists.
	resp = e.do(t.Context(), http.MethodPost, "/v1/generate", `{}`, map[string]string{"X-Api-Key": "wrong"})
	apitest.WantAnthropicError(t, wantStatus(t, resp, http.StatusUnauthorized), "authentication_error")
}
