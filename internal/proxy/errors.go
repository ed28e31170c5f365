package proxy

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/keypool"
)

// errKind is an error the proxy answers by itself. Its Anthropic type name is
// also used as the OpenAI "type"; the OpenAI "code" follows what OpenAI
// itself sends for the same condition.
//
//	status  Anthropic error.type   OpenAI error.type      OpenAI error.code
//	404     not_found_error        not_found_error        not_found
//	401     authentication_error   authentication_error   invalid_api_key
//	413     request_too_large      request_too_large      request_too_large
//	429     rate_limit_error       rate_limit_error       rate_limit_exceeded
//	502     api_error              api_error              bad_gateway
//	503     overloaded_error       overloaded_error       service_unavailable
//	400     invalid_request_error  invalid_request_error  invalid_request
//	408     invalid_request_error  invalid_request_error  request_timeout
type errKind struct {
	status     int
	typ        string
	openAICode string
}

var (
	errNotFound     = errKind{http.StatusNotFound, "not_found_error", "not_found"}
	errUnauthorized = errKind{http.StatusUnauthorized, "authentication_error", "invalid_api_key"}
	errTooLarge     = errKind{http.StatusRequestEntityTooLarge, "request_too_large", "request_too_large"}
	errRateLimited  = errKind{http.StatusTooManyRequests, "rate_limit_error", "rate_limit_exceeded"}
	errBadGateway   = errKind{http.StatusBadGateway, "api_error", "bad_gateway"}
	errUnavailable  = errKind{http.StatusServiceUnavailable, "overloaded_error", "service_unavailable"}
	errBadRequest   = errKind{http.StatusBadRequest, "invalid_request_error", "invalid_request"}
	// errRequestTimeout: the client sent its body too slowly.
	errRequestTimeout = errKind{http.StatusRequestTimeout, "invalid_request_error", "request_timeout"}
)

type anthropicErrorBody struct {
	Type  string              `json:"type"`
	Error anthropicErrorInner `json:"error"`
}

type anthropicErrorInner struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

type openAIErrorBody struct {
	Error openAIErrorInner `json:"error"`
}

type openAIErrorInner struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"` // always null
	Code    string  `json:"code"`
}

// writeError answers with the proxy's own error in the provider's shape.
func writeError(w http.ResponseWriter, prov keypool.Provider, k errKind, msg string) {
	var v any
	if prov == keypool.ProviderOpenAI {
		v = openAIErrorBody{Error: openAIErrorInner{Message: msg, Type: k.typ, Code: k.openAICode}}
	} else {
		v = anthropicErrorBody{Type: "error", Error: anthropicErrorInner{Type: k.typ, Message: msg}}
	}
	body, err := json.Marshal(v)
	if err != nil { // cannot happen for these types
		body = []byte(`{}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(k.status)
	_, _ = w.Write(body)
}

// retryAfterSeconds renders d as a Retry-After value: whole seconds, rounded
// up, at least 1, so a client that waits that long finds capacity.
func retryAfterSeconds(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10)
}

// guessProvider picks the error shape when no pool says which provider the
// client speaks (unknown pool, malformed path). Anthropic is the default; a
// request is taken for OpenAI when it carries no anthropic-version header and
// either its path exists only in OpenAI's API or it authenticates with a
// Bearer token and no x-api-key (the OpenAI SDK's habit; /v1/models exists
// in both APIs).
func guessProvider(r *http.Request, rest string) keypool.Provider {
	if r.Header.Get("Anthropic-Version") != "" {
		return keypool.ProviderAnthropic
	}
	for _, p := range openAIOnlyPrefixes {
		if strings.HasPrefix(rest, p) {
			return keypool.ProviderOpenAI
		}
	}
	if r.Header.Get("X-Api-Key") == "" && strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		return keypool.ProviderOpenAI
	}
	return keypool.ProviderAnthropic
}

var openAIOnlyPrefixes = []string{
	"/v1/chat/", "/v1/completions", "/v1/embeddings", "/v1/responses",
	"/v1/audio/", "/v1/images/", "/v1/moderations", "/v1/assistants",
	"/v1/threads", "/v1/vector_stores", "/v1/fine_tuning/", "/v1/realtime",
}
