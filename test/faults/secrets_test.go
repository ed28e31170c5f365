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

package faults

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/apitest"
	"github.com/keypool-dev/keypool-operator/internal/provider"
	"github.com/keypool-dev/keypool-operator/internal/proxytest"

	"github.com/prometheus/common/expfmt"

	"github.com/keypool-dev/keypool-operator/internal/fakeprovider"
)

// checkNoSecrets asserts that no canary (key value or client token) appears
// in the proxy's debug logs, in its metrics as a scrape renders them, or in
// any status line, header or body the client received; and that the client
// token never reached the upstream, while the keys did (so the canaries
// really went through the proxy).
func checkNoSecrets(t *testing.T, h *harness, seen ...*outcome) {
	t.Helper()
	logs := h.logs.String()
	metrics := renderMetrics(t, h)
	for _, c := range canaries() {
		if strings.Contains(logs, c) {
			t.Errorf("canary %q in the proxy's logs:\n%s", c, logs)
		}
		if strings.Contains(metrics, c) {
			t.Errorf("canary %q in the proxy's metrics:\n%s", c, metrics)
		}
		for _, o := range seen {
			if strings.Contains(o.body, c) {
				t.Errorf("canary %q in a response body: %s", c, o.body)
			}
			for k, vs := range o.header {
				for _, v := range vs {
					if strings.Contains(k, c) || strings.Contains(v, c) {
						t.Errorf("canary %q in response header %s: %s", c, k, v)
					}
				}
			}
		}
	}
	for _, hdr := range h.upstreamHeaders() {
		for k, vs := range hdr {
			for _, v := range vs {
				if strings.Contains(v, clientToken) {
					t.Errorf("the client token reached the upstream in %s", k)
				}
			}
		}
	}
}

// renderMetrics gathers the proxy's registry and renders it in the text
// exposition format, as a Prometheus scrape would see it.
func renderMetrics(t *testing.T, h *harness) string {
	t.Helper()
	mfs, err := h.Metrics.Gather()
	if err != nil {
		t.Fatalf("gathering metrics: %v", err)
	}
	var buf bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
			t.Fatalf("rendering metrics: %v", err)
		}
	}
	return buf.String()
}

// send makes a request with the given path (relative to the front server),
// headers and body, and reads the whole answer.
func (h *harness) send(t *testing.T, path, body string, header map[string]string) *outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.Front.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return &outcome{status: resp.StatusCode, header: resp.Header, body: string(b), readErr: err, elapsed: time.Since(start)}
}

// TestSecretHygiene sends canary keys and a canary client token through
// every path the proxy has besides the fault table (which runs the same
// check after each fault): successes, invalid requests, bad credentials,
// unknown pools and a pool whose Secret went missing, with debug logging on.
func TestSecretHygiene(t *testing.T) {
	for _, prov := range []provider.Provider{provider.Anthropic, provider.OpenAI} {
		t.Run(prov.Name(), func(t *testing.T) {
			h := newHarness(t, harnessConfig{provider: prov})
			api, auth := "/v1/messages", map[string]string{"X-Api-Key": clientToken, "Anthropic-Version": "2023-06-01"}
			good := apitest.AnthropicBody("hello", false)
			if prov == provider.OpenAI {
				api, auth, good = "/v1/chat/completions", map[string]string{"Authorization": "Bearer " + clientToken}, apitest.OpenAIBody("hello", false)
			}
			pool := "/pools/" + namespace + "/" + proxytest.PoolName(prov)
			with := func(extra map[string]string) map[string]string {
				m := map[string]string{"Content-Type": "application/json"}
				for k, v := range auth {
					m[k] = v
				}
				for k, v := range extra {
					m[k] = v
				}
				return m
			}
			paths := []struct {
				name   string
				path   string
				body   string
				header map[string]string
				status int
			}{
				{"success", pool + api, good, with(nil), 200},
				{"invalid request body", pool + api, `{"model":`, with(nil), 400},
				{"token with a suffix", pool + api, good, map[string]string{"X-Api-Key": clientToken + "x", "Authorization": "Bearer " + clientToken + "x"}, 401},
				{"key value as client token", pool + api, good, map[string]string{"X-Api-Key": keyValue(1), "Authorization": "Bearer " + keyValue(2)}, 401},
				{"no credentials", pool + api, good, nil, 401},
				// An unknown pool answers as a refused token does.
				{"unknown pool", "/pools/" + namespace + "/nope" + api, good, with(nil), 401},
				{"unknown namespace", "/pools/other/" + proxytest.PoolName(prov) + api, good, with(nil), 401},
				{"path outside /v1/", pool + "/admin/" + clientToken, good, with(nil), 404},
				{"no route", "/" + clientToken, good, with(nil), 404},
			}
			var seen []*outcome
			for _, p := range paths {
				o := h.send(t, p.path, p.body, p.header)
				if o.status != p.status {
					t.Errorf("%s: status %d, want %d: %s", p.name, o.status, p.status, o.body)
				}
				seen = append(seen, o)
			}
			o := h.exchange(t, true, readAll)
			if o.status != 200 || o.events == 0 {
				t.Errorf("stream: status %d, %d events", o.status, o.events)
			}
			seen = append(seen, o)

			// A Secret that goes missing makes the controller drop the pool
			// (it never serves a pool without keys): the pool is unknown now,
			// which answers as a refused token does.
			h.Registry.Delete(namespace, proxytest.PoolName(prov))
			o = h.send(t, pool+api, good, with(nil))
			if o.status != 401 {
				t.Errorf("pool with its Secret gone: status %d, want 401", o.status)
			}
			seen = append(seen, o)

			h.quiesce()
			checkNoSecrets(t, h, seen...)
			nonVacuous(t, h)
			h.close()
		})
	}
}

// TestSecretHygieneUnderFaults repeats the check with every key failing in
// turn, so that error paths that quote upstream answers and transport
// errors are covered with several keys at once.
func TestSecretHygieneUnderFaults(t *testing.T) {
	h := newHarness(t, harnessConfig{refuseKey: 3})
	for _, f := range []fakeprovider.Fault{
		{Kind: fakeprovider.FaultStatus, Key: keyValue(1), Status: 529, Count: 1},
		{Kind: fakeprovider.FaultReset, Key: keyValue(2), Count: 1},
	} {
		if err := h.Fake.SetFault(f); err != nil {
			t.Fatal(err)
		}
	}
	// k1 answers 529, k2 resets, k3 is refused: the client gets a 502 that
	// quotes the last transport error.
	o := h.exchange(t, false, readAll)
	if o.status != http.StatusBadGateway {
		t.Errorf("status %d, want 502: %s", o.status, o.body)
	}
	h.quiesce()
	checkNoSecrets(t, h, o)
	// The key's LastError, which becomes status.keys[].lastError, is as
	// clean as the logs.
	for _, k := range h.Pool.GetStats().Keys {
		for _, c := range canaries() {
			if strings.Contains(k.LastError, c) {
				t.Errorf("canary in %s LastError: %s", k.ID, k.LastError)
			}
		}
	}
	h.close()
}

// nonVacuous proves the hygiene check looked at real output: the logs hold
// per-request debug lines, the metrics name keys by ID, and the upstream
// did receive the canary keys.
func nonVacuous(t *testing.T, h *harness) {
	t.Helper()
	if logs := h.logs.String(); !strings.Contains(logs, `"proxied request"`) {
		t.Errorf("no debug request lines in the logs; the check proves nothing:\n%s", logs)
	}
	if m := renderMetrics(t, h); !strings.Contains(m, `key="`+keyID(1)+`"`) {
		t.Errorf("metrics do not name the key by ID; the check proves nothing:\n%s", m)
	}
	found := false
	for _, hdr := range h.upstreamHeaders() {
		if hdr.Get("X-Api-Key") == keyValue(1) || hdr.Get("Authorization") == "Bearer "+keyValue(1) {
			found = true
		}
	}
	if !found {
		t.Error("the upstream never received key 1; the canaries did not go through the proxy")
	}
}
