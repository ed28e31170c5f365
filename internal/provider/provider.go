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

	"github.com/keypool-dev/keypool-operator/internal/usage"
)

// Provider is one upstream API family. Implementations are stateless and
// safe for concurrent use.
type Provider interface {
	// Name is the provider's spec.provider value, e.g. "anthropic".
	Name() string
	// DefaultUpstream is the API's origin, used when a KeyPool names none;
	// "" when the API has none (each Azure resource has its own endpoint).
	DefaultUpstream() string
	// Authenticate returns a RoundTripper that sends requests over base
	// authenticated with apiKey as the API expects: a header for the APIs
	// built in (HeaderAuth); a signature or an OAuth token are
	// RoundTrippers too. The proxy makes one per key value and sends every
	// attempt and key check with that key through it. The client's own
	// credentials were already dropped.
	Authenticate(base http.RoundTripper, apiKey string) http.RoundTripper
	// ForwardsRequestHeader reports whether a client request header (in
	// canonical form) may go upstream. Everything else is dropped: the
	// client is untrusted and the upstream only needs what its API reads.
	ForwardsRequestHeader(canonical string) bool
	// ForwardsQueryParam reports whether a client query parameter (its
	// decoded name) may go upstream: only the ones the API documents for its
	// endpoints. Everything else is dropped, as headers are: system
	// parameters that pick another account, quota or credential for the
	// pool's key (Google's userProject, quotaUser, access_token) have no
	// business coming from a client. The proxy drops the key parameter
	// whatever this says.
	ForwardsQueryParam(name string) bool
	// ForwardsResponseHeader reports whether an upstream response header
	// (canonical form) may go back to the client.
	ForwardsResponseHeader(canonical string) bool
	// ParseLimits reads what a response's headers say about the key's rate
	// limits. It must not allocate for well-formed headers.
	ParseLimits(h http.Header, now time.Time) Limits
	// WriteError answers with the proxy's own error in the API's error
	// shape.
	WriteError(w http.ResponseWriter, e Error, msg string)
	// Usage says where a response body reports token usage.
	Usage() *usage.Schema
	// KeyInvalid reports whether an error answer blames the key itself
	// (invalid, revoked, deactivated) rather than the request. The pool
	// still re-checks the key before it retires it.
	KeyInvalid(status int, body []byte) bool
	// KeyCheck is a cheap request that succeeds for a valid key and fails
	// with KeyInvalid for an invalid one (listing models), against the
	// pool's upstream base URL. It carries no key: it is sent through the
	// key's Authenticate.
	KeyCheck(upstream *url.URL) *http.Request
	// SafeToRepeat reports whether a request may be sent again with another
	// key after the upstream may have processed it: true only for reads and
	// for operations that create nothing (a completion, a token count).
	// Batches, files and anything else that creates state are never
	// repeated.
	SafeToRepeat(method, path string) bool
	// EstimateInputTokens is what a request body will cost in input tokens,
	// counted as the API counts (text, images, documents), at most the
	// model's context window; the pool reserves it until the real count
	// settles. It must not allocate.
	EstimateInputTokens(body []byte) int64
	// Model is the model (or deployment) a request asks for, as the
	// provider's rate limits name it: limits are per key and model, and
	// the answer's rate-limit headers describe that model's bucket. ""
	// when the request names none. f is what ReadRequest read from the
	// request to path: the body is not scanned again.
	Model(path string, f *RequestFacts) string
	// ReadRequest is what the pool needs to know of a request to method
	// path (the API path, without the pool prefix) with body: the input
	// estimate, the client's own output cap, whether the operation
	// generates output, and whether the proxy should ask for a stream's
	// usage. It reads the body once and must not allocate.
	ReadRequest(method, path string, body []byte) RequestFacts
}

// The providers built in, by name.
var (
	// Anthropic is the Anthropic Messages API.
	Anthropic Provider = anthropic{}
	// OpenAI is any OpenAI-compatible API.
	OpenAI Provider = openAI{}
	// Azure is Azure OpenAI, served from a resource's own endpoint.
	Azure Provider = azureOpenAI{}
	// Gemini is Google's Gemini API.
	Gemini Provider = gemini{}
	// Bedrock is Amazon Bedrock's runtime API, with AWS credentials.
	Bedrock Provider = bedrock{}
	// Vertex is Google Vertex AI, with service-account keys.
	Vertex Provider = vertex{}
)

var byName = map[string]Provider{
	Anthropic.Name(): Anthropic,
	OpenAI.Name():    OpenAI,
	Azure.Name():     Azure,
	Gemini.Name():    Gemini,
	Bedrock.Name():   Bedrock,
	Vertex.Name():    Vertex,
}

// Lookup returns the provider called name; "" is Anthropic, the default of
// the KeyPool API.
func Lookup(name string) (Provider, bool) {
	if name == "" {
		return Anthropic, true
	}
	p, ok := byName[name]
	return p, ok
}

// usageKey names the object both built-in APIs report usage in; usageObject
// is it at the root of a body or event.
const usageKey = "usage"

var usageObject = []string{usageKey}

// Keys of the streamed content deltas the usage schemas count.
const (
	deltaKey = "delta"
	textKey  = "text"
)
