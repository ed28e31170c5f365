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
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/keypool-dev/keypool-operator/internal/provider"
	"github.com/keypool-dev/keypool-operator/internal/proxytest"
)

// genaiModelStack is a stack of prov with GenAI metrics into reader and an
// upstream that answers every request with an empty JSON object.
func genaiModelStack(t *testing.T, prov provider.Provider) (*proxytest.Stack, *sdkmetric.ManualReader) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	g, err := NewGenAI(nil, sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
	if err != nil {
		t.Fatal(err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{}`)
	})
	s := proxytest.New(t, proxytest.Config{Provider: prov, Upstream: ok}, func(w proxytest.Wiring) http.Handler {
		return New(w.Registry, Options{Logger: w.Logger, Transport: w.Transport, Metrics: w.Metrics, GenAI: g})
	})
	return s, reader
}

// send posts body to the pool's path with the stack's client token.
func send(t *testing.T, s *proxytest.Stack, path, body string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.Base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", proxytest.ClientToken)
	resp, err := s.Front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: status %d", path, resp.StatusCode)
	}
}

// durationModels returns the gen_ai.request.model values of the duration
// histogram's series ("" for a series without one).
func durationModels(t *testing.T, reader *sdkmetric.ManualReader) map[string]bool {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	models := map[string]bool{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			h, ok := m.Data.(metricdata.Histogram[float64])
			if m.Name != metricDuration || !ok {
				continue
			}
			for _, dp := range h.DataPoints {
				v, _ := dp.Attributes.Value(attrRequestModel)
				models[v.AsString()] = true
			}
		}
	}
	return models
}

// TestGenAIModelFromTheProviderField: the model attribute is read where the
// provider defines the model, never from a "model" a client put elsewhere:
// the top-level "model" of an Anthropic or OpenAI body, the model in a
// Gemini path, the deployment in an Azure path.
func TestGenAIModelFromTheProviderField(t *testing.T) {
	cases := []struct {
		prov       provider.Provider
		path, body string
		want       string
	}{
		{provider.Anthropic, "/v1/messages",
			`{"metadata":{"model":"nested"},"messages":[{"role":"user","content":"x"}],"model":"claude-top"}`, "claude-top"},
		{provider.Anthropic, "/v1/messages", `{"messages":[{"role":"user","content":"\"model\":\"in-text\""}]}`, ""},
		{provider.OpenAI, "/v1/chat/completions", `{"tools":[{"function":{"parameters":{"model":"nested"}}}],"model":"gpt-top"}`, "gpt-top"},
		{provider.Gemini, "/v1beta/models/gemini-top:generateContent", `{"model":"from-body","contents":[]}`, "gemini-top"},
		{provider.Azure, "/openai/deployments/deploy-top/chat/completions?api-version=2024-10-21", `{"model":"from-body"}`, "deploy-top"},
		{provider.Azure, "/openai/v1/chat/completions", `{"messages":[],"model":"azure-v1-top"}`, "azure-v1-top"},
	}
	for _, tc := range cases {
		t.Run(tc.prov.Name()+" "+tc.want, func(t *testing.T) {
			s, reader := genaiModelStack(t, tc.prov)
			send(t, s, tc.path, tc.body)
			s.WaitIdle()
			got := durationModels(t, reader)
			if len(got) != 1 || !got[tc.want] {
				t.Errorf("model attribute values %v, want only %q", got, tc.want)
			}
		})
	}
}

// TestGenAIModelCardinalityBounded: a client that sends ever new model
// names fills at most 32 series of a pool; every model after
// those reads "other".
func TestGenAIModelCardinalityBounded(t *testing.T) {
	s, reader := genaiModelStack(t, provider.Anthropic)
	for i := range genaiModelCap + 10 {
		send(t, s, "/v1/messages", fmt.Sprintf(`{"model":"made-up-%d","messages":[]}`, i))
	}
	send(t, s, "/v1/messages", `{"model":"made-up-0","messages":[]}`) // seen before: still its own
	s.WaitIdle()
	got := durationModels(t, reader)
	if len(got) != genaiModelCap+1 || !got[modelOther] || !got["made-up-0"] || got[fmt.Sprintf("made-up-%d", genaiModelCap)] {
		t.Errorf("%d model values %v, want the first %d and %q", len(got), got, genaiModelCap, modelOther)
	}
}
