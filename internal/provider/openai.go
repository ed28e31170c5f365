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
	"strings"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
	"github.com/keypool-dev/keypool-operator/internal/usage"
)

// openAI is any OpenAI-compatible API: the key as Authorization: Bearer,
// x-ratelimit-* headers with duration resets, errors as
// {"error":{"message":...,"type":...,"param":null,"code":...}}.
type openAI struct{}

func (openAI) Name() string            { return "openai" }
func (openAI) DefaultUpstream() string { return "https://api.openai.com" }

func (openAI) Authenticate(base http.RoundTripper, apiKey string) http.RoundTripper {
	return HeaderAuth(base, "Authorization", "Bearer "+apiKey)
}

// What the official SDKs send that the API reads. OpenAI-Organization and
// OpenAI-Project are not among them: which account a pool key bills is the
// pool's choice, and a client's mismatching value makes the API answer 401
// for a key that is fine.
var openAIRequestHeaders = NewHeaderSet(
	"Content-Type", "Accept", "User-Agent", "OpenAI-Beta", "Idempotency-Key", "X-Stainless-*")

func (openAI) ForwardsRequestHeader(k string) bool { return openAIRequestHeaders.Has(k) }

// openAIQueryNames are what the API's endpoints document: list paging and
// filters (files, batches, fine-tuning, stored completions, vector stores,
// containers, videos), and retrieving a response (include, stream,
// starting_after).
var openAIQueryNames = []string{
	"after", "before", "limit", "order", "purpose", "filter", "run_id", "model", "status",
	"metadata", "metadata[*", "include", "include[]", "include_obfuscation", "stream", "starting_after", "variant",
}

var openAIQueryParams = NewParamSet(openAIQueryNames...)

func (openAI) ForwardsQueryParam(k string) bool { return openAIQueryParams.Has(k) }

// The request ID and what the SDKs' retry logic reads; not the key's
// organization, project or rate-limit headers.
var openAIResponseHeaders = NewHeaderSet(
	"Content-Type", "Content-Length", "Content-Encoding", "Cache-Control",
	"X-Request-Id", "Openai-Processing-Ms", "Openai-Version",
	"Retry-After", "Retry-After-Ms", "X-Should-Retry")

func (openAI) ForwardsResponseHeader(k string) bool { return openAIResponseHeaders.Has(k) }

var openAILimits = RateLimitHeaders{
	Dimensions: openAIDimensions,
	// Mistral reports its tokens-per-minute limit under its own names
	// (reset in bare seconds, which ResetDuration reads too): read only when
	// no OpenAI token header came.
	Fallback:     &mistralTokens,
	Reset:        ResetDuration,
	RetryAfterMs: "Retry-After-Ms",
	Organization: "Openai-Organization",
}

// openAIDimensions are x-ratelimit-{limit,remaining,reset}-{requests,tokens};
// OpenAI's tokens are its combined input-plus-output limit.
var openAIDimensions = []DimensionHeaders{
	{ratelimit.Requests, "X-Ratelimit-Limit-Requests", "X-Ratelimit-Remaining-Requests", "X-Ratelimit-Reset-Requests"},
	{ratelimit.Tokens, "X-Ratelimit-Limit-Tokens", "X-Ratelimit-Remaining-Tokens", "X-Ratelimit-Reset-Tokens"},
}

var mistralTokens = DimensionHeaders{ratelimit.Tokens,
	"X-Ratelimitbysize-Limit-Minute", "X-Ratelimitbysize-Remaining-Minute", "Ratelimitbysize-Reset"}

// ParseLimits reads x-ratelimit-{limit,remaining,reset}-{requests,tokens}
// (reset a duration until the bucket is full: "6m0s", "1s", "12ms",
// "1m30.5s", or bare seconds), retry-after-ms or retry-after, and
// openai-organization; for Mistral, x-ratelimitbysize-{limit,remaining}-minute
// and ratelimitbysize-reset.
func (openAI) ParseLimits(h http.Header, now time.Time) Limits { return openAILimits.Parse(h, now) }

// openAICodes are error.code per Error, as OpenAI sends for the same
// condition; error.type reuses Anthropic's names, which OpenAI's SDKs do not
// interpret.
var openAICodes = [...]string{
	ErrNotFound:       "not_found",
	ErrUnauthorized:   "invalid_api_key",
	ErrTooLarge:       "request_too_large",
	ErrRateLimited:    "rate_limit_exceeded",
	ErrBadGateway:     "bad_gateway",
	ErrUnavailable:    "service_unavailable",
	ErrBadRequest:     "invalid_request",
	ErrRequestTimeout: "request_timeout",
}

type openAIError struct {
	Error openAIErrorBody `json:"error"`
}

type openAIErrorBody struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"` // always null
	Code    string  `json:"code"`
}

func (openAI) WriteError(w http.ResponseWriter, e Error, msg string) {
	WriteJSON(w, e.Status(), openAIError{Error: openAIErrorBody{
		Message: msg, Type: errorName(anthropicErrorTypes[:], e), Code: errorName(openAICodes[:], e)}})
}

// openAIUsage: chat completions, completions and embeddings report
// prompt/completion tokens under usage; the Responses API reports
// input/output tokens under usage, or response.usage in its stream events.
var openAIUsage = usage.MustSchema(append(append(
	usage.Under(usageObject, openAIUsageLeaves...),
	usage.Under([]string{"response", usageKey}, openAIUsageLeaves...)...),
	// What a stream delivers: chat chunks' content, refusal and tool-call
	// arguments, the Responses API's delta events and legacy completions.
	usage.Path{Keys: []string{deltaKey, "content"}, Field: usage.FieldStreamed},
	usage.Path{Keys: []string{deltaKey, "refusal"}, Field: usage.FieldStreamed},
	usage.Path{Keys: []string{deltaKey, "reasoning_content"}, Field: usage.FieldStreamed},
	usage.Path{Keys: []string{"function", "arguments"}, Field: usage.FieldStreamed},
	usage.Path{Keys: []string{deltaKey}, Field: usage.FieldStreamed},
	usage.Path{Keys: []string{"choices", textKey}, Field: usage.FieldStreamed})...)

var openAIUsageLeaves = []usage.Path{
	{Keys: []string{"prompt_tokens"}, Field: usage.FieldInput},
	{Keys: []string{"completion_tokens"}, Field: usage.FieldOutput},
	{Keys: []string{"prompt_tokens_details", "cached_tokens"}, Field: usage.FieldCacheRead},
	{Keys: []string{"input_tokens"}, Field: usage.FieldInput},
	{Keys: []string{"output_tokens"}, Field: usage.FieldOutput},
	{Keys: []string{"input_tokens_details", "cached_tokens"}, Field: usage.FieldCacheRead},
}

func (openAI) Usage() *usage.Schema { return openAIUsage }

// openAIOnlyPaths start paths that exist in OpenAI's API and not in
// Anthropic's (/v1/models exists in both).
// pathCompletions is the legacy text completions endpoint.
const pathCompletions = "/v1/completions"

var openAIOnlyPaths = []string{
	"/v1/chat/", pathCompletions, "/v1/embeddings", "/v1/responses",
	"/v1/audio/", "/v1/images/", "/v1/moderations", "/v1/assistants",
	"/v1/threads", "/v1/vector_stores", "/v1/fine_tuning/", "/v1/realtime",
}

func isOpenAIOnlyPath(path string) bool {
	for _, p := range openAIOnlyPaths {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// KeyInvalid: OpenAI answers a wrong, revoked or deactivated key with 401
// invalid_api_key or account_deactivated; other 401s (mismatched_organization,
// for one) are about what the request said.
func (openAI) KeyInvalid(status int, body []byte) bool {
	if status != http.StatusUnauthorized {
		return false
	}
	switch parseErrorFields(body).Error.Code {
	case "invalid_api_key", "account_deactivated":
		return true
	}
	return false
}

func (openAI) KeyCheck(upstream *url.URL) *http.Request {
	return checkRequest(upstream, "/v1/models", "")
}

// SafeToRepeat: reads and the completion-style calls create nothing. The
// Responses API stores each response by default, so it is not repeated;
// neither are batches, files, uploads, assistants, threads, vector stores or
// fine-tuning jobs.
func (openAI) SafeToRepeat(method, path string) bool {
	if isRead(method) {
		return true
	}
	switch path {
	case "/v1/chat/completions", pathCompletions, "/v1/embeddings", "/v1/moderations":
		return method == http.MethodPost
	}
	return false
}

// openAIEstimate: an unknown model gets the smallest window in common use;
// images cost by detail and tiles.
var openAIEstimate = estimateRules{defaultWindow: 128_000, images: imagesByTiles}

// Model is the body's top-level "model".
func (openAI) Model(_ string, f *RequestFacts) string { return modelName(f.bodyModel) }

func (openAI) EstimateInputTokens(body []byte) int64 {
	return estimateInputTokens(body, &openAIEstimate)
}

func (openAI) ReadRequest(method, path string, body []byte) RequestFacts {
	return openAIRequest(method, path, body)
}

// openAIRequest reads an OpenAI-shaped request to the operation path
// (after /v1 or Azure's deployment prefix): chat and text completions and
// the Responses API generate. A completion stream reports usage only when
// asked with stream_options.include_usage, so the proxy asks for a client
// that did not (and passes the stream on as the client asked for it).
func openAIRequest(method, op string, body []byte) RequestFacts {
	f := readRequest(body, &openAIEstimate)
	if method != http.MethodPost {
		return f
	}
	switch op {
	case "/v1/chat/completions", pathCompletions:
		f.Generates = true
		f.AskUsage = f.Stream && !f.streamOptions
	case "/v1/responses":
		f.Generates = true
	}
	return f
}
