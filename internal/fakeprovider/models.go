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
	"net/http"
)

// serveModels answers a model list request as API a does: the list for a
// valid key, a's invalid-key error (401, or Gemini's 400) for an unknown or
// revoked one. Proxies use it as a cheap check of a key. It is not rate
// limited and takes no injected fault.
func (p *Provider) serveModels(w http.ResponseWriter, r *http.Request, a api) {
	c := &call{p: p, w: w, r: r, reqID: p.newID("req_")}
	ks := p.keys[a.apiKey(r)]
	org := ""
	if ks != nil {
		org = ks.org.name
	}
	a.metaHeaders(w.Header(), c.reqID, org)
	switch {
	case r.Method != http.MethodGet:
		a.writeError(c, http.StatusMethodNotAllowed, errInvalid, "Method Not Allowed")
	case ks == nil:
		p.unauthenticated.Add(1)
		a.writeError(c, http.StatusUnauthorized, errAuth, "invalid api key")
	case ks.state.Load() == keyRevoked:
		a.writeError(c, http.StatusUnauthorized, errAuth, "invalid api key: this key has been revoked")
	default:
		p.modelChecks.Add(1)
		switch a.(type) {
		case anthropicAPI:
			writeJSON(c, http.StatusOK, []byte(`{"data":[{"type":"model","id":"claude-sonnet-4-5","display_name":"Claude Sonnet 4.5",`+
				`"created_at":"2025-09-29T00:00:00Z"}],"has_more":false,"first_id":"claude-sonnet-4-5","last_id":"claude-sonnet-4-5"}`))
			return
		case bedrockAPI:
			writeJSON(c, http.StatusOK, bedrockListing(r.URL.Path))
			return
		case vertexAPI:
			writeJSON(c, http.StatusOK, []byte(`{"publisherModels":[{"name":"publishers/google/models/gemini-2.5-flash",`+
				`"versionId":"001","launchStage":"GA"}],"nextPageToken":""}`))
			return
		case geminiAPI:
			writeJSON(c, http.StatusOK, []byte(`{"models":[{"name":"models/gemini-2.5-flash","version":"001",`+
				`"displayName":"Gemini 2.5 Flash","inputTokenLimit":1048576,"outputTokenLimit":65536,`+
				`"supportedGenerationMethods":["generateContent","countTokens"]}],"nextPageToken":""}`))
			return
		}
		writeJSON(c, http.StatusOK, []byte(`{"object":"list","data":[{"id":"gpt-4.1","object":"model",`+
			`"created":1744316542,"owned_by":"system"}]}`))
	}
}

// ModelChecks counts the successful GET /v1/models requests: how often a
// proxy re-checked a valid key.
func (p *Provider) ModelChecks() int64 { return p.modelChecks.Load() }
