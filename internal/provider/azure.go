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

	"github.com/keypool-dev/keypool-operator/internal/usage"
)

// azureOpenAI is Azure OpenAI: the OpenAI API served from a customer's own
// resource endpoint (so there is no default upstream), the key in api-key,
// deployment paths (/openai/deployments/{deployment}/chat/completions
// ?api-version=...) or the newer /openai/v1/ paths, OpenAI's x-ratelimit-*
// headers without an organization, and gateway errors shaped
// {"error":{"code":"429","message":...}}.
type azureOpenAI struct{}

func (azureOpenAI) Name() string { return "azure" }

// DefaultUpstream is empty: every Azure OpenAI resource has its own
// endpoint (https://{resource}.openai.azure.com), which the KeyPool names.
func (azureOpenAI) DefaultUpstream() string { return "" }

func (azureOpenAI) Authenticate(base http.RoundTripper, apiKey string) http.RoundTripper {
	return HeaderAuth(base, "Api-Key", apiKey)
}

// What the official SDKs send that the service reads; X-Ms-Client-Request-Id
// ties a request to Azure's logs for a support case.
var azureRequestHeaders = NewHeaderSet(
	"Content-Type", "Accept", "User-Agent", "Idempotency-Key", "X-Ms-Client-Request-Id", "X-Stainless-*")

func (azureOpenAI) ForwardsRequestHeader(k string) bool { return azureRequestHeaders.Has(k) }

// api-version, which every request needs, and OpenAI's own parameters for
// the /openai/v1/ paths.
var azureQueryParams = NewParamSet(append([]string{"api-version"}, openAIQueryNames...)...)

func (azureOpenAI) ForwardsQueryParam(k string) bool { return azureQueryParams.Has(k) }

// The request IDs (apim-request-id is the one Azure support asks for), the
// region that served it and what the SDKs' retry logic reads; not the key's
// own rate-limit headers.
var azureResponseHeaders = NewHeaderSet(
	"Content-Type", "Content-Length", "Content-Encoding", "Cache-Control",
	"X-Request-Id", "Apim-Request-Id", "X-Ms-Region", "X-Ms-Client-Request-Id",
	"Retry-After", "Retry-After-Ms", "X-Should-Retry")

func (azureOpenAI) ForwardsResponseHeader(k string) bool { return azureResponseHeaders.Has(k) }

// azureLimits: Azure sends OpenAI's header names for a deployment's quota
// (remaining always, limit and reset on newer API versions); the limits are
// the deployment's, and there is no organization header.
var azureLimits = RateLimitHeaders{
	Dimensions:   openAIDimensions,
	Reset:        ResetDuration,
	RetryAfterMs: "Retry-After-Ms",
}

// ParseLimits reads x-ratelimit-{limit,remaining,reset}-{requests,tokens}
// and retry-after-ms or retry-after.
func (azureOpenAI) ParseLimits(h http.Header, now time.Time) Limits { return azureLimits.Parse(h, now) }

// azureCodes are error.code per Error as Azure's gateway writes them: the
// status as a string for auth and throttling, a name otherwise.
var azureCodes = [...]string{
	ErrNotFound:       "404",
	ErrUnauthorized:   "401",
	ErrTooLarge:       "RequestEntityTooLarge",
	ErrRateLimited:    "429",
	ErrBadGateway:     "BadGateway",
	ErrUnavailable:    "ServiceUnavailable",
	ErrBadRequest:     "BadRequest",
	ErrRequestTimeout: "Timeout",
}

type azureError struct {
	Error azureErrorBody `json:"error"`
}

type azureErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (azureOpenAI) WriteError(w http.ResponseWriter, e Error, msg string) {
	WriteJSON(w, e.Status(), azureError{Error: azureErrorBody{Code: errorName(azureCodes[:], e), Message: msg}})
}

// Usage is OpenAI's: Azure serves the same response bodies.
func (azureOpenAI) Usage() *usage.Schema { return openAIUsage }

// KeyInvalid: Azure answers a wrong or regenerated key with 401 and code
// "401" ("Access denied due to invalid subscription key or wrong API
// endpoint"); a 401 PermissionDenied is about an Entra ID token's role.
func (azureOpenAI) KeyInvalid(status int, body []byte) bool {
	return status == http.StatusUnauthorized && parseErrorFields(body).Error.Code == "401"
}

// azureCheckAPIVersion is a generally available data-plane version that
// lists the resource's models.
const azureCheckAPIVersion = "api-version=2024-10-21"

func (azureOpenAI) KeyCheck(upstream *url.URL) *http.Request {
	return checkRequest(upstream, "/openai/models", azureCheckAPIVersion)
}

// SafeToRepeat: reads and the completion-style calls of a deployment or of
// the v1 API create nothing; files, batches, assistants and the Responses
// API (which stores responses) do.
func (azureOpenAI) SafeToRepeat(method, path string) bool {
	if isRead(method) {
		return true
	}
	op, ok := azureOperation(path)
	if !ok || method != http.MethodPost {
		return false
	}
	switch op {
	case "/chat/completions", "/completions", "/embeddings":
		return true
	}
	return false
}

// azureOperation is what follows /openai/v1 or
// /openai/deployments/{deployment} in path.
func azureOperation(path string) (string, bool) {
	if strings.HasPrefix(path, "/openai/v1/") {
		return path[len("/openai/v1"):], true
	}
	rest, ok := strings.CutPrefix(path, "/openai/deployments/")
	if !ok {
		return "", false
	}
	i := strings.IndexByte(rest, '/')
	if i <= 0 {
		return "", false
	}
	return rest[i:], true
}

// Model is the deployment of /openai/deployments/{deployment}/...: Azure
// limits each deployment; on the /openai/v1/ paths, the body's "model",
// which names the deployment there.
func (azureOpenAI) Model(path string, f *RequestFacts) string {
	rest, ok := strings.CutPrefix(path, "/openai/deployments/")
	if !ok {
		return modelName(f.bodyModel)
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// Azure counts input tokens as OpenAI does; a deployment's model name is
// often absent from the body, so the unknown-model window applies.
func (azureOpenAI) EstimateInputTokens(body []byte) int64 {
	return estimateInputTokens(body, &openAIEstimate)
}

// ReadRequest: Azure's operations are OpenAI's, under a deployment or
// /openai/v1.
func (azureOpenAI) ReadRequest(method, path string, body []byte) RequestFacts {
	op, ok := azureOperation(path)
	if !ok {
		return readRequest(body, &openAIEstimate)
	}
	return openAIRequest(method, "/v1"+op, body)
}
