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

func TestReadRequest(t *testing.T) {
	cases := []struct {
		name       string
		p          Provider
		path, body string
		max        int64
		generates  bool
		stream     bool
		askUsage   bool
	}{
		{"anthropic message", Anthropic, "/v1/messages",
			`{"model":"claude-sonnet-4-5","max_tokens":32000,"stream":true,"messages":[{"role":"user","content":"max_tokens 5"}]}`,
			32000, true, true, false},
		{"anthropic count_tokens", Anthropic, "/v1/messages/count_tokens",
			`{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}]}`, 0, false, false, false},
		{"nested max_tokens is content", Anthropic, "/v1/messages",
			`{"messages":[{"role":"user","content":[{"type":"tool_result","content":{"max_tokens":9}}]}]}`, 0, true, false, false},
		{"openai stream without usage", OpenAI, "/v1/chat/completions",
			`{"model":"gpt-4o","stream": true,"max_completion_tokens":77,"messages":[]}`, 77, true, true, true},
		{"openai stream with stream_options", OpenAI, "/v1/chat/completions",
			`{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":false},"messages":[]}`, 0, true, true, false},
		{"openai no stream", OpenAI, "/v1/chat/completions", `{"model":"gpt-4o","stream":false,"max_tokens":5}`, 5, true, false, false},
		{"openai embeddings", OpenAI, "/v1/embeddings", `{"model":"text-embedding-3-small","input":"hi"}`, 0, false, false, false},
		{"openai responses", OpenAI, "/v1/responses", `{"model":"gpt-5","stream":true,"max_output_tokens":9}`, 9, true, true, false},
		{"azure deployment stream", Azure, "/openai/deployments/d1/chat/completions",
			`{"stream":true,"messages":[]}`, 0, true, true, true},
		{"gemini generate", Gemini, "/v1beta/models/gemini-2.5-pro:streamGenerateContent",
			`{"contents":[],"generationConfig":{"maxOutputTokens":123}}`, 123, true, false, false},
		{"gemini count", Gemini, "/v1beta/models/gemini-2.5-pro:countTokens", `{"contents":[]}`, 0, false, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := c.p.ReadRequest(http.MethodPost, c.path, []byte(c.body))
			if f.MaxOutputTokens != c.max || f.Generates != c.generates || f.Stream != c.stream || f.AskUsage != c.askUsage {
				t.Errorf("ReadRequest = %+v, want max %d generates %v stream %v askUsage %v", f, c.max, c.generates, c.stream, c.askUsage)
			}
			if reserve := map[bool]int64{true: c.max}[c.p == Anthropic && c.generates]; f.ReserveOutput != reserve {
				t.Errorf("ReserveOutput %d, want %d (Anthropic admits output on max_tokens)", f.ReserveOutput, reserve)
			}
			if want := c.p.EstimateInputTokens([]byte(c.body)); f.InputTokens != want {
				t.Errorf("InputTokens %d, want the estimate %d", f.InputTokens, want)
			}
		})
	}
}

func TestReadRequestDoesNotAllocate(t *testing.T) {
	body := []byte(`{"model":"gpt-4o","stream":true,"max_tokens":100,"messages":[{"role":"user","content":"hello"}]}`)
	if n := testing.AllocsPerRun(100, func() { _ = OpenAI.ReadRequest(http.MethodPost, "/v1/chat/completions", body) }); n != 0 {
		t.Errorf("ReadRequest allocates %v times", n)
	}
}
