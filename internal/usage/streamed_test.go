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

// streamedSchema adds content paths to testSchema, and marks the
// message_start count interim as Anthropic's schema does.
var streamedSchema = MustSchema(append(append(append(
	Under([]string{"usage"}, anthropicLeaves...),
	Interim(Under([]string{"message", "usage"}, anthropicLeaves...))...),
	Under([]string{"usage"}, openAILeaves...)...),
	Path{Keys: []string{"delta", "text"}, Field: FieldStreamed},
	Path{Keys: []string{"delta", "content"}, Field: FieldStreamed},
	Path{Keys: []string{"function", "arguments"}, Field: FieldStreamed},
	Path{Keys: []string{"parts", "text"}, Field: FieldStreamed})...)

// TestStreamedAndFinal: the content deltas a stream delivered are counted
// (four ASCII bytes or one non-ASCII character a token, rounded up per
// delta), whether or not the final usage came; only the final usage makes
// the output final.
func TestStreamedAndFinal(t *testing.T) {
	cut := anthropicStream[:strings.Index(anthropicStream, "event: message_delta")]
	tool := `data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":1}"}}]}}]}` + "\n\n"
	gemini := `data: {"candidates":[{"content":{"parts":[{"text":"abcdefghi"}]}}]}` + "\n\n"
	cases := []struct {
		name     string
		body     string
		streamed int64
		final    bool
	}{
		// The delta's text is 36 bytes as sent (escapes included): 9 tokens.
		{"anthropic complete", anthropicStream, 9, true},
		{"anthropic cut before message_delta", cut, 9, false},
		{"anthropic cut inside the delta", anthropicStream[:strings.Index(anthropicStream, "5000")], 8, false},
		// "" then "Hello": 0 + 2.
		{"openai", openAIStream, 2, true},
		{"openai cut before the usage chunk", openAIStream[:strings.Index(openAIStream, `"choices":[]`)], 2, false},
		{"non-ascii", `data: {"delta":{"text":"日本語!"}}` + "\n\n", 4, false},
		{"tool arguments", tool, 3, false},
		{"gemini parts", gemini, 3, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, step := range []int{len(c.body), 1, 3} {
				s := NewScanner(FormatSSE, streamedSchema)
				for i := 0; i < len(c.body); i += step {
					_, _ = s.Write([]byte(c.body[i:min(i+step, len(c.body))]))
				}
				if s.Streamed() != c.streamed || s.Final() != c.final {
					t.Fatalf("in pieces of %d: Streamed %d Final %v, want %d %v", step, s.Streamed(), s.Final(), c.streamed, c.final)
				}
			}
		})
	}
}
