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

// anthropicObjects: the Files API and Message Batches. A file is named in
// a message's content blocks ({"source": {"type": "file", "file_id": ...}})
// and a batch's results are fetched from its results_url, which the proxy
// points at itself.
var anthropicObjects = NewObjectTable(ObjectTable{
	Routes: []ObjectRoute{
		{Method: http.MethodPost, Path: "/v1/messages", Action: ObjectGenerate},
		{Method: http.MethodPost, Path: "/v1/messages/count_tokens", Action: ObjectGenerate},
		{Method: http.MethodPost, Path: "/v1/files", Action: ObjectCreate},
		{Method: http.MethodGet, Path: "/v1/files", Action: ObjectList},
		{Method: http.MethodGet, Path: "/v1/files/{id}", Action: ObjectRead},
		{Method: http.MethodGet, Path: "/v1/files/{id}/content", Action: ObjectContent},
		{Method: http.MethodDelete, Path: "/v1/files/{id}", Action: ObjectDelete},
		{Method: http.MethodPost, Path: "/v1/messages/batches", Action: ObjectCreate},
		{Method: http.MethodGet, Path: "/v1/messages/batches", Action: ObjectList},
		{Method: http.MethodGet, Path: "/v1/messages/batches/{id}", Action: ObjectRead},
		{Method: http.MethodPost, Path: "/v1/messages/batches/{id}/cancel", Action: ObjectCancel},
		{Method: http.MethodGet, Path: "/v1/messages/batches/{id}/results", Action: ObjectContent},
		{Method: http.MethodDelete, Path: "/v1/messages/batches/{id}", Action: ObjectDelete},
	},
	Generation: []ObjectRoute{
		{Method: http.MethodPost, Path: "/v1/complete"},
		{Method: http.MethodGet, Path: "/v1/models"},
		{Method: http.MethodGet, Path: "/v1/models/*"},
	},
	AnswerIDs:  []string{"id"},
	AnswerURLs: []string{"results_url"},
	RequestIDs: []string{"file_id"},
})

func (anthropic) Objects() *ObjectTable { return anthropicObjects }
