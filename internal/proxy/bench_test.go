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
	"net/http/httputil"
	"net/url"
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

// benchPath is the way a benchmark's requests take to the fake provider.
type benchPath int

const (
	direct   benchPath = iota // straight to the fake provider
	viaProxy                  // through the proxy, with its upstream transport (NewTransport)
	// viaBareProxy is through httputil.ReverseProxy with the same transport
	// and nothing else: no auth, no key choice, no usage scanning. It is
	// the floor a net/http proxy cannot go below.
	viaBareProxy
)

func newBenchTarget(b *testing.B, path benchPath) *benchTarget {
	b.Helper()
	var bareUpstream *url.URL // set once the stack's upstream listens
	st := proxytest.New(b, proxytest.Config{
		KeyValues:    []string{keyValue(1)},
		ClientTokens: []string{clientToken},
		Transport:    NewTransport(nil),
		Quiet:        true,
		NoRecording:  true, // a header clone per request is the harness's cost, not the proxy's
	}, func(w proxytest.Wiring) http.Handler {
		if path == viaBareProxy {
			rp := &httputil.ReverseProxy{Transport: w.Transport, Rewrite: func(r *httputil.ProxyRequest) {
				r.SetURL(bareUpstream)
				r.Out.Header.Set("X-Api-Key", keyValue(1))
			}}
			// Full duplex, or net/http's server closes the client's body
			// under the transport now and then, and the upstream connection
			// with it, mid-stream (cmd/proxyserver's fullDuplex says how).
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_ = http.NewResponseController(w).EnableFullDuplex()
				rp.ServeHTTP(w, r)
			})
		}
		return New(w.Registry, Options{Logger: w.Logger, Transport: w.Transport, Metrics: w.Metrics})
	})
	bareUpstream, _ = url.Parse(st.Upstream.URL)
	clientTr := &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}
	b.Cleanup(clientTr.CloseIdleConnections)
	t := &benchTarget{
		url:    st.Upstream.URL + "/v1/messages",
		header: proxytest.ClientHeader(provider.Anthropic, keyValue(1)),
		client: &http.Client{Transport: clientTr},
	}
	switch path {
	case viaBareProxy:
		t.url = st.Front.URL + "/v1/messages"
		t.header = proxytest.ClientHeader(provider.Anthropic, clientToken)
	case viaProxy:
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

func benchRoundTrips(b *testing.B, path benchPath) {
	prompt := strings.Repeat("benchmark prompt text ", 50) + "[[output_tokens=64]]"
	for _, stream := range []bool{false, true} {
		b.Run(map[bool]string{false: "json", true: "sse"}[stream], func(b *testing.B) {
			t := newBenchTarget(b, path)
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
func BenchmarkProxy(b *testing.B) { benchRoundTrips(b, viaProxy) }

// BenchmarkDirect is the same request straight to the fake provider.
func BenchmarkDirect(b *testing.B) { benchRoundTrips(b, direct) }

// BenchmarkBareProxy is the same request through a bare
// httputil.ReverseProxy: BenchmarkProxy minus BenchmarkBareProxy is what the
// pooling costs above net/http's own proxying.
func BenchmarkBareProxy(b *testing.B) { benchRoundTrips(b, viaBareProxy) }
