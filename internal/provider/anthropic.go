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

package provider

import (
	"net/http"
	"net/url"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
	"github.com/keypool-dev/keypool-operator/internal/usage"
)

// anthropic is the Anthropic Messages API: the key in x-api-key,
// anthropic-ratelimit-* headers with RFC 3339 resets, errors as
// {"type":"error","error":{"type":...,"message":...}}.
type anthropic struct{}

func (anthropic) Name() string            { return "anthropic" }
func (anthropic) DefaultUpstream() string { return "https://api.anthropic.com" }

func (anthropic) Authenticate(base http.RoundTripper, apiKey string) http.RoundTripper {
	return HeaderAuth(base, "X-Api-Key", apiKey)
}

// What the official SDKs send that the API reads; X-Stainless-* describe the
// SDK and its retries.
var anthropicRequestHeaders = NewHeaderSet(
	"Content-Type", "Accept", "User-Agent", "Anthropic-Version", "Anthropic-Beta", "X-Stainless-*")

func (anthropic) ForwardsRequestHeader(k string) bool { return anthropicRequestHeaders.Has(k) }

// The list endpoints' paging (models, batches, files) and the SDKs' beta
// marker.
var anthropicQueryParams = NewParamSet("beta", "limit", "after_id", "before_id")

func (anthropic) ForwardsQueryParam(k string) bool { return anthropicQueryParams.Has(k) }

// The request ID (for support tickets) and what the SDKs' retry logic reads.
// The key's own rate-limit headers and organization stay with the pool: they
// describe one key, not the capacity the client can count on.
var anthropicResponseHeaders = NewHeaderSet(
	"Content-Type", "Content-Length", "Content-Encoding", "Cache-Control",
	"Request-Id", "Retry-After", "X-Should-Retry")

func (anthropic) ForwardsResponseHeader(k string) bool { return anthropicResponseHeaders.Has(k) }

var anthropicLimits = RateLimitHeaders{
	Dimensions: []DimensionHeaders{
		anthropicHeaderNames(ratelimit.Requests, "Requests"),
		anthropicHeaderNames(ratelimit.InputTokens, "Input-Tokens"),
		anthropicHeaderNames(ratelimit.OutputTokens, "Output-Tokens"),
	},
	// The combined tokens-* headers report whichever of the input and output
	// limits is tighter: used only when neither per-direction set came.
	Fallback:     &anthropicCombinedTokens,
	Reset:        ResetRFC3339,
	Organization: "Anthropic-Organization-Id",
}

var anthropicCombinedTokens = anthropicHeaderNames(ratelimit.Tokens, "Tokens")

// anthropicHeaderNames names Anthropic-Ratelimit-<name>-{Limit,Remaining,Reset}.
// It runs at package initialisation, so parsing builds no strings.
func anthropicHeaderNames(dim ratelimit.Dimension, name string) DimensionHeaders {
	p := "Anthropic-Ratelimit-" + name
	return DimensionHeaders{dim, p + "-Limit", p + "-Remaining", p + "-Reset"}
}

// ParseLimits reads anthropic-ratelimit-{requests,input-tokens,output-tokens,
// tokens}-{limit,remaining,reset}, retry-after and anthropic-organization-id.
func (anthropic) ParseLimits(h http.Header, now time.Time) Limits {
	return anthropicLimits.Parse(h, now)
}

// anthropicErrorTypes are error.type per Error, as the API names them.
var anthropicErrorTypes = [...]string{
	ErrNotFound:       "not_found_error",
	ErrUnauthorized:   "authentication_error",
	ErrTooLarge:       "request_too_large",
	ErrRateLimited:    "rate_limit_error",
	ErrBadGateway:     "api_error",
	ErrUnavailable:    "overloaded_error",
	ErrBadRequest:     "invalid_request_error",
	ErrRequestTimeout: "invalid_request_error",
}

type anthropicError struct {
	Type  string             `json:"type"`
	Error anthropicErrorBody `json:"error"`
}

type anthropicErrorBody struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

func (anthropic) WriteError(w http.ResponseWriter, e Error, msg string) {
	WriteJSON(w, e.Status(), anthropicError{Type: "error",
		Error: anthropicErrorBody{Type: errorName(anthropicErrorTypes[:], e), Message: msg}})
}

// anthropicUsage: the message's usage (also in message_delta events, the
// final count), the message_start event's message.usage (an interim one),
// and the content deltas a stream delivers (text, tool input, thinking).
var anthropicUsage = usage.MustSchema(anthropicUsagePaths()...)

// anthropicUsagePaths are where a Messages answer or event reports usage and
// streamed content; Bedrock and Vertex AI serve the same answers.
func anthropicUsagePaths() []usage.Path {
	return append(append(
		usage.Under(usageObject, anthropicUsageLeaves...),
		usage.Interim(usage.Under([]string{"message", usageKey}, anthropicUsageLeaves...))...),
		usage.Path{Keys: []string{deltaKey, textKey}, Field: usage.FieldStreamed},
		usage.Path{Keys: []string{deltaKey, "partial_json"}, Field: usage.FieldStreamed},
		usage.Path{Keys: []string{deltaKey, "thinking"}, Field: usage.FieldStreamed})
}

var anthropicUsageLeaves = []usage.Path{
	{Keys: []string{"input_tokens"}, Field: usage.FieldInput},
	{Keys: []string{"output_tokens"}, Field: usage.FieldOutput},
	{Keys: []string{"cache_creation_input_tokens"}, Field: usage.FieldCacheCreation},
	{Keys: []string{"cache_read_input_tokens"}, Field: usage.FieldCacheRead},
}

func (anthropic) Usage() *usage.Schema { return anthropicUsage }

// KeyInvalid: Anthropic answers an invalid or disabled key with 401
// authentication_error; 403 permission_error is about what the request asks
// for (a model, a feature) and blames no key.
func (anthropic) KeyInvalid(status int, body []byte) bool {
	return status == http.StatusUnauthorized && parseErrorFields(body).Error.Type == "authentication_error"
}

func (anthropic) KeyCheck(upstream *url.URL) *http.Request {
	r := checkRequest(upstream, "/v1/models", "limit=1")
	r.Header["Anthropic-Version"] = []string{"2023-06-01"}
	return r
}

// SafeToRepeat: reads, messages and token counts create nothing; batches,
// files and skills do.
func (anthropic) SafeToRepeat(method, path string) bool {
	if isRead(method) {
		return true
	}
	switch path {
	case "/v1/messages", "/v1/messages/count_tokens", "/v1/complete":
		return method == http.MethodPost
	}
	return false
}

// anthropicEstimate: Claude models have 200k-token windows; images cost
// about w*h/750 tokens.
var anthropicEstimate = estimateRules{defaultWindow: 200_000, images: imagesByArea}

// Model is the body's top-level "model".
func (anthropic) Model(_ string, f *RequestFacts) string { return modelName(f.bodyModel) }

func (anthropic) EstimateInputTokens(body []byte) int64 {
	return estimateInputTokens(body, &anthropicEstimate)
}

// ReadRequest: messages and legacy completions generate; count_tokens,
// models, batches and files do not (a batch's results are charged by its
// own answers).
func (anthropic) ReadRequest(method, path string, body []byte) RequestFacts {
	f := readRequest(body, &anthropicEstimate)
	f.Generates = method == http.MethodPost && (path == "/v1/messages" || path == "/v1/complete")
	if f.Generates {
		f.ReserveOutput = f.MaxOutputTokens // OTPM is admitted on max_tokens
	}
	return f
}
