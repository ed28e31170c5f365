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

// benchTarget is the fake provider, optionally behind the proxy, both on
// loopback in this process. BenchmarkProxy minus BenchmarkDirect (same
// client, same requests) is the latency and the allocations the proxy adds.
type benchTarget struct {
	url    string // where the client sends /v1/messages
	header http.Header
	client *http.Client
}

func newBenchTarget(b *testing.B, viaProxy bool) *benchTarget {
	b.Helper()
	st := proxytest.New(b, proxytest.Config{
		KeyValues:    []string{keyValue(1)},
		ClientTokens: []string{clientToken},
		Transport:    &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true},
		Quiet:        true,
		NoRecording:  true, // a header clone per request is the harness's cost, not the proxy's
	}, func(w proxytest.Wiring) http.Handler {
		return New(w.Registry, Options{Logger: w.Logger, Transport: w.Transport, Metrics: w.Metrics})
	})
	tr := &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}
	b.Cleanup(tr.CloseIdleConnections)
	t := &benchTarget{
		url:    st.Upstream.URL + "/v1/messages",
		header: proxytest.ClientHeader(provider.Anthropic, keyValue(1)),
		client: &http.Client{Transport: tr},
	}
	if viaProxy {
		t.url = st.Base + "/v1/messages"
		t.header = proxytest.ClientHeader(provider.Anthropic, clientToken)
	}
	return t
}

func (t *benchTarget) roundTrip(b *testing.B, body string) {
	req, err := http.NewRequest(http.MethodPost, t.url, strings.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	req.Header = t.header
	resp, err := t.client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		b.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("status %d", resp.StatusCode)
	}
}

func benchRoundTrips(b *testing.B, viaProxy bool) {
	prompt := strings.Repeat("benchmark prompt text ", 50) + "[[output_tokens=64]]"
	for _, stream := range []bool{false, true} {
		b.Run(map[bool]string{false: "json", true: "sse"}[stream], func(b *testing.B) {
			t := newBenchTarget(b, viaProxy)
			body := apitest.AnthropicBody(prompt, stream)
			t.roundTrip(b, body) // warm the connections
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				t.roundTrip(b, body)
			}
		})
	}
}

// BenchmarkProxy is one client request through the proxy to the fake
// provider: a 1.1 KB request, 64 output tokens (8 SSE deltas when streaming).
func BenchmarkProxy(b *testing.B) { benchRoundTrips(b, true) }

// BenchmarkDirect is the same request straight to the fake provider.
func BenchmarkDirect(b *testing.B) { benchRoundTrips(b, false) }
