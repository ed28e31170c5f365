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

// Package provider holds everything that differs between the upstream LLM
// APIs a pool can front: where the key goes, which request and response
// headers cross the proxy, how rate-limit headers read, what an error looks
// like, the default upstream and where a response reports token usage.
//
// Each provider lives in one file (anthropic.go, openai.go, azure.go,
// gemini.go) behind the small Provider interface; the pool engine
// (internal/keypool), the proxy and the controller only ever talk to that
// interface, so a new provider is one new file here plus its name in the
// KeyPool API's enum. The building blocks in
// this package (RateLimitHeaders, HeaderSet, WriteJSON) make such a file
// mostly a table.
//
// The package is pure Go: no Kubernetes imports, and the parsers on the
// response path allocate nothing for well-formed headers.
package provider
