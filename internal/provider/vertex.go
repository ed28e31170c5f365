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
	"slices"
	"strings"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/usage"
)

// vertex is Google Vertex AI: a credential is a service-account key whose
// OAuth access tokens go in Authorization: Bearer (vertexAuth); Claude as
// /v1/projects/{project}/locations/{region}/publishers/anthropic/models/
// {model}:rawPredict and :streamRawPredict (the Anthropic Messages body and
// SSE), Gemini as .../publishers/google/models/{model}:generateContent and
// :streamGenerateContent. The project and region of the path are the
// credential's (vertexAuth rewrites them). Vertex sends no rate-limit
// headers; errors are Google's (google.rpc.Status), as Gemini's.
type vertex struct{}

func (vertex) Name() string { return "vertex" }

// DefaultUpstream is the global endpoint; a credential with a region sends
// to its region's endpoint (vertexAuth).
func (vertex) DefaultUpstream() string { return "https://aiplatform.googleapis.com" }

func (vertex) Authenticate(base http.RoundTripper, apiKey string) http.RoundTripper {
	return newVertexAuth(base, apiKey)
}

// What the Anthropic and Google SDKs send that Vertex reads; the client's
// own Authorization and X-Goog-User-Project never go.
var vertexRequestHeaders = NewHeaderSet(
	"Content-Type", "Accept", "User-Agent", "X-Goog-Api-Client", "Anthropic-Beta", "X-Stainless-*")

func (vertex) ForwardsRequestHeader(k string) bool { return vertexRequestHeaders.Has(k) }

// alt=sse makes a Gemini stream; the list methods page.
var vertexQueryParams = NewParamSet("alt", "pageSize", "pageToken", "filter")

func (vertex) ForwardsQueryParam(k string) bool { return vertexQueryParams.Has(k) }

var vertexResponseHeaders = NewHeaderSet(
	"Content-Type", "Content-Length", "Content-Encoding", "Cache-Control", "Server-Timing", "Retry-After", "Request-Id")

func (vertex) ForwardsResponseHeader(k string) bool { return vertexResponseHeaders.Has(k) }

func (vertex) ParseLimits(h http.Header, now time.Time) Limits { return geminiLimits.Parse(h, now) }

func (vertex) WriteError(w http.ResponseWriter, e Error, msg string) { Gemini.WriteError(w, e, msg) }

// vertexUsage: Claude's usage (rawPredict answers and SSE events) and
// Gemini's usageMetadata.
var vertexUsage = usage.MustSchema(append(anthropicUsagePaths(),
	usage.Under([]string{"usageMetadata"},
		usage.Path{Keys: []string{"promptTokenCount"}, Field: usage.FieldInput},
		usage.Path{Keys: []string{"candidatesTokenCount"}, Field: usage.FieldOutput},
		usage.Path{Keys: []string{"cachedContentTokenCount"}, Field: usage.FieldCacheRead})...)...)

func (vertex) Usage() *usage.Schema { return vertexUsage }

// KeyInvalid: Vertex answers an access token it does not accept (a deleted
// or disabled service account, a revoked token) with 401 UNAUTHENTICATED,
// and a suspended project with 403 CONSUMER_SUSPENDED; vertexAuth answers a
// credential refused by the token endpoint with the same 401. A 403
// PERMISSION_DENIED is about what the request asks for.
func (vertex) KeyInvalid(status int, body []byte) bool {
	e := parseGoogleError(body)
	switch status {
	case http.StatusUnauthorized:
		return e.Status == googleUnauthenticated
	case http.StatusForbidden:
		for _, d := range e.Details {
			if d.Reason == "CONSUMER_SUSPENDED" {
				return true
			}
		}
	}
	return false
}

// KeyCheck lists Google's publisher models, which any authenticated caller
// may: it needs a token, not a permission on a project.
func (vertex) KeyCheck(upstream *url.URL) *http.Request {
	return checkRequest(upstream, "/v1beta1/publishers/google/models", "pageSize=1")
}

// vertexGenerates are the model methods that generate; vertexRepeatable
// those that create nothing.
var (
	vertexGenerates  = []string{":rawPredict", ":streamRawPredict", ":generateContent", ":streamGenerateContent"}
	vertexRepeatable = slices.Concat(vertexGenerates, []string{":countTokens"})
)

// SafeToRepeat: reads and the prediction, generation and counting methods.
func (vertex) SafeToRepeat(method, path string) bool {
	if isRead(method) {
		return true
	}
	if method != http.MethodPost || !strings.Contains(path, vertexModels) {
		return false
	}
	for _, m := range vertexRepeatable {
		if strings.HasSuffix(path, m) {
			return true
		}
	}
	return false
}

// Claude's window, the models most pools serve here; a Gemini prompt over
// it is reserved at most that much, and settled with the real count.
func (vertex) EstimateInputTokens(body []byte) int64 {
	return estimateInputTokens(body, &anthropicEstimate)
}

func (vertex) apiRoots() []string { return []string{"/v1/", "/v1beta1/"} }

const vertexModels = "/models/"

// Model is the model of .../models/{model}:{method}; "" for any other path.
func (vertex) Model(path string, _ *RequestFacts) string {
	i := strings.LastIndex(path, vertexModels)
	if i < 0 {
		return ""
	}
	m, _, _ := strings.Cut(path[i+len(vertexModels):], ":")
	if strings.IndexByte(m, '/') >= 0 {
		return ""
	}
	return m
}

func (vertex) regionalUpstream(region string) string { return "https://" + vertexHost(region) }

// ReadRequest: Claude's rawPredict and Gemini's generateContent generate,
// and their stream forms answer with a stream. How Vertex AI admits output
// is not documented: the pool holds what it learned.
func (vertex) ReadRequest(method, path string, body []byte) RequestFacts {
	f := readRequest(body, &anthropicEstimate)
	f.Generates = method == http.MethodPost && strings.Contains(path, vertexModels) &&
		slices.ContainsFunc(vertexGenerates, func(m string) bool { return strings.HasSuffix(path, m) })
	f.Stream = f.Generates && strings.Contains(path, ":stream")
	return f
}
