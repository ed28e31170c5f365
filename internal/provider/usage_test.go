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
	"testing"

	"github.com/keypool-dev/keypool-operator/internal/usage"
)

// TestUsageSchemas reads each built-in provider's real response shapes with
// its own schema.
func TestUsageSchemas(t *testing.T) {
	for _, tc := range []struct {
		name   string
		prov   Provider
		format usage.Format
		body   string
		want   usage.Tokens
	}{
		{"anthropic message", Anthropic, usage.FormatJSON,
			`{"type":"message","content":[{"type":"text","text":"hi"}],"usage":{"input_tokens":12,"cache_creation_input_tokens":100,"cache_read_input_tokens":2048,"output_tokens":34}}`,
			usage.Tokens{Input: 12, Output: 34, CacheCreation: 100, CacheRead: 2048}},
		{"anthropic stream", Anthropic, usage.FormatSSE,
			"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n" +
				"event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":15}}\n\n",
			usage.Tokens{Input: 25, Output: 15}},
		{"openai chat", OpenAI, usage.FormatJSON,
			`{"object":"chat.completion","choices":[{"index":0}],"usage":{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":7}}}`,
			usage.Tokens{Input: 19, Output: 10, CacheRead: 7}},
		{"openai responses stream", OpenAI, usage.FormatSSE,
			"event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":40,\"input_tokens_details\":{\"cached_tokens\":8},\"output_tokens\":9}}}\n\n",
			usage.Tokens{Input: 40, Output: 9, CacheRead: 8}},
		// Each schema reads its own provider's fields only.
		{"openai ignores anthropic cache fields", OpenAI, usage.FormatJSON,
			`{"usage":{"cache_creation_input_tokens":100,"cache_read_input_tokens":5}}`, usage.Tokens{}},
		{"anthropic ignores openai fields", Anthropic, usage.FormatJSON,
			`{"usage":{"prompt_tokens":19,"completion_tokens":10}}`, usage.Tokens{}},
	} {
		s := usage.NewScanner(tc.format, tc.prov.Usage())
		_, _ = s.Write([]byte(tc.body))
		if got := s.Tokens(); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
