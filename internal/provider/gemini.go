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
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/usage"
)

// gemini is Google's Gemini API (generativelanguage.googleapis.com): the key
// in x-goog-api-key, model operations as /v1beta/models/{model}:generateContent
// and :streamGenerateContent?alt=sse, usage in usageMetadata, no rate-limit
// headers at all (a key's limits come from the KeyPool spec and its 429s),
// and errors shaped {"error":{"code":429,"message":...,"status":
// "RESOURCE_EXHAUSTED","details":[...]}} whose google.rpc.RetryInfo says how
// long to wait.
type gemini struct{}

func (gemini) Name() string            { return "gemini" }
func (gemini) DefaultUpstream() string { return "https://generativelanguage.googleapis.com" }

func (gemini) Authenticate(base http.RoundTripper, apiKey string) http.RoundTripper {
	return HeaderAuth(base, "X-Goog-Api-Key", apiKey)
}

// What the official SDKs send that the API reads; X-Goog-Api-Client
// describes the SDK. X-Goog-User-Project is not among them: it bills
// another project, which is the pool's choice.
var geminiRequestHeaders = NewHeaderSet("Content-Type", "Accept", "User-Agent", "X-Goog-Api-Client")

func (gemini) ForwardsRequestHeader(k string) bool { return geminiRequestHeaders.Has(k) }

// alt=sse makes a stream; the list methods page (pageSize, pageToken) and
// filter, a cached content's update names its fields (updateMask). Google's
// other system parameters ($key, access_token, oauth_token, userProject,
// quotaUser, fields, prettyPrint, $.xgafv, callback) are not the client's
// to set for the pool's key; the key parameter is the client's token and
// never goes (the pool key goes in x-goog-api-key).
var geminiQueryParams = NewParamSet("alt", "pageSize", "pageToken", "filter", "updateMask")

func (gemini) ForwardsQueryParam(k string) bool { return geminiQueryParams.Has(k) }

var geminiResponseHeaders = NewHeaderSet(
	"Content-Type", "Content-Length", "Content-Encoding", "Cache-Control", "Server-Timing", "Retry-After")

func (gemini) ForwardsResponseHeader(k string) bool { return geminiResponseHeaders.Has(k) }

// geminiLimits reads no dimension: the API sends none. Retry-After is still
// read, and the proxy fills it from a 429's RetryInfo (see RetryDelay).
var geminiLimits = RateLimitHeaders{}

func (gemini) ParseLimits(h http.Header, now time.Time) Limits { return geminiLimits.Parse(h, now) }

// geminiStatuses are error.status per Error: google.rpc.Code names.
var geminiStatuses = [...]string{
	ErrNotFound:       "NOT_FOUND",
	ErrUnauthorized:   googleUnauthenticated,
	ErrTooLarge:       "INVALID_ARGUMENT",
	ErrRateLimited:    "RESOURCE_EXHAUSTED",
	ErrBadGateway:     "UNAVAILABLE",
	ErrUnavailable:    "UNAVAILABLE",
	ErrBadRequest:     "INVALID_ARGUMENT",
	ErrRequestTimeout: "DEADLINE_EXCEEDED",
}

// googleUnauthenticated is the google.rpc.Code of a refused credential.
const googleUnauthenticated = "UNAUTHENTICATED"

// googleError is Google's JSON error shape (google.rpc.Status).
type googleError struct {
	Error googleStatus `json:"error"`
}

type googleStatus struct {
	Code    int            `json:"code"`
	Message string         `json:"message"`
	Status  string         `json:"status"`
	Details []googleDetail `json:"details,omitempty"`
}

// googleDetail holds the fields of the error details the pool reads:
// google.rpc.ErrorInfo's reason and google.rpc.RetryInfo's retryDelay.
type googleDetail struct {
	Type       string `json:"@type"`
	Reason     string `json:"reason,omitempty"`
	RetryDelay string `json:"retryDelay,omitempty"`
}

func (gemini) WriteError(w http.ResponseWriter, e Error, msg string) {
	WriteJSON(w, e.Status(), googleError{Error: googleStatus{
		Code: e.Status(), Message: msg, Status: errorName(geminiStatuses[:], e)}})
}

// geminiUsage: usageMetadata at the root of a response and of every
// streamed chunk (cumulative, so the last one wins). promptTokenCount
// includes the cached tokens, as OpenAI's prompt_tokens does. A candidate's
// parts[].text is what a stream delivered.
var geminiUsage = usage.MustSchema(append(usage.Under([]string{"usageMetadata"},
	usage.Path{Keys: []string{"promptTokenCount"}, Field: usage.FieldInput},
	usage.Path{Keys: []string{"candidatesTokenCount"}, Field: usage.FieldOutput},
	usage.Path{Keys: []string{"cachedContentTokenCount"}, Field: usage.FieldCacheRead},
), usage.Path{Keys: []string{"parts", textKey}, Field: usage.FieldStreamed})...)

func (gemini) Usage() *usage.Schema { return geminiUsage }

// parseGoogleError reads an error body; a body that is not Google's shape
// gives an empty status, which blames nothing.
func parseGoogleError(body []byte) googleStatus {
	var e googleError
	_ = json.Unmarshal(body, &e)
	return e.Error
}

// KeyInvalid: Gemini answers a wrong, deleted or expired key with 400
// INVALID_ARGUMENT and the ErrorInfo reason API_KEY_INVALID, and a key of a
// suspended project with 403 CONSUMER_SUSPENDED; other 400s and 403s are
// about the request.
func (gemini) KeyInvalid(status int, body []byte) bool {
	if status != http.StatusBadRequest && status != http.StatusForbidden {
		return false
	}
	for _, d := range parseGoogleError(body).Details {
		switch d.Reason {
		case "API_KEY_INVALID", "CONSUMER_SUSPENDED":
			return true
		}
	}
	return false
}

func (gemini) KeyCheck(upstream *url.URL) *http.Request {
	return checkRequest(upstream, "/v1beta/models", "pageSize=1")
}

// geminiRepeatable are the model methods that create nothing; batch
// generation, tuning, caches and files do.
var geminiRepeatable = []string{
	":generateContent", ":streamGenerateContent", ":countTokens", ":embedContent", ":batchEmbedContents",
}

// SafeToRepeat: reads and the generation, counting and embedding methods.
func (gemini) SafeToRepeat(method, path string) bool {
	if isRead(method) {
		return true
	}
	if method != http.MethodPost || !strings.Contains(path, "/models/") {
		return false
	}
	for _, m := range geminiRepeatable {
		if strings.HasSuffix(path, m) {
			return true
		}
	}
	return false
}

// geminiEstimate: the model is named in the path, not the body, so the
// window is that of the current Gemini models; images cost 258 tokens per
// 768-px tile.
var geminiEstimate = estimateRules{defaultWindow: 1_048_576, images: imagesByGeminiTiles}

// Model is the {model} of .../models/{model}:method or
// .../tunedModels/{model}:method (or followed by a path): Gemini names the
// model in the path, not the body.
func (gemini) Model(path string, _ *RequestFacts) string {
	_, rest, ok := strings.Cut(path, "/models/")
	if !ok {
		_, rest, ok = strings.Cut(path, "/tunedModels/")
	}
	if !ok {
		return ""
	}
	if i := strings.IndexAny(rest, ":/"); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

func (gemini) EstimateInputTokens(body []byte) int64 {
	return estimateInputTokens(body, &geminiEstimate)
}

// ReadRequest: generateContent and streamGenerateContent generate;
// counting, embedding and the rest do not.
func (gemini) ReadRequest(method, path string, body []byte) RequestFacts {
	f := readRequest(body, &geminiEstimate)
	f.Generates = method == http.MethodPost &&
		(strings.HasSuffix(path, ":generateContent") || strings.HasSuffix(path, ":streamGenerateContent"))
	return f
}

// RetryDelay reads the wait a Google-shaped error body asks for
// (google.rpc.RetryInfo's retryDelay, "34s" or "1.5s"): Gemini's 429s carry
// it there instead of in a Retry-After header. It reports false for any
// other body.
func RetryDelay(body []byte) (time.Duration, bool) {
	for _, d := range parseGoogleError(body).Details {
		if d.Type != "type.googleapis.com/google.rpc.RetryInfo" {
			continue
		}
		if s, ok := strings.CutSuffix(d.RetryDelay, "s"); ok {
			return parseSeconds(s)
		}
	}
	return 0, false
}
