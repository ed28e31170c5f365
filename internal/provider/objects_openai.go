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

import "strings"

// openAIObjectRoutes are OpenAI's object endpoints under /v1: Files,
// Uploads, Batches, stored Responses, stored chat completions and vector
// stores. A list of an object's own parts (a vector store's files) is a
// read of that object.
var openAIObjectRoutes = routeTable(`
	POST   /v1/chat/completions                               generate store-if-true stream-ids=chatcmpl-
	POST   /v1/responses                                      generate store-unless-false stream-ids=resp_
	POST   /v1/responses/input_tokens                         generate

	POST   /v1/files                                          create
	GET    /v1/files                                          list
	GET    /v1/files/{id}                                     read
	GET    /v1/files/{id}/content                             content
	DELETE /v1/files/{id}                                     delete

	POST   /v1/uploads                                        create
	POST   /v1/uploads/{id}/parts                             update
	POST   /v1/uploads/{id}/complete                          update
	POST   /v1/uploads/{id}/cancel                            cancel

	POST   /v1/batches                                        create
	GET    /v1/batches                                        list
	GET    /v1/batches/{id}                                   read
	POST   /v1/batches/{id}/cancel                            cancel

	GET    /v1/responses/{id}                                 read
	DELETE /v1/responses/{id}                                 delete
	POST   /v1/responses/{id}/cancel                          cancel
	GET    /v1/responses/{id}/input_items                     content

	GET    /v1/chat/completions                               list
	GET    /v1/chat/completions/{id}                          read
	POST   /v1/chat/completions/{id}                          update
	DELETE /v1/chat/completions/{id}                          delete
	GET    /v1/chat/completions/{id}/messages                 content

	POST   /v1/vector_stores                                  create
	GET    /v1/vector_stores                                  list
	GET    /v1/vector_stores/{id}                             read
	POST   /v1/vector_stores/{id}                             update
	DELETE /v1/vector_stores/{id}                             delete
	POST   /v1/vector_stores/{id}/search                      content
	POST   /v1/vector_stores/{id}/files                       update
	GET    /v1/vector_stores/{id}/files                       read
	GET    /v1/vector_stores/{id}/files/{id}                  read
	POST   /v1/vector_stores/{id}/files/{id}                  update
	DELETE /v1/vector_stores/{id}/files/{id}                  delete
	GET    /v1/vector_stores/{id}/files/{id}/content          content
	POST   /v1/vector_stores/{id}/file_batches                update
	GET    /v1/vector_stores/{id}/file_batches/{id}           read
	POST   /v1/vector_stores/{id}/file_batches/{id}/cancel    cancel
	GET    /v1/vector_stores/{id}/file_batches/{id}/files     read
`)

// openAIGeneration: the endpoints that keep nothing.
var openAIGeneration = routeTable(`
	POST   /v1/completions
	POST   /v1/embeddings
	POST   /v1/moderations
	POST   /v1/audio/**
	POST   /v1/images/**
	GET    /v1/models
	GET    /v1/models/*
`)

// openAIAnswerIDs: an object's own id, a batch's files, an upload's file,
// a vector store file's store and a response's predecessor.
var openAIAnswerIDs = []string{"id", "input_file_id", "output_file_id", "error_file_id", "file.id",
	fileIDField, "vector_store_id", "previous_response_id"}

// openAIRequestIDs: where a body names objects, at any depth (a content
// part's file_id, a file_search tool's vector_store_ids, an upload's
// part_ids).
var openAIRequestIDs = []string{fileIDField, "file_ids", "previous_response_id", "input_file_id",
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
		routeTable(`POST /openai/deployments/*/chat/completions generate store-if-true stream-ids=chatcmpl-`)...),
	Generation: append(rerooted(openAIGeneration, "/openai/v1", "/openai/deployments/*"),
		routeTable(`GET /openai/models`)...),
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
