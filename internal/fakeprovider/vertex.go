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
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// vertexAPI is Google Vertex AI: an OAuth access token of a service account
// (oauth.go) in Authorization: Bearer, the project and location in the path
// (/v1/projects/{p}/locations/{l}/publishers/{publisher}/models/{model}:
// {method}), which must be the token's project; Claude's Messages body with
// anthropic_version vertex-2023-10-16 and no model (:rawPredict,
// :streamRawPredict) or Gemini's (:generateContent, :streamGenerateContent);
// no rate-limit headers; Google's error shape, a quota 429
// RESOURCE_EXHAUSTED.
type vertexAPI struct {
	p      *Provider
	inner  api // anthropicAPI or geminiAPI
	model  string
	claude bool
}

// vertexAnthropicVersion is the anthropic_version Vertex requires.
const vertexAnthropicVersion = "vertex-2023-10-16"

func (p *Provider) serveVertex(w http.ResponseWriter, r *http.Request) {
	v := vertexAPI{p: p}
	c := &call{p: p, w: w, reqID: p.newID("")}
	if r.URL.Path == "/v1beta1/publishers/google/models" {
		p.serveModels(w, r, v)
		return
	}
	seg := strings.Split(r.URL.Path, "/") // "", v1, projects, p, locations, l, publishers, pub, models, m:method
	if len(seg) != 10 || seg[4] != "locations" || seg[6] != "publishers" || seg[8] != "models" {
		v.writeError(c, http.StatusNotFound, errNotFound, "The requested URL was not found on this server.")
		return
	}
	model, method, _ := strings.Cut(seg[9], ":")
	v.model = model
	switch {
	case seg[7] == "anthropic" && (method == "rawPredict" || method == "streamRawPredict"):
		v.inner, v.claude = anthropicAPI{}, true
	case seg[7] == "google" && (method == "generateContent" || method == methodStreamGenerate):
		v.inner = geminiAPI{model: model, streaming: method == methodStreamGenerate, sse: r.URL.Query().Get("alt") == "sse"}
	default:
		v.writeError(c, http.StatusNotFound, errNotFound, "The requested URL was not found on this server.")
		return
	}
	if _, project, ok := p.tokenOwner(bearer(r)); ok && project != seg[3] {
		v.writeError(c, http.StatusForbidden, errPermission, "Permission 'aiplatform.endpoints.predict' denied on resource "+
			"'//aiplatform.googleapis.com/projects/"+seg[3]+"/locations/"+seg[5]+"/publishers/"+seg[7]+"/models/"+model+"'.")
		return
	}
	p.serveAPI(w, r, v)
}

func (v vertexAPI) apiKey(r *http.Request) string {
	email, _, _ := v.p.tokenOwner(bearer(r))
	return email
}

func (v vertexAPI) parse(body []byte) (request, error) {
	if !v.claude {
		return v.inner.parse(body)
	}
	var in struct {
		Version string          `json:"anthropic_version"`
		Model   json.RawMessage `json:"model"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return request{}, fmt.Errorf("invalid request body: %w", err)
	}
	if in.Version != vertexAnthropicVersion {
		return request{}, errors.New("anthropic_version: must be " + vertexAnthropicVersion)
	}
	if in.Model != nil {
		return request{}, errors.New("model: Extra inputs are not permitted")
	}
	return v.inner.parse(append([]byte(`{"model":`+strconv.Quote(v.model)+`,`), bytes.TrimSpace(body)[1:]...))
}

func (v vertexAPI) admission(input int64) admission {
	if v.inner == nil {
		return anthropicAPI{}.admission(input)
	}
	return v.inner.admission(input)
}

func (vertexAPI) metaHeaders(h http.Header, _, _ string) { h.Set("Server-Timing", "gfet4t7; dur=412") }

// rateHeaders sends nothing: Vertex has no rate-limit headers.
func (vertexAPI) rateHeaders(http.Header, *snapshot) {}

func (v vertexAPI) limitError(*call, dim) (errClass, string) {
	return errRateLimit, "Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model " +
		"with base model: " + v.model + ". Please submit a quota increase request."
}

// writeError writes Google's shape: an access token it does not accept is
// 401 UNAUTHENTICATED; no Retry-After or RetryInfo on a 429.
func (vertexAPI) writeError(c *call, status int, class errClass, msg string) {
	var e googleError
	switch class {
	case errAuth:
		status, msg = http.StatusUnauthorized, "Request had invalid authentication credentials. "+
			"Expected OAuth 2 access token, login cookie or other valid authentication credential."
		e.Error.Status = "UNAUTHENTICATED"
	default:
		e.Error.Status = googleStatuses[class]
	}
	c.w.Header().Del("Retry-After")
	e.Error.Code, e.Error.Message = status, msg
	body, _ := json.Marshal(e)
	writeJSON(c, status, body)
}

func (v vertexAPI) respond(c *call) { v.inner.respond(c) }

func (v vertexAPI) stream(c *call, s *sseWriter) error { return v.inner.stream(c, s) }
