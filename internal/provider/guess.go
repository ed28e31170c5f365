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
// unknown pool, a malformed path), from the credentials header its SDK
// uses and its path. Anthropic is the default; a request is taken for
// Gemini when it carries x-goog-api-key or names a model method
// (":generateContent"), for Azure OpenAI when it carries api-key or its path
// starts /openai/, and for OpenAI when it carries no anthropic-version
// header and either its path exists only in OpenAI's API or it
// authenticates with a Bearer token and no x-api-key (the OpenAI SDK's
// habit).
func Guess(r *http.Request, path string) Provider {
	h := r.Header
	switch {
	case h.Get("Anthropic-Version") != "":
		return Anthropic
	case h.Get("X-Goog-Api-Key") != "" || strings.Contains(path, ":generateContent") ||
		strings.Contains(path, ":streamGenerateContent"):
		return Gemini
	case h.Get("Api-Key") != "" || strings.HasPrefix(path, "/openai/"):
		return Azure
	case isOpenAIOnlyPath(path):
		return OpenAI
	case h.Get("X-Api-Key") == "" && strings.HasPrefix(h.Get("Authorization"), "Bearer "):
		return OpenAI
	}
	return Anthropic
}
