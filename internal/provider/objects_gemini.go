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

import "net/http"

// geminiObjectRoutes are the Gemini API's files, batches and cached
// contents, under one API version's root. IDs are resource names
// ("files/abc", "cachedContents/abc", "batches/abc"), and a file is named in
// a request by its URI. Uploads (/upload/...) are not proxied.
func geminiObjectRoutes(v string) []ObjectRoute {
	return []ObjectRoute{
		{Method: http.MethodPost, Path: v + "/models/*:generateContent", Action: ObjectGenerate},
		{Method: http.MethodPost, Path: v + "/models/*:streamGenerateContent", Action: ObjectGenerate},
		{Method: http.MethodPost, Path: v + "/models/*:countTokens", Action: ObjectGenerate},
		{Method: http.MethodPost, Path: v + "/models/*:batchGenerateContent", Action: ObjectCreate},
		{Method: http.MethodGet, Path: v + "/files", Action: ObjectList},
		{Method: http.MethodGet, Path: v + "/files/{id}", Action: ObjectRead},
		{Method: http.MethodDelete, Path: v + "/files/{id}", Action: ObjectDelete},
		{Method: http.MethodPost, Path: v + "/cachedContents", Action: ObjectCreate},
		{Method: http.MethodGet, Path: v + "/cachedContents", Action: ObjectList},
		{Method: http.MethodGet, Path: v + "/cachedContents/{id}", Action: ObjectRead},
		{Method: http.MethodPatch, Path: v + "/cachedContents/{id}", Action: ObjectUpdate},
		{Method: http.MethodDelete, Path: v + "/cachedContents/{id}", Action: ObjectDelete},
		{Method: http.MethodGet, Path: v + "/batches", Action: ObjectList},
		{Method: http.MethodGet, Path: v + "/batches/{id}", Action: ObjectRead},
		{Method: http.MethodPost, Path: v + "/batches/{id}:cancel", Action: ObjectCancel},
		{Method: http.MethodDelete, Path: v + "/batches/{id}", Action: ObjectDelete},
	}
}

// geminiVersions are the API's roots the proxy serves.
var geminiVersions = []string{"/v1beta", "/v1", "/v1alpha"}

var geminiObjects = func() *ObjectTable {
	var t ObjectTable
	for _, v := range geminiVersions {
		t.Routes = append(t.Routes, geminiObjectRoutes(v)...)
		// The other model methods (embeddings, the model list) and the
		// OpenAI-compatible endpoints keep nothing.
		t.Generation = append(t.Generation,
			ObjectRoute{Path: v + "/models"}, ObjectRoute{Path: v + "/models/**"},
			ObjectRoute{Method: http.MethodPost, Path: v + "/openai/chat/completions"},
			ObjectRoute{Method: http.MethodPost, Path: v + "/openai/embeddings"},
			ObjectRoute{Method: http.MethodGet, Path: v + "/openai/models/**"})
	}
	t.AnswerIDs = []string{"name", "uri", "metadata.name", "metadata.output.responsesFile", "response.responsesFile"}
	t.RequestIDs = []string{"cachedContent", "fileUri", "fileName"}
	t.NameValues = true
	return NewObjectTable(t)
}()

func (gemini) Objects() *ObjectTable { return geminiObjects }
