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
	"testing"
)

func TestObjectTablesMatch(t *testing.T) {
	cases := []struct {
		prov   Provider
		method string
		path   string
		action ObjectAction // 0: no object route
		ids    []string
		gen    bool // a generation endpoint (when action is 0)
	}{
		{Anthropic, http.MethodPost, "/v1/messages", ObjectGenerate, nil, false},
		{Anthropic, http.MethodPost, "/v1/files", ObjectCreate, nil, false},
		{Anthropic, http.MethodGet, "/v1/files", ObjectList, nil, false},
		{Anthropic, http.MethodGet, "/v1/files/file_1/content", ObjectContent, []string{"file_1"}, false},
		{Anthropic, http.MethodPost, "/v1/messages/batches/msgbatch_1/cancel", ObjectCancel, []string{"msgbatch_1"}, false},
		{Anthropic, http.MethodGet, "/v1/messages/batches/msgbatch_1/results", ObjectContent, []string{"msgbatch_1"}, false},
		{Anthropic, http.MethodDelete, "/v1/messages/batches/msgbatch_1", ObjectDelete, []string{"msgbatch_1"}, false},
		{Anthropic, http.MethodGet, "/v1/models/claude-x", 0, nil, true},
		{Anthropic, http.MethodHead, "/v1/models", 0, nil, true},
		{Anthropic, http.MethodPost, "/v1/skills", 0, nil, false},
		{Anthropic, http.MethodPut, "/v1/files/file_1", 0, nil, false},
		{Anthropic, http.MethodGet, "/v1/files/file_1/content/x", 0, nil, false},
		{Anthropic, http.MethodGet, "/v1/files/", 0, nil, false},
		{OpenAI, http.MethodPost, "/v1/responses", ObjectGenerate, nil, false},
		{OpenAI, http.MethodPost, "/v1/responses/input_tokens", ObjectGenerate, nil, false},
		{OpenAI, http.MethodGet, "/v1/responses/resp_1", ObjectRead, []string{"resp_1"}, false},
		{OpenAI, http.MethodDelete, "/v1/vector_stores/vs_1/files/file-2", ObjectDelete, []string{"vs_1", "file-2"}, false},
		{OpenAI, http.MethodPost, "/v1/uploads/upload_1/complete", ObjectUpdate, []string{"upload_1"}, false},
		{OpenAI, http.MethodPost, "/v1/embeddings", 0, nil, true},
		{OpenAI, http.MethodPost, "/v1/audio/speech", 0, nil, true},
		{OpenAI, http.MethodPost, "/v1/assistants", 0, nil, false},
		{Azure, http.MethodGet, "/openai/files/file-1", ObjectRead, []string{"file-1"}, false},
		{Azure, http.MethodPost, "/openai/v1/batches/batch_1/cancel", ObjectCancel, []string{"batch_1"}, false},
		{Azure, http.MethodPost, "/openai/deployments/gpt/chat/completions", ObjectGenerate, nil, false},
		{Azure, http.MethodPost, "/openai/deployments/gpt/embeddings", 0, nil, true},
		{Gemini, http.MethodPost, "/v1beta/models/gemini-2.5-flash:generateContent", ObjectGenerate, nil, false},
		{Gemini, http.MethodPost, "/v1beta/models/gemini-2.5-flash:batchGenerateContent", ObjectCreate, nil, false},
		{Gemini, http.MethodPost, "/v1beta/batches/b1:cancel", ObjectCancel, []string{"b1"}, false},
		{Gemini, http.MethodPatch, "/v1/cachedContents/c1", ObjectUpdate, []string{"c1"}, false},
		{Gemini, http.MethodPost, "/v1beta/models/gemini-2.5-flash:embedContent", 0, nil, true},
		{Gemini, http.MethodPost, "/v1beta/batches/:cancel", 0, nil, false},
		{Gemini, http.MethodPost, "/v1beta/tunedModels", 0, nil, false},
	}
	for _, tc := range cases {
		table := ObjectsOf(tc.prov)
		route, spans := table.Match(tc.method, tc.path, nil)
		var action ObjectAction
		if route != nil {
			action = route.Action
		}
		if action != tc.action {
			t.Errorf("%s %s %s: action %d, want %d", tc.prov.Name(), tc.method, tc.path, action, tc.action)
			continue
		}
		var ids []string
		for _, s := range spans {
			ids = append(ids, tc.path[s.Start:s.End])
		}
		if len(ids) != len(tc.ids) || (len(ids) > 0 && (ids[0] != tc.ids[0] || ids[len(ids)-1] != tc.ids[len(tc.ids)-1])) {
			t.Errorf("%s %s: ids %q, want %q", tc.method, tc.path, ids, tc.ids)
		}
		if route == nil {
			if gen := table.IsGeneration(tc.method, tc.path); gen != tc.gen {
				t.Errorf("%s %s %s: generation %v, want %v", tc.prov.Name(), tc.method, tc.path, gen, tc.gen)
			}
		}
	}
}

func TestRouteTableRefusesUnknownWords(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("a route with an unknown action was accepted")
		}
	}()
	routeTable("POST /v1/files creates")
}
