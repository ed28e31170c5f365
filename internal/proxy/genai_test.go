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
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/keypool-dev/keypool-operator/internal/apitest"
	"github.com/keypool-dev/keypool-operator/internal/provider"
	"github.com/keypool-dev/keypool-operator/internal/proxytest"
)

// genaiStack is a proxy stack with tracing into an in-memory recorder and
// metrics into a manual reader.
func genaiStack(t *testing.T) (*proxytest.Stack, *tracetest.SpanRecorder, *sdkmetric.ManualReader) {
	t.Helper()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	g, err := NewGenAI(tp, mp)
	if err != nil {
		t.Fatal(err)
	}
	s := proxytest.New(t, proxytest.Config{Provider: provider.Anthropic}, func(w proxytest.Wiring) http.Handler {
		return New(w.Registry, Options{Logger: w.Logger, Transport: w.Transport, Metrics: w.Metrics, GenAI: g})
	})
	return s, spans, reader
}

// TestGenAISpanOfAFailedOverStream: a streamed request whose first key the
// provider rejects gives one client span with the GenAI attributes, the key
// that served it (its ID), two attempts and a failover event naming the
// rejected key; the client's traceparent is its parent. No attribute holds
// a key or token value.
func TestGenAISpanOfAFailedOverStream(t *testing.T) {
	s, spans, reader := genaiStack(t)
	if err := s.Fake.RevokeKey(proxytest.KeyValue(1)); err != nil {
		t.Fatal(err)
	}
	req, err := s.NewRequest(t.Context(), apitest.AnthropicBody("hello [[output_tokens=12]]", true))
	if err != nil {
		t.Fatal(err)
	}
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	req.Header.Set("traceparent", parent)
	resp, err := s.Front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "message_stop") {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	s.WaitIdle()

	ended := spans.Ended()
	if len(ended) != 1 {
		t.Fatalf("%d spans, want 1", len(ended))
	}
	span := ended[0]
	attrs := map[string]attribute.Value{}
	var listed []string
	for _, kv := range span.Attributes() {
		attrs[string(kv.Key)] = kv.Value
		listed = append(listed, string(kv.Key)+"="+kv.Value.String())
	}
	sort.Strings(listed)
	t.Logf("span %q kind=%s parent=%s status=%s\n  %s", span.Name(), span.SpanKind(), span.Parent().SpanID(),
		span.Status().Code, strings.Join(listed, "\n  "))
	for _, e := range span.Events() {
		var ev []string
		for _, kv := range e.Attributes {
			ev = append(ev, string(kv.Key)+"="+kv.Value.String())
		}
		t.Logf("event %s: %s", e.Name, strings.Join(ev, " "))
	}

	if span.Name() != "chat claude-test" || span.SpanKind() != trace.SpanKindClient {
		t.Errorf("span %q kind %s, want \"chat claude-test\" client", span.Name(), span.SpanKind())
	}
	if got := span.Parent().TraceID().String(); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("parent trace %s, want the client's", got)
	}
	for key, want := range map[string]string{
		attrProvider: "anthropic", attrOperation: "chat", attrRequestModel: "claude-test",
		attrKey: proxytest.KeyID(2), attrNamespace: proxytest.Namespace, attrPool: s.Config.Name,
	} {
		if got := attrs[key].AsString(); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	for key, want := range map[string]int64{attrAttempts: 2, attrStatus: 200, attrOutputTokens: 12} {
		if got := attrs[key].AsInt64(); got != want {
			t.Errorf("%s = %d, want %d", key, got, want)
		}
	}
	if attrs[attrInputTokens].AsInt64() <= 0 {
		t.Errorf("%s = %d, want the prompt's tokens", attrInputTokens, attrs[attrInputTokens].AsInt64())
	}
	if id := attrs[attrResponseID].AsString(); !strings.HasPrefix(id, "msg_") {
		t.Errorf("%s = %q, want the message id", attrResponseID, id)
	}
	if attrs[attrFirstChunk].AsFloat64() <= 0 {
		t.Errorf("%s not recorded", attrFirstChunk)
	}
	events := span.Events()
	if len(events) != 1 || events[0].Name != eventFailover {
		t.Fatalf("events %v, want one %s", events, eventFailover)
	}
	ev := map[string]attribute.Value{}
	for _, kv := range events[0].Attributes {
		ev[string(kv.Key)] = kv.Value
	}
	if ev[attrKey].AsString() != proxytest.KeyID(1) || ev[attrStatus].AsInt64() != 401 {
		t.Errorf("failover event %v, want keys/k1 answered 401", events[0].Attributes)
	}
	all := strings.Join(listed, " ")
	for _, secret := range s.Secrets() {
		if strings.Contains(all, secret) {
			t.Errorf("a span attribute holds the secret %q", secret)
		}
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Histogram[int64]:
				for _, p := range d.DataPoints {
					tt, _ := p.Attributes.Value(attrTokenType)
					counts[m.Name+"/"+tt.AsString()] += p.Count
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					counts[m.Name] += p.Count
				}
			}
		}
	}
	for _, name := range []string{metricTokenUsage + "/input", metricTokenUsage + "/output", metricDuration, metricFirstChunk} {
		if counts[name] != 1 {
			t.Errorf("%s recorded %d times, want 1 (all: %v)", name, counts[name], counts)
		}
	}
}

// TestGenAIErrorSpan: a request the proxy answers with an error ends its
// span with status Error and error.type.
func TestGenAIErrorSpan(t *testing.T) {
	s, spans, _ := genaiStack(t)
	for n := 1; n <= 3; n++ {
		if err := s.Fake.RevokeKey(proxytest.KeyValue(n)); err != nil {
			t.Fatal(err)
		}
	}
	req, err := s.NewRequest(t.Context(), apitest.AnthropicBody("hello", false))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.Front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	s.WaitIdle()
	ended := spans.Ended()
	if len(ended) != 1 {
		t.Fatalf("%d spans, want 1", len(ended))
	}
	var errType string
	for _, kv := range ended[0].Attributes() {
		if kv.Key == attrErrorType {
			errType = kv.Value.AsString()
		}
	}
	if ended[0].Status().Code.String() != "Error" || errType != "401" {
		t.Errorf("status %v, error.type %q; want Error and 401 (answered %d)", ended[0].Status(), errType, resp.StatusCode)
	}
}

func TestStringField(t *testing.T) {
	for _, c := range []struct{ in, key, want string }{
		{`{"model": "claude-x", "messages": []}`, `"model"`, "claude-x"},
		{`{"messages":[{"content":"say \"model\""}],"model":"m"}`, `"model"`, "m"}, // an escaped "model" in a string is not the key
		{`event: message_start` + "\n" + `data: {"type":"message_start","message":{"id":"msg_01","type":"message"}}`, `"id"`, "msg_01"},
		{`{"id":"chatcmpl-\"q\""}`, `"id"`, `chatcmpl-"q"`},
		{`{"model": 3}`, `"model"`, ""},
		{`{"model":"unterminated`, `"model"`, ""},
	} {
		if got := stringField([]byte(c.in), c.key); got != c.want {
			t.Errorf("stringField(%q, %s) = %q, want %q", c.in, c.key, got, c.want)
		}
	}
}
