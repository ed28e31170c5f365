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

func TestGuess(t *testing.T) {
	for _, tc := range []struct {
		path   string
		header map[string]string
		want   Provider
	}{
		{"/v1/messages", nil, Anthropic},
		{"/v1/responses", nil, OpenAI},
		{"/v1/chat/completions", map[string]string{"Anthropic-Version": "2023-06-01"}, Anthropic},
		{"/v1/models", map[string]string{"Authorization": "Bearer t"}, OpenAI},
		{"/v1/models", map[string]string{"Authorization": "Bearer t", "X-Api-Key": "t"}, Anthropic},
		{"/v1beta/models/gemini-2.5-flash:generateContent", nil, Gemini},
		{"/v1beta/models", map[string]string{"X-Goog-Api-Key": "t"}, Gemini},
		{"/openai/deployments/gpt-4o/chat/completions", nil, Azure},
		{"/v1/chat/completions", map[string]string{"Api-Key": "t"}, Azure},
	} {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		for k, v := range tc.header {
			r.Header.Set(k, v)
		}
		if got := Guess(r, tc.path); got != tc.want {
			t.Errorf("Guess(%s, %v) = %s, want %s", tc.path, tc.header, got.Name(), tc.want.Name())
		}
	}
}
