package apitest

import (
	"encoding/json"

	"github.com/keypool-dev/keypool-operator/internal/provider"
)

// AnthropicBody is a Messages API request with one user message.
func AnthropicBody(prompt string, stream bool) string {
	b, _ := json.Marshal(map[string]any{
		"model": "claude-test", "max_tokens": 1024, "stream": stream,
		"messages": []map[string]any{{"role": "user", "content": prompt}},
	})
	return string(b)
}

// OpenAIBody is a Chat Completions request with one user message; a
// streaming one asks for usage in the stream.
func OpenAIBody(prompt string, stream bool) string {
	m := map[string]any{
		"model": "gpt-test", "stream": stream,
		"messages": []map[string]any{{"role": "user", "content": prompt}},
	}
	if stream {
		m["stream_options"] = map[string]any{"include_usage": true}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// Body is AnthropicBody or OpenAIBody, after p.
func Body(p provider.Provider, prompt string, stream bool) string {
	if p == provider.OpenAI {
		return OpenAIBody(prompt, stream)
	}
	return AnthropicBody(prompt, stream)
}
