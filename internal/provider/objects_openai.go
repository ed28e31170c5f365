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
	"strings"
)

// openAIObjectRoutes are OpenAI's object endpoints under /v1: Files,
// Uploads, Batches, stored Responses, stored chat completions and vector
// stores. A list of an object's own parts (a vector store's files) is a
// read of that object.
var openAIObjectRoutes = []ObjectRoute{
	{Method: http.MethodPost, Path: "/v1/chat/completions", Action: ObjectGenerate, Store: StoreIfTrue},
	{Method: http.MethodPost, Path: "/v1/responses", Action: ObjectGenerate, Store: StoreUnlessFalse},
	{Method: http.MethodPost, Path: "/v1/responses/input_tokens", Action: ObjectGenerate},

	{Method: http.MethodPost, Path: "/v1/files", Action: ObjectCreate},
	{Method: http.MethodGet, Path: "/v1/files", Action: ObjectList},
	{Method: http.MethodGet, Path: "/v1/files/{id}", Action: ObjectRead},
	{Method: http.MethodGet, Path: "/v1/files/{id}/content", Action: ObjectContent},
	{Method: http.MethodDelete, Path: "/v1/files/{id}", Action: ObjectDelete},

	{Method: http.MethodPost, Path: "/v1/uploads", Action: ObjectCreate},
	{Method: http.MethodPost, Path: "/v1/uploads/{id}/parts", Action: ObjectUpdate},
	{Method: http.MethodPost, Path: "/v1/uploads/{id}/complete", Action: ObjectUpdate},
	{Method: http.MethodPost, Path: "/v1/uploads/{id}/cancel", Action: ObjectCancel},

	{Method: http.MethodPost, Path: "/v1/batches", Action: ObjectCreate},
	{Method: http.MethodGet, Path: "/v1/batches", Action: ObjectList},
	{Method: http.MethodGet, Path: "/v1/batches/{id}", Action: ObjectRead},
	{Method: http.MethodPost, Path: "/v1/batches/{id}/cancel", Action: ObjectCancel},

	{Method: http.MethodGet, Path: "/v1/responses/{id}", Action: ObjectRead},
	{Method: http.MethodDelete, Path: "/v1/responses/{id}", Action: ObjectDelete},
	{Method: http.MethodPost, Path: "/v1/responses/{id}/cancel", Action: ObjectCancel},
	{Method: http.MethodGet, Path: "/v1/responses/{id}/input_items", Action: ObjectContent},

	{Method: http.MethodGet, Path: "/v1/chat/completions", Action: ObjectList},
	{Method: http.MethodGet, Path: "/v1/chat/completions/{id}", Action: ObjectRead},
	{Method: http.MethodPost, Path: "/v1/chat/completions/{id}", Action: ObjectUpdate},
	{Method: http.MethodDelete, Path: "/v1/chat/completions/{id}", Action: ObjectDelete},
	{Method: http.MethodGet, Path: "/v1/chat/completions/{id}/messages", Action: ObjectContent},

	{Method: http.MethodPost, Path: "/v1/vector_stores", Action: ObjectCreate},
	{Method: http.MethodGet, Path: "/v1/vector_stores", Action: ObjectList},
	{Method: http.MethodGet, Path: "/v1/vector_stores/{id}", Action: ObjectRead},
	{Method: http.MethodPost, Path: "/v1/vector_stores/{id}", Action: ObjectUpdate},
	{Method: http.MethodDelete, Path: "/v1/vector_stores/{id}", Action: ObjectDelete},
	{Method: http.MethodPost, Path: "/v1/vector_stores/{id}/search", Action: ObjectContent},
	{Method: http.MethodPost, Path: "/v1/vector_stores/{id}/files", Action: ObjectUpdate},
	{Method: http.MethodGet, Path: "/v1/vector_stores/{id}/files", Action: ObjectRead},
	{Method: http.MethodGet, Path: "/v1/vector_stores/{id}/files/{id}", Action: ObjectRead},
	{Method: http.MethodPost, Path: "/v1/vector_stores/{id}/files/{id}", Action: ObjectUpdate},
	{Method: http.MethodDelete, Path: "/v1/vector_stores/{id}/files/{id}", Action: ObjectDelete},
	{Method: http.MethodGet, Path: "/v1/vector_stores/{id}/files/{id}/content", Action: ObjectContent},
	{Method: http.MethodPost, Path: "/v1/vector_stores/{id}/file_batches", Action: ObjectUpdate},
	{Method: http.MethodGet, Path: "/v1/vector_stores/{id}/file_batches/{id}", Action: ObjectRead},
	{Method: http.MethodPost, Path: "/v1/vector_stores/{id}/file_batches/{id}/cancel", Action: ObjectCancel},
	{Method: http.MethodGet, Path: "/v1/vector_stores/{id}/file_batches/{id}/files", Action: ObjectRead},
}

// openAIGeneration: the endpoints that keep nothing.
var openAIGeneration = []ObjectRoute{
	{Method: http.MethodPost, Path: "/v1/completions"},
	{Method: http.MethodPost, Path: "/v1/embeddings"},
	{Method: http.MethodPost, Path: "/v1/moderations"},
	{Method: http.MethodPost, Path: "/v1/audio/**"},
	{Method: http.MethodPost, Path: "/v1/images/**"},
	{Method: http.MethodGet, Path: "/v1/models"},
	{Method: http.MethodGet, Path: "/v1/models/*"},
}

// openAIAnswerIDs: an object's own id, a batch's files, an upload's file,
// a vector store file's store and a response's predecessor.
var openAIAnswerIDs = []string{"id", "input_file_id", "output_file_id", "error_file_id", "file.id",
	"file_id", "vector_store_id", "previous_response_id"}

// openAIRequestIDs: where a body names objects, at any depth (a content
// part's file_id, a file_search tool's vector_store_ids, an upload's
// part_ids).
var openAIRequestIDs = []string{"file_id", "file_ids", "previous_response_id", "input_file_id",
	"vector_store_ids", "part_ids"}

var openAIObjects = NewObjectTable(ObjectTable{
	Routes:     openAIObjectRoutes,
	Generation: openAIGeneration,
	AnswerIDs:  openAIAnswerIDs,
	RequestIDs: openAIRequestIDs,
})

func (openAI) Objects() *ObjectTable { return openAIObjects }

// azureObjects: Azure OpenAI serves OpenAI's object APIs under /openai/v1
// and (with an api-version) under /openai; a deployment's generation
// endpoints sit under /openai/deployments/{deployment}.
var azureObjects = NewObjectTable(ObjectTable{
	Routes: append(rerooted(openAIObjectRoutes, "/openai/v1", "/openai"),
		ObjectRoute{Method: http.MethodPost, Path: "/openai/deployments/*/chat/completions", Action: ObjectGenerate, Store: StoreIfTrue}),
	Generation: append(rerooted(openAIGeneration, "/openai/v1", "/openai/deployments/*"),
		ObjectRoute{Method: http.MethodGet, Path: "/openai/models"}),
	AnswerIDs:  openAIAnswerIDs,
	RequestIDs: openAIRequestIDs,
})

func (azureOpenAI) Objects() *ObjectTable { return azureObjects }

// rerooted copies routes under /v1 to each of roots instead.
func rerooted(routes []ObjectRoute, roots ...string) []ObjectRoute {
	out := make([]ObjectRoute, 0, len(routes)*len(roots))
	for _, root := range roots {
		for _, r := range routes {
			r.Path = root + strings.TrimPrefix(r.Path, "/v1")
			out = append(out, r)
		}
	}
	return out
}
