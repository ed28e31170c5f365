package proxy

import (
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/keypool-dev/keypool-operator/internal/provider"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/keypool-dev/keypool-operator/internal/fakeprovider"
	"github.com/keypool-dev/keypool-operator/internal/keypool"
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
	fake := fakeprovider.New(fakeprovider.Config{Keys: []fakeprovider.Key{{Key: keyValue(1), Org: "org"}}})
	upstream := httptest.NewServer(fake)
	b.Cleanup(upstream.Close)
	tr := &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}
	b.Cleanup(tr.CloseIdleConnections)
	t := &benchTarget{
		url:    upstream.URL + "/v1/messages",
		header: http.Header{"X-Api-Key": {keyValue(1)}, "Content-Type": {"application/json"}, "Anthropic-Version": {"2023-06-01"}},
		client: &http.Client{Transport: tr},
	}
	if !viaProxy {
		return t
	}
	u, _ := url.Parse(upstream.URL)
	pool, err := keypool.NewKeyPool(provider.Anthropic, keypool.PoolConfig{
		Keys: []keypool.KeyConfig{{ID: "keys/k1", APIKey: keyValue(1)}},
		Access: keypool.Access{Upstream: u, MaxAttempts: 3,
			ClientTokenHashes: [][sha256.Size]byte{sha256.Sum256([]byte(clientToken))}},
	})
	if err != nil {
		b.Fatal(err)
	}
	reg := keypool.NewRegistry()
	reg.Set(namespace, poolName, pool)
	upTr := &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}
	b.Cleanup(upTr.CloseIdleConnections)
	p := New(reg, Options{Logger: logr.Discard(), Transport: upTr, Metrics: prometheus.NewRegistry()})
	front := httptest.NewServer(p)
	b.Cleanup(front.Close)
	t.url = front.URL + "/pools/" + namespace + "/" + poolName + "/v1/messages"
	t.header.Set("X-Api-Key", clientToken)
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
			body := anthropicBody(prompt, stream)
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
