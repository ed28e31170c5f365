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
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/keypool-dev/keypool-operator/internal/usage"
)

// OpenTelemetry names: the GenAI semantic conventions, plus the gateway's
// own attributes under keypool.*.
const (
	attrProvider      = "gen_ai.provider.name"
	attrOperation     = "gen_ai.operation.name"
	attrRequestModel  = "gen_ai.request.model"
	attrResponseID    = "gen_ai.response.id"
	attrInputTokens   = "gen_ai.usage.input_tokens"
	attrOutputTokens  = "gen_ai.usage.output_tokens"
	attrCacheCreation = "gen_ai.usage.cache_creation.input_tokens"
	attrCacheRead     = "gen_ai.usage.cache_read.input_tokens"
	attrTokenType     = "gen_ai.token.type"
	attrStatus        = "http.response.status_code"
	attrErrorType     = "error.type"
	attrNamespace     = "keypool.namespace"
	attrPool          = "keypool.pool"
	attrKey           = "keypool.key" // secret/dataKey, never the key
	attrAttempts      = "keypool.attempts"
	attrAttempt       = "keypool.attempt"
	attrFirstChunk    = "keypool.time_to_first_chunk_ms"

	metricTokenUsage = "gen_ai.client.token.usage"
	metricDuration   = "gen_ai.client.operation.duration"
	metricFirstChunk = "gen_ai.client.operation.time_to_first_chunk"

	eventFailover = "keypool.failover"

	// idWindow is how much of a response's start is searched for its id.
	idWindow = 4096
)

// GenAI instruments proxied requests with OpenTelemetry: one client span per
// request and the GenAI client histograms. Options.GenAI nil (the default)
// turns it off: the request path then only compares one pointer with nil.
type GenAI struct {
	tracer     trace.Tracer
	tokens     metric.Int64Histogram
	duration   metric.Float64Histogram
	firstChunk metric.Float64Histogram
	models     modelSets // each pool's model values, bounded (genai_model.go)
}

// NewGenAI returns the instrumentation over tp and mp (either may be nil:
// no spans, or no metrics).
func NewGenAI(tp trace.TracerProvider, mp metric.MeterProvider) (*GenAI, error) {
	g := &GenAI{}
	const scope = "github.com/keypool-dev/keypool-operator/internal/proxy"
	if tp != nil {
		g.tracer = tp.Tracer(scope)
	}
	if mp == nil {
		return g, nil
	}
	m := mp.Meter(scope)
	var err error
	// Bucket boundaries are the ones the conventions advise.
	if g.tokens, err = m.Int64Histogram(metricTokenUsage, metric.WithUnit("{token}"),
		metric.WithDescription("Tokens used per request, by gen_ai.token.type (input, output)."),
		metric.WithExplicitBucketBoundaries(1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864),
	); err != nil {
		return nil, fmt.Errorf("%s: %w", metricTokenUsage, err)
	}
	durations := metric.WithExplicitBucketBoundaries(
		0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
	if g.duration, err = m.Float64Histogram(metricDuration, metric.WithUnit("s"), durations,
		metric.WithDescription("Duration of proxied GenAI requests, to the end of the response.")); err != nil {
		return nil, fmt.Errorf("%s: %w", metricDuration, err)
	}
	if g.firstChunk, err = m.Float64Histogram(metricFirstChunk, metric.WithUnit("s"), durations,
		metric.WithDescription("Time from the request to the first chunk of the response body.")); err != nil {
		return nil, fmt.Errorf("%s: %w", metricFirstChunk, err)
	}
	return g, nil
}

// genaiCall is one request's span and measurements.
type genaiCall struct {
	g          *GenAI
	ctx        context.Context
	span       trace.Span
	start      time.Time
	base       []attribute.KeyValue // provider, operation, model
	firstChunk time.Duration        // 0 until the first body bytes
	seen       int                  // body bytes searched for the id
	head       []byte               // the response's first bytes, for the id
}

// start begins the instrumentation of x; nil when g is nil.
func (g *GenAI) start(x *exchange) *genaiCall {
	if g == nil {
		return nil
	}
	c := &genaiCall{g: g, start: x.start}
	c.base = []attribute.KeyValue{
		attribute.String(attrProvider, x.prov.Name()),
		attribute.String(attrOperation, operationName(x.route.rest)),
	}
	model := g.models.bound(poolRef{x.route.namespace, x.route.name}, x.model)
	if model != "" {
		c.base = append(c.base, attribute.String(attrRequestModel, model))
	}
	if g.tracer != nil {
		// A client's traceparent makes the span its child.
		ctx := propagation.TraceContext{}.Extract(x.r.Context(), propagation.HeaderCarrier(x.r.Header))
		name := operationName(x.route.rest)
		if model != "" {
			name += " " + model
		}
		c.ctx, c.span = g.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient),
			trace.WithTimestamp(x.start), trace.WithAttributes(c.base...),
			trace.WithAttributes(attribute.String(attrNamespace, x.route.namespace), attribute.String(attrPool, x.route.name)))
	}
	return c
}

// failover records an attempt that moved to another key.
func (c *genaiCall) failover(key string, attempt, status int, err error) {
	if c == nil || c.span == nil {
		return
	}
	attrs := []attribute.KeyValue{attribute.String(attrKey, key), attribute.Int(attrAttempt, attempt)}
	if status != 0 {
		attrs = append(attrs, attribute.Int(attrStatus, status))
	}
	if err != nil {
		attrs = append(attrs, attribute.String(attrErrorType, fmt.Sprintf("%T", err)))
	}
	c.span.AddEvent(eventFailover, trace.WithAttributes(attrs...))
}

// chunk sees the response body as it goes to the client.
func (c *genaiCall) chunk(p []byte) {
	if c.firstChunk == 0 {
		c.firstChunk = max(time.Since(c.start), 1)
	}
	if c.seen < idWindow {
		n := min(len(p), idWindow-c.seen)
		c.head = append(c.head, p[:n]...)
		c.seen += n
	}
}

// end ends the span and records the histograms.
func (c *genaiCall) end(key string, code, attempts int, t usage.Tokens) {
	if c == nil {
		return
	}
	elapsed := time.Since(c.start)
	if c.span != nil {
		attrs := []attribute.KeyValue{
			attribute.Int(attrStatus, code),
			attribute.Int(attrAttempts, attempts),
		}
		if key != keyNone {
			attrs = append(attrs, attribute.String(attrKey, key))
		}
		if id := responseID(c.head); id != "" {
			attrs = append(attrs, attribute.String(attrResponseID, id))
		}
		if t != (usage.Tokens{}) {
			attrs = append(attrs, attribute.Int64(attrInputTokens, t.Input), attribute.Int64(attrOutputTokens, t.Output),
				attribute.Int64(attrCacheCreation, t.CacheCreation), attribute.Int64(attrCacheRead, t.CacheRead))
		}
		if c.firstChunk > 0 {
			attrs = append(attrs, attribute.Float64(attrFirstChunk, float64(c.firstChunk)/float64(time.Millisecond)))
		}
		if code >= http.StatusBadRequest {
			attrs = append(attrs, attribute.String(attrErrorType, strconv.Itoa(code)))
			c.span.SetStatus(codes.Error, http.StatusText(code))
		}
		c.span.SetAttributes(attrs...)
		c.span.End()
	}
	if c.g.duration == nil {
		return
	}
	ctx := c.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	opts := metric.WithAttributes(c.base...)
	if code >= http.StatusBadRequest {
		opts = metric.WithAttributes(append(c.base, attribute.String(attrErrorType, strconv.Itoa(code)))...)
	}
	c.g.duration.Record(ctx, elapsed.Seconds(), opts)
	if c.firstChunk > 0 {
		c.g.firstChunk.Record(ctx, c.firstChunk.Seconds(), opts)
	}
	if t != (usage.Tokens{}) {
		input := metric.WithAttributes(append(c.base, attribute.String(attrTokenType, "input"))...)
		c.g.tokens.Record(ctx, t.Input+t.CacheCreation+t.CacheRead, input)
		c.g.tokens.Record(ctx, t.Output, metric.WithAttributes(append(c.base, attribute.String(attrTokenType, "output"))...))
	}
}

// operationName maps a provider API path to gen_ai.operation.name.
func operationName(rest string) string {
	switch {
	case strings.Contains(rest, "embeddings"):
		return "embeddings"
	case strings.HasSuffix(rest, "/completions") && !strings.HasSuffix(rest, "/chat/completions"):
		return "text_completion"
	default: // /v1/messages, /v1/chat/completions, /v1/responses
		return "chat"
	}
}

// forget drops what g holds of a deleted pool; g may be nil.
func (g *GenAI) forget(namespace, name string) {
	if g != nil {
		g.models.forget(poolRef{namespace, name})
	}
}

// responseID finds the first "id" string of a response's start: the
// message's (Anthropic JSON and message_start event) or the completion's
// (OpenAI JSON and every chunk).
func responseID(head []byte) string { return stringField(head, `"id"`) }

// stringField returns the string value after the first occurrence of key
// (a quoted JSON key), or "" when there is none or it is not a string.
func stringField(b []byte, key string) string {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return ""
	}
	rest := bytes.TrimLeft(b[i+len(key):], " \t\r\n")
	if len(rest) == 0 || rest[0] != ':' {
		return ""
	}
	rest = bytes.TrimLeft(rest[1:], " \t\r\n")
	if len(rest) == 0 || rest[0] != '"' {
		return ""
	}
	for j := 1; j < len(rest) && j < 256; j++ {
		switch rest[j] {
		case '\\':
			j++
		case '"':
			if s, err := strconv.Unquote(string(rest[:j+1])); err == nil {
				return s
			}
			return ""
		}
	}
	return ""
}
