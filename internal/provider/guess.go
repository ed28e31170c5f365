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

// Guess picks the error shape for a request that no pool speaks for (an
// unknown pool, a malformed path). Anthropic is the default; a request is
// taken for OpenAI when it carries no anthropic-version header and either
// its path exists only in OpenAI's API or it authenticates with a Bearer
// token and no x-api-key (the OpenAI SDK's habit).
func Guess(r *http.Request, path string) Provider {
	if r.Header.Get("Anthropic-Version") != "" {
		return Anthropic
	}
	if isOpenAIOnlyPath(path) {
		return OpenAI
	}
	if r.Header.Get("X-Api-Key") == "" && strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		return OpenAI
	}
	return Anthropic
}
