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

package usage

import (
	"strings"
	"testing"
)

const anthropicMessage = `{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5",
 "content":[{"type":"text","text":"Hello \"usage\": {\"input_tokens\": 999} world"},
            {"type":"tool_use","id":"t1","name":"f","input":{"usage":{"input_tokens":777}}}],
 "stop_reason":"end_turn","stop_sequence":null,
 "usage":{"input_tokens":12,"cache_creation_input_tokens":100,"cache_read_input_tokens":2048,
          "cache_creation":{"ephemeral_5m_input_tokens":100,"ephemeral_1h_input_tokens":0},
          "output_tokens":34,"service_tier":"standard","server_tool_use":{"web_search_requests":0}}}`

const openAIChat = `{
  "id": "chatcmpl-1", "object": "chat.completion", "created": 1741569952, "model": "gpt-4.1",
  "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi", "refusal": null,
               "annotations": []}, "logprobs": null, "finish_reason": "stop", "usage": {"prompt_tokens": 5}}],
  "usage": {"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29,
    "prompt_tokens_details": {"cached_tokens": 7, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 3, "audio_tokens": 0,
      "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}},
  "service_tier": "default"
}`

const anthropicStream = "event: message_start\n" +
	`data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"cache_creation_input_tokens":3,"cache_read_input_tokens":4,"output_tokens":1}}}` + "\n\n" +
	"event: content_block_start\n" +
	`data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}` + "\n\n" +
	": a comment line\n" +
	"event: ping\ndata: {\"type\": \"ping\"}\n\n" +
	"event: content_block_delta\n" +
	`data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"{\"usage\":{\"output_tokens\":5000}}"}}` + "\n\n" +
	"event: content_block_stop\n" +
	`data: {"type":"content_block_stop","index":0}` + "\n\n" +
	"event: message_delta\n" +
	`data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}` + "\n\n" +
	"event: message_stop\n" +
	`data: {"type":"message_stop"}` + "\n\n"

const openAIStream = `data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}` + "\n\n" +
	`data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}],"usage":null}` + "\n\n" +
	`data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}` + "\n\n" +
	`data: {"id":"c1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":11,"completion_tokens":22,"total_tokens":33,"prompt_tokens_details":{"cached_tokens":4}}}` + "\n\n" +
	"data: [DONE]\n\n"

const responsesStream = "event: response.created\n" +
	`data: {"type":"response.created","response":{"id":"r1","status":"in_progress","usage":null}}` + "\n\n" +
	"event: response.output_text.delta\n" +
	`data: {"type":"response.output_text.delta","delta":"hi"}` + "\n\n" +
	"event: response.completed\n" +
	`data: {"type":"response.completed","response":{"id":"r1","status":"completed","output":[{"usage":{"input_tokens":1}}],"usage":{"input_tokens":40,"input_tokens_details":{"cached_tokens":8},"output_tokens":9,"output_tokens_details":{"reasoning_tokens":2},"total_tokens":49}}}` + "\n\n"

func TestScanner(t *testing.T) {
	cases := []struct {
		name   string
		format Format
		body   string
		want   Tokens
	}{
		{"anthropic json", FormatJSON, anthropicMessage, Tokens{Input: 12, Output: 34, CacheCreation: 100, CacheRead: 2048}},
		{"openai json", FormatJSON, openAIChat, Tokens{Input: 19, Output: 10, CacheRead: 7}},
		{"anthropic sse", FormatSSE, anthropicStream, Tokens{Input: 25, Output: 15, CacheCreation: 3, CacheRead: 4}},
		{"anthropic sse crlf", FormatSSE, strings.ReplaceAll(anthropicStream, "\n", "\r\n"), Tokens{Input: 25, Output: 15, CacheCreation: 3, CacheRead: 4}},
		{"anthropic sse cr", FormatSSE, strings.ReplaceAll(anthropicStream, "\n", "\r"), Tokens{Input: 25, Output: 15, CacheCreation: 3, CacheRead: 4}},
		{"openai sse", FormatSSE, openAIStream, Tokens{Input: 11, Output: 22, CacheRead: 4}},
		{"responses sse", FormatSSE, responsesStream, Tokens{Input: 40, Output: 9, CacheRead: 8}},
		{"sse without space", FormatSSE, "data:{\"usage\":{\"output_tokens\":7}}\n\n", Tokens{Output: 7}},
		{"sse multi-line data", FormatSSE, "data: {\"usage\":\ndata: {\"output_tokens\":\ndata: 8}}\n\n", Tokens{Output: 8}},
		{"sse other field named like data", FormatSSE, "datax: {\"usage\":{\"output_tokens\":7}}\n\n", Tokens{}},
		{"error body", FormatJSON, `{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`, Tokens{}},
		{"negative and fractions ignored", FormatJSON, `{"usage":{"input_tokens":-3,"output_tokens":1.5,"cache_read_input_tokens":2e3}}`, Tokens{}},
		{"array at root", FormatJSON, `[{"usage":{"input_tokens":3}}]`, Tokens{}},
		{"escaped key", FormatJSON, `{"usage":{"input\u005ftokens":3,"output_tokens":4}}`, Tokens{Output: 4}},
		{"long keys", FormatJSON, `{"` + strings.Repeat("k", 100) + `":1,"usage":{"` + strings.Repeat("x", 40) + `":1,"output_tokens":4}}`, Tokens{Output: 4}},
		{"none", FormatNone, anthropicMessage, Tokens{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Whole body, then every two-way split, then byte by byte: the
			// result must not depend on how the bytes arrive.
			check := func(how string, pieces ...string) {
				t.Helper()
				s := NewScanner(tc.format, testSchema)
				for _, p := range pieces {
					if n, err := s.Write([]byte(p)); n != len(p) || err != nil {
						t.Fatalf("Write = %d, %v", n, err)
					}
				}
				if got := s.Tokens(); got != tc.want {
					t.Fatalf("%s: got %+v, want %+v", how, got, tc.want)
				}
				if s.Found() != (tc.want != Tokens{}) {
					t.Fatalf("%s: Found() = %v", how, s.Found())
				}
			}
			check("whole", tc.body)
			for i := 1; i < len(tc.body); i++ {
				check("split", tc.body[:i], tc.body[i:])
			}
			bytewise := make([]string, len(tc.body))
			for i := range tc.body {
				bytewise[i] = tc.body[i : i+1]
			}
			check("bytewise", bytewise...)
		})
	}
}

func TestFormatOf(t *testing.T) {
	for ct, want := range map[string]Format{
		"text/event-stream":                FormatSSE,
		"Text/Event-Stream; charset=utf-8": FormatSSE,
		"application/json":                 FormatJSON,
		"application/json; charset=utf-8":  FormatJSON,
		"application/problem+json":         FormatJSON,
		"text/plain":                       FormatNone,
		"":                                 FormatNone,
	} {
		if got := FormatOf(ct); got != want {
			t.Errorf("FormatOf(%q) = %v, want %v", ct, got, want)
		}
	}
}

func TestScannerReset(t *testing.T) {
	s := NewScanner(FormatJSON, testSchema)
	_, _ = s.Write([]byte(`{"usage":{"input_tokens":3`)) // cut inside the number
	s.Reset(FormatSSE, testSchema)
	_, _ = s.Write([]byte(openAIStream))
	if got, want := s.Tokens(), (Tokens{Input: 11, Output: 22, CacheRead: 4}); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestScannerDoesNotAllocate(t *testing.T) {
	body := []byte(anthropicStream)
	s := NewScanner(FormatSSE, testSchema)
	allocs := testing.AllocsPerRun(100, func() {
		s.Reset(FormatSSE, testSchema)
		for i := 0; i < len(body); i += 7 {
			_, _ = s.Write(body[i:min(i+7, len(body))])
		}
	})
	if allocs != 0 {
		t.Fatalf("allocs per stream = %v, want 0", allocs)
	}
}

func FuzzScannerSplit(f *testing.F) {
	f.Add(anthropicStream, 10)
	f.Add(openAIStream, 3)
	f.Fuzz(func(t *testing.T, body string, cut int) {
		whole := NewScanner(FormatSSE, testSchema)
		_, _ = whole.Write([]byte(body))
		if cut < 0 || cut > len(body) {
			return
		}
		split := NewScanner(FormatSSE, testSchema)
		_, _ = split.Write([]byte(body[:cut]))
		_, _ = split.Write([]byte(body[cut:]))
		if whole.Tokens() != split.Tokens() {
			t.Fatalf("split at %d: %+v != %+v", cut, split.Tokens(), whole.Tokens())
		}
	})
}

// testSchema holds the usage paths of both built-in providers, Anthropic's
// and OpenAI's (internal/provider checks its own schemas against real
// bodies); these tests are about the scanner, not about one provider.
var testSchema = MustSchema(append(append(append(
	Under([]string{"usage"}, anthropicLeaves...),
	Under([]string{"message", "usage"}, anthropicLeaves...)...),
	Under([]string{"usage"}, openAILeaves...)...),
	Under([]string{"response", "usage"}, openAILeaves...)...)...)

var anthropicLeaves = []Path{
	{Keys: []string{"input_tokens"}, Field: FieldInput},
	{Keys: []string{"output_tokens"}, Field: FieldOutput},
	{Keys: []string{"cache_creation_input_tokens"}, Field: FieldCacheCreation},
	{Keys: []string{"cache_read_input_tokens"}, Field: FieldCacheRead},
}

var openAILeaves = []Path{
	{Keys: []string{"prompt_tokens"}, Field: FieldInput},
	{Keys: []string{"input_tokens"}, Field: FieldInput},
	{Keys: []string{"output_tokens"}, Field: FieldOutput},
	{Keys: []string{"completion_tokens"}, Field: FieldOutput},
	{Keys: []string{"prompt_tokens_details", "cached_tokens"}, Field: FieldCacheRead},
	{Keys: []string{"input_tokens_details", "cached_tokens"}, Field: FieldCacheRead},
}
