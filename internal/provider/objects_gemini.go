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

// geminiObjectRoutes are the Gemini API's files, batches and cached
// contents, under each API version's root (VERSION). IDs are resource
// names ("files/abc", "cachedContents/abc", "batches/abc"), and a file is
// named in a request by its URI. Uploads (/upload/...) are not proxied.
const geminiObjectRoutes = `
	POST   VERSION/models/*:generateContent            generate
	POST   VERSION/models/*:streamGenerateContent      generate
	POST   VERSION/models/*:countTokens                generate
	POST   VERSION/models/*:batchGenerateContent       create
	GET    VERSION/files                               list
	GET    VERSION/files/{id}                          read
	DELETE VERSION/files/{id}                          delete
	POST   VERSION/cachedContents                      create
	GET    VERSION/cachedContents                      list
	GET    VERSION/cachedContents/{id}                 read
	PATCH  VERSION/cachedContents/{id}                 update
	DELETE VERSION/cachedContents/{id}                 delete
	GET    VERSION/batches                             list
	GET    VERSION/batches/{id}                        read
	POST   VERSION/batches/{id}:cancel                 cancel
	DELETE VERSION/batches/{id}                        delete
`

// geminiGeneration: the other model methods (embeddings, the model list)
// and the OpenAI-compatible endpoints keep nothing.
const geminiGeneration = `
	*      VERSION/models
	*      VERSION/models/**
	POST   VERSION/openai/chat/completions
	POST   VERSION/openai/embeddings
	GET    VERSION/openai/models/**
`

var geminiObjects = func() *ObjectTable {
	var t ObjectTable
	for _, v := range []string{"/v1beta", "/v1", "/v1alpha"} {
		t.Routes = append(t.Routes, routeTable(strings.ReplaceAll(geminiObjectRoutes, "VERSION", v))...)
		t.Generation = append(t.Generation, routeTable(strings.ReplaceAll(geminiGeneration, "VERSION", v))...)
	}
	t.AnswerIDs = []string{"name", "uri", "metadata.name", "metadata.output.responsesFile", "response.responsesFile"}
	t.RequestIDs = []string{"cachedContent", "fileUri", "fileName"}
	t.NameValues = true
	return NewObjectTable(t)
}()

func (gemini) Objects() *ObjectTable { return geminiObjects }
