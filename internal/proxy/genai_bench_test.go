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
	"context"
	"net/http"
	"strings"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/keypool-dev/keypool-operator/internal/apitest"
	"github.com/keypool-dev/keypool-operator/internal/provider"
	"github.com/keypool-dev/keypool-operator/internal/proxytest"
)

// discardSpans is an exporter that drops what the batcher hands it: the
// SDK's whole cost without a collector.
type discardSpans struct{}

func (discardSpans) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardSpans) Shutdown(context.Context) error                             { return nil }

// BenchmarkProxyTracing is BenchmarkProxy with tracing off (Options.GenAI
// nil, the default without OTEL_EXPORTER_OTLP_*) and on (the SDK with a
// batching span processor and a metric reader, as the manager sets up).
// Results: bench/results/tracing-bench.txt, docs/guides/tracing.md.
func BenchmarkProxyTracing(b *testing.B) {
	prompt := strings.Repeat("benchmark prompt text ", 50) + "[[output_tokens=64]]"
	for _, on := range []bool{false, true} {
		for _, stream := range []bool{false, true} {
			name := map[bool]string{false: "off", true: "on"}[on] + "/" + map[bool]string{false: "json", true: "sse"}[stream]
			b.Run(name, func(b *testing.B) {
				var g *GenAI
				if on {
					tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(discardSpans{}))
					mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
					b.Cleanup(func() { _ = tp.Shutdown(context.Background()); _ = mp.Shutdown(context.Background()) })
					var err error
					if g, err = NewGenAI(tp, mp); err != nil {
						b.Fatal(err)
					}
				}
				st := proxytest.New(b, proxytest.Config{
					KeyValues: []string{keyValue(1)}, ClientTokens: []string{clientToken},
					Transport: &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true},
					// As BenchmarkProxy: no per-request log line into the
					// benchmark's log (logr.Discard() here would not do: its
					// nil sink reads as unset and gets the test logger) and
					// no header clone per request, both the harness's costs.
					Quiet: true, NoRecording: true,
				}, func(w proxytest.Wiring) http.Handler {
					return New(w.Registry, Options{Logger: w.Logger, Transport: w.Transport, Metrics: w.Metrics, GenAI: g})
				})
				tr := &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}
				b.Cleanup(tr.CloseIdleConnections)
				t := &benchTarget{url: st.Base + "/v1/messages", header: proxytest.ClientHeader(provider.Anthropic, clientToken),
					client: &http.Client{Transport: tr}}
				body := apitest.AnthropicBody(prompt, stream)
				t.roundTrip(b, body)
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					t.roundTrip(b, body)
				}
			})
		}
	}
}
