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

// anthropicObjects: the Files API and Message Batches. A file is named in
// a message's content blocks ({"source": {"type": "file", "file_id": ...}})
// and a batch's results are fetched from its results_url, which the proxy
// points at itself.
var anthropicObjects = NewObjectTable(ObjectTable{
	Routes: routeTable(`
		POST   /v1/messages                            generate
		POST   /v1/messages/count_tokens               generate
		POST   /v1/files                               create
		GET    /v1/files                               list
		GET    /v1/files/{id}                          read
		GET    /v1/files/{id}/content                  content
		DELETE /v1/files/{id}                          delete
		POST   /v1/messages/batches                    create
		GET    /v1/messages/batches                    list
		GET    /v1/messages/batches/{id}               read
		POST   /v1/messages/batches/{id}/cancel        cancel
		GET    /v1/messages/batches/{id}/results       content
		DELETE /v1/messages/batches/{id}               delete
	`),
	Generation: routeTable(`
		POST   /v1/complete
		GET    /v1/models
		GET    /v1/models/*
	`),
	AnswerIDs:  []string{"id"},
	AnswerURLs: []string{"results_url"},
	RequestIDs: []string{fileIDField},
})

func (anthropic) Objects() *ObjectTable { return anthropicObjects }
