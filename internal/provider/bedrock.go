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
	"slices"
	"strings"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/usage"
)

// bedrock is Amazon Bedrock's runtime API: a credential is an AWS access key
// pair (requests signed with SigV4, bedrockAuth) or a Bedrock API key (a
// bearer token), each with its region; models are called as
// /model/{modelId}/invoke, /invoke-with-response-stream (the Anthropic
// Messages body), /converse and /converse-stream; streams are AWS
// event-stream frames (usage.FormatEventStream). Bedrock sends no rate-limit
// headers: a credential's limits come from the KeyPool spec and its
// ThrottlingException 429s. Errors are {"message":...} with the type in
// X-Amzn-ErrorType.
type bedrock struct{}

func (bedrock) Name() string { return "bedrock" }

// DefaultUpstream is the runtime endpoint of us-east-1; a credential of
// another region sends to its own region's endpoint (bedrockAuth).
func (bedrock) DefaultUpstream() string { return "https://bedrock-runtime.us-east-1.amazonaws.com" }

func (bedrock) Authenticate(base http.RoundTripper, apiKey string) http.RoundTripper {
	return newBedrockAuth(base, apiKey)
}

// What the AWS SDKs send that Bedrock reads: the content types, the stream's
// accept type, guardrails, tracing and the latency tier. The client's own
// signature (Authorization, X-Amz-Date, X-Amz-Security-Token,
// X-Amz-Content-Sha256) never goes: the pool signs.
var bedrockRequestHeaders = NewHeaderSet(
	"Content-Type", "Accept", "User-Agent", "X-Amzn-Bedrock-Accept", "X-Amzn-Bedrock-Trace",
	"X-Amzn-Bedrock-Guardrailidentifier", "X-Amzn-Bedrock-Guardrailversion",
	"X-Amzn-Bedrock-Performanceconfig-Latency", "X-Amzn-Bedrock-Service-Tier")

func (bedrock) ForwardsRequestHeader(k string) bool { return bedrockRequestHeaders.Has(k) }

// The control-plane listings page (maxResults, nextToken) and filter (type,
// byProvider); the runtime API takes no query parameters.
var bedrockQueryParams = NewParamSet("type", "maxResults", "nextToken", "byProvider", "byOutputModality")

func (bedrock) ForwardsQueryParam(k string) bool { return bedrockQueryParams.Has(k) }

// X-Amzn-ErrorType is how the AWS SDKs tell one error from another; the
// token counts and latency describe the answer, not the credential.
var bedrockResponseHeaders = NewHeaderSet(
	"Content-Type", "Content-Length", "Content-Encoding", "X-Amzn-Requestid", "X-Amzn-Errortype",
	"X-Amzn-Bedrock-Input-Token-Count", "X-Amzn-Bedrock-Output-Token-Count",
	"X-Amzn-Bedrock-Invocation-Latency", "X-Amzn-Bedrock-Performanceconfig-Latency", "Retry-After")

func (bedrock) ForwardsResponseHeader(k string) bool { return bedrockResponseHeaders.Has(k) }

// bedrockLimits reads no dimension: Bedrock sends none.
var bedrockLimits = RateLimitHeaders{}

func (bedrock) ParseLimits(h http.Header, now time.Time) Limits { return bedrockLimits.Parse(h, now) }

// bedrockErrorTypes are X-Amzn-ErrorType per Error, as Bedrock names them.
var bedrockErrorTypes = [...]string{
	ErrNotFound:       "ResourceNotFoundException",
	ErrUnauthorized:   "UnrecognizedClientException",
	ErrTooLarge:       awsValidation,
	ErrRateLimited:    "ThrottlingException",
	ErrBadGateway:     "InternalServerException",
	ErrUnavailable:    "ServiceUnavailableException",
	ErrBadRequest:     awsValidation,
	ErrRequestTimeout: awsValidation,
}

const awsValidation = "ValidationException"

// awsError is the body of an AWS JSON error; its type is a header.
type awsError struct {
	Message string `json:"message"`
}

// parseAWSError reads an error body; a body that is not AWS's shape gives
// an empty message, which blames nothing.
func parseAWSError(body []byte) awsError {
	var e awsError
	_ = json.Unmarshal(body, &e)
	return e
}

// headerErrorType is X-Amzn-ErrorType, canonical.
const headerErrorType = "X-Amzn-Errortype"

func (bedrock) WriteError(w http.ResponseWriter, e Error, msg string) {
	w.Header()[headerErrorType] = []string{errorName(bedrockErrorTypes[:], e)}
	WriteJSON(w, e.Status(), awsError{Message: msg})
}

// bedrockUsage: the Anthropic Messages usage of InvokeModel (and inside the
// chunks of its stream), amazon-bedrock-invocationMetrics in a stream's last
// chunk, and the Converse API's usage (its answer and the stream's metadata
// event).
var bedrockUsage = usage.MustSchema(append(append(anthropicUsagePaths(),
	usage.Under([]string{"amazon-bedrock-invocationMetrics"},
		usage.Path{Keys: []string{"inputTokenCount"}, Field: usage.FieldInput},
		usage.Path{Keys: []string{"outputTokenCount"}, Field: usage.FieldOutput},
		usage.Path{Keys: []string{"cacheReadInputTokenCount"}, Field: usage.FieldCacheRead},
		usage.Path{Keys: []string{"cacheWriteInputTokenCount"}, Field: usage.FieldCacheCreation})...),
	usage.Under(usageObject,
		usage.Path{Keys: []string{"inputTokens"}, Field: usage.FieldInput},
		usage.Path{Keys: []string{"outputTokens"}, Field: usage.FieldOutput},
		usage.Path{Keys: []string{"cacheReadInputTokens"}, Field: usage.FieldCacheRead},
		usage.Path{Keys: []string{"cacheWriteInputTokens"}, Field: usage.FieldCacheCreation})...)...)

func (bedrock) Usage() *usage.Schema { return bedrockUsage }

// bedrockCredentialErrors start the messages of the errors that blame the
// credential: UnrecognizedClientException (unknown or deleted access key),
// InvalidSignatureException (wrong secret key), ExpiredTokenException (an
// expired session token), an invalid Bedrock API key, and an account that
// may not call Bedrock at all. An AccessDeniedException about one model
// ("You don't have access to the model...") or one action blames nothing:
// the credential may still serve other models.
var bedrockCredentialErrors = []string{
	"The security token included in the request is invalid",
	"The security token included in the request is expired",
	"The request signature we calculated does not match",
	"Authentication failed: Please make sure your API Key is valid",
	"Invalid API Key format",
	"Your account is not authorized to invoke this API operation",
	bedrockBadCredential,
}

// KeyInvalid: Bedrock answers a credential it does not accept with 403 and
// one of bedrockCredentialErrors (the type is in a header the pool does not
// see here, the message in the body).
func (bedrock) KeyInvalid(status int, body []byte) bool {
	if status != http.StatusForbidden && status != http.StatusUnauthorized {
		return false
	}
	msg := parseAWSError(body).Message
	for _, m := range bedrockCredentialErrors {
		if strings.HasPrefix(msg, m) {
			return true
		}
	}
	return false
}

// KeyCheck lists the Anthropic foundation models: Bedrock's control plane,
// which bedrockAuth sends to the region's bedrock host. A credential allowed
// to invoke but not to list gets AccessDeniedException, which blames no key.
func (bedrock) KeyCheck(upstream *url.URL) *http.Request {
	return checkRequest(upstream, "/foundation-models", "byProvider=anthropic")
}

// bedrockRepeatable are the model operations that create nothing; an
// asynchronous invocation does.
var bedrockRepeatable = []string{"/invoke", "/invoke-with-response-stream", "/converse", "/converse-stream", "/count-tokens"}

// SafeToRepeat: reads and the invocations of /model/{id}/.
func (bedrock) SafeToRepeat(method, path string) bool {
	if isRead(method) {
		return true
	}
	if method != http.MethodPost || !strings.HasPrefix(path, bedrockModelRoot) {
		return false
	}
	for _, op := range bedrockRepeatable {
		if strings.HasSuffix(path, op) {
			return true
		}
	}
	return false
}

func (bedrock) EstimateInputTokens(body []byte) int64 {
	return estimateInputTokens(body, &anthropicEstimate)
}

// bedrockModelRoot starts the runtime API's paths.
const bedrockModelRoot = "/model/"

// apiRoots: the runtime API's model operations, and the control plane's
// listings of models and inference profiles, which Claude Code reads.
func (bedrock) apiRoots() []string {
	return []string{bedrockModelRoot, "/inference-profiles", "/foundation-models"}
}

// Model is the model ID (or inference profile, or ARN) of /model/{id}/...;
// "" for any other path.
func (bedrock) Model(path string, _ *RequestFacts) string {
	rest, ok := strings.CutPrefix(path, bedrockModelRoot)
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, "/")
	return id
}

func (bedrock) regionalUpstream(region string) string {
	return "https://bedrock-runtime." + region + ".amazonaws.com"
}

// bedrockGenerates are the runtime operations that generate, by the path's
// last segment; the "-stream" ones answer with an event stream.
var bedrockGenerates = []string{"/invoke", "/invoke-with-response-stream", "/converse", "/converse-stream"}

// ReadRequest: the runtime's invoke and converse operations generate, and
// Bedrock deducts a request's max_tokens from the model's token quota when
// it starts and adjusts it to the real output at the end, as Anthropic does.
func (bedrock) ReadRequest(method, path string, body []byte) RequestFacts {
	f := readRequest(body, &anthropicEstimate)
	f.Generates = method == http.MethodPost && strings.HasPrefix(path, bedrockModelRoot) &&
		slices.ContainsFunc(bedrockGenerates, func(op string) bool { return strings.HasSuffix(path, op) })
	f.Stream = f.Generates && strings.HasSuffix(path, "-stream")
	if f.Generates {
		f.ReserveOutput = f.MaxOutputTokens
	}
	return f
}
