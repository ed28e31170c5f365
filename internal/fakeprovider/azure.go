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

package fakeprovider

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// azureAPI is Azure OpenAI's dialect of the Chat Completions API: the key
// in api-key, a deployment in the path (or the v1 path with the model in the
// body), x-ratelimit-{limit,remaining}-{requests,tokens} without reset
// headers, retry-after and retry-after-ms on a 429, and the gateway's own
// errors shaped {"error":{"code":"429","message":...}}. Bodies and streams
// are OpenAI's.
type azureAPI struct {
	openaiAPI
	deployment string // "" on the /openai/v1/ paths
	apiVersion string
}

// azureDefaultAPIVersion is the version a 429 message names when the client
// sent none (the /openai/v1/ paths need none).
const azureDefaultAPIVersion = "v1"

func (azureAPI) apiKey(r *http.Request) string { return r.Header.Get("Api-Key") }

// parse reads OpenAI's body; on a deployment path the deployment, not the
// body's model, is what Azure limits (its quota is per deployment).
func (a azureAPI) parse(body []byte) (request, error) {
	req, err := parseOpenAI(body, a.deployment)
	req.limitModel = a.deployment
	return req, err
}

func (azureAPI) metaHeaders(h http.Header, reqID, _ string) {
	h.Set("Apim-Request-Id", reqID)
	h.Set("X-Request-Id", reqID)
	h.Set("X-Ms-Region", "Sweden Central")
}

// azureHeaders: a deployment's quota as requests and tokens; Azure sends no
// reset time.
var azureHeaders = [numDims]headerNames{
	dimRequests: newHeaderNames("x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", ""),
	dimTokens:   newHeaderNames("x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", ""),
}

func (azureAPI) rateHeaders(h http.Header, snap *snapshot) {
	for d, names := range azureHeaders {
		s := snap.dims[d]
		if names.limit == "" || s.limit == 0 {
			continue
		}
		setHeader(h, names.limit, strconv.FormatInt(s.limit, 10))
		setHeader(h, names.remaining, strconv.FormatInt(s.remaining, 10))
	}
}

func (a azureAPI) limitError(c *call, short dim) (errClass, string) {
	class, what := errRateLimit, "call rate limit"
	if short != dimRequests {
		class, what = errRateLimitTokens, "token rate limit"
	}
	return class, fmt.Sprintf("Requests to the ChatCompletions_Create Operation under Azure OpenAI API version %s have exceeded %s "+
		"of your current OpenAI S0 pricing tier. Please retry after %s seconds. Please go here: https://aka.ms/oai/quotaincrease "+
		"if you would like to further increase the default rate limit.", a.version(), what, c.w.Header().Get("Retry-After"))
}

func (a azureAPI) version() string {
	if a.apiVersion == "" {
		return azureDefaultAPIVersion
	}
	return a.apiVersion
}

// azureGatewayCodes are the errors Azure's gateway answers itself, in its
// {"code","message"} shape; the model's own errors (a bad request) come in
// OpenAI's shape.
var azureGatewayCodes = map[errClass]string{
	errAuth:            "401",
	errNotFound:        "404",
	errRateLimit:       "429",
	errRateLimitTokens: "429",
	errPermission:      "PermissionDenied",
	errAPI:             "InternalServerError",
	errOverloaded:      "ServiceUnavailable",
}

type azureGatewayError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (a azureAPI) writeError(c *call, status int, class errClass, msg string) {
	code, gateway := azureGatewayCodes[class]
	if !gateway {
		a.openaiAPI.writeError(c, status, class, msg)
		return
	}
	h := c.w.Header()
	if secs, err := strconv.ParseInt(h.Get("Retry-After"), 10, 64); err == nil {
		h.Set("Retry-After-Ms", strconv.FormatInt(secs*1000, 10))
	}
	if class == errAuth {
		msg = "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key " +
			"for an active subscription and use a correct regional API endpoint for your resource."
	}
	var e azureGatewayError
	e.Error.Code, e.Error.Message = code, msg
	body, _ := json.Marshal(e) // plain strings: cannot fail
	writeJSON(c, status, body)
}

// azureRoute reads an Azure OpenAI path: /openai/deployments/{d}/chat/completions
// (api-version required) or /openai/v1/chat/completions. ok is false for
// anything else; a deployment path without api-version is answered with
// Azure's 404 by the caller.
func azureRoute(r *http.Request) (a azureAPI, ok bool) {
	a.apiVersion = r.URL.Query().Get("api-version")
	if r.URL.Path == "/openai/v1/chat/completions" {
		return a, true
	}
	rest, found := strings.CutPrefix(r.URL.Path, "/openai/deployments/")
	if !found {
		return a, false
	}
	d, op, found := strings.Cut(rest, "/")
	if !found || d == "" || op != "chat/completions" || a.apiVersion == "" {
		return a, false
	}
	a.deployment = d
	return a, true
}

// serveAzureNotFound answers an Azure path the fake does not serve as the
// service does.
func (p *Provider) serveAzureNotFound(w http.ResponseWriter) {
	c := &call{p: p, w: w, reqID: p.newID("req_")}
	azureAPI{}.writeError(c, http.StatusNotFound, errNotFound, "Resource not found")
}
