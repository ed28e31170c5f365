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

package apitest

import (
	"encoding/json"

	"github.com/keypool-dev/keypool-operator/internal/provider"
)

// DefaultMaxTokens is the Anthropic max_tokens of AnthropicBody and Body.
const DefaultMaxTokens = 1024

// AnthropicBody is a Messages API request with one user message.
func AnthropicBody(prompt string, stream bool) string {
	return BodyWithMax(provider.Anthropic, prompt, stream, DefaultMaxTokens)
}

// OpenAIBody is a Chat Completions request with one user message; a
// streaming one asks for usage in the stream.
func OpenAIBody(prompt string, stream bool) string {
	return BodyWithMax(provider.OpenAI, prompt, stream, 0)
}

// Body is AnthropicBody or OpenAIBody, after p.
func Body(p provider.Provider, prompt string, stream bool) string {
	if p == provider.OpenAI {
		return OpenAIBody(prompt, stream)
	}
	return AnthropicBody(prompt, stream)
}

// BodyWithMax is a request of provider p with one user message and an
// output cap of maxTokens (Anthropic's required max_tokens; OpenAI's
// max_completion_tokens, left out when 0).
func BodyWithMax(p provider.Provider, prompt string, stream bool, maxTokens int64) string {
	m := map[string]any{"stream": stream, "messages": []map[string]any{{"role": "user", "content": prompt}}}
	if p == provider.OpenAI {
		m["model"] = "gpt-test"
		if maxTokens > 0 {
			m["max_completion_tokens"] = maxTokens
		}
		if stream {
			m["stream_options"] = map[string]any{"include_usage": true}
		}
	} else {
		m["model"], m["max_tokens"] = "claude-test", maxTokens
	}
	b, _ := json.Marshal(m)
	return string(b)
}
