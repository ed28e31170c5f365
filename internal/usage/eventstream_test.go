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
	"bytes"
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// frames encodes payloads as AWS event-stream messages, as Bedrock does.
func frames(t *testing.T, payloads ...string) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := eventstream.NewEncoder()
	for _, p := range payloads {
		if err := enc.Encode(&b, eventstream.Message{Headers: eventstream.Headers{
			{Name: ":event-type", Value: eventstream.StringValue("chunk")},
			{Name: ":message-type", Value: eventstream.StringValue("event")},
		}, Payload: []byte(p)}); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// chunk wraps a model event as InvokeModelWithResponseStream does: base64
// in "bytes".
func chunk(event string) string {
	b, _ := json.Marshal(map[string][]byte{"bytes": []byte(event)})
	return string(b)
}

// TestEventStreamUsage: usage inside InvokeModelWithResponseStream's chunks
// (the Anthropic events, then Bedrock's invocation metrics) and in
// ConverseStream's metadata event, however the body is cut into reads; a
// message with a bad CRC is skipped, not believed.
func TestEventStreamUsage(t *testing.T) {
	schema := MustSchema(
		Path{Keys: []string{"message", "usage", "input_tokens"}, Field: FieldInput},
		Path{Keys: []string{"usage", "output_tokens"}, Field: FieldOutput},
		Path{Keys: []string{"amazon-bedrock-invocationMetrics", "inputTokenCount"}, Field: FieldInput},
		Path{Keys: []string{"amazon-bedrock-invocationMetrics", "outputTokenCount"}, Field: FieldOutput},
		Path{Keys: []string{"usage", "inputTokens"}, Field: FieldInput},
		Path{Keys: []string{"usage", "outputTokens"}, Field: FieldOutput},
	)
	invoke := frames(t,
		chunk(`{"type":"message_start","message":{"usage":{"input_tokens":25,"output_tokens":1}}}`),
		chunk(`{"type":"content_block_delta","delta":{"text":"{\"usage\":{\"output_tokens\":999}}"}}`),
		chunk(`{"type":"message_delta","usage":{"output_tokens":15}}`),
		chunk(`{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":25,"outputTokenCount":16}}`))
	converse := frames(t, `{"role":"assistant"}`, `{"contentBlockIndex":0,"delta":{"text":"hi"}}`,
		`{"usage":{"inputTokens":7,"outputTokens":3,"totalTokens":10},"metrics":{"latencyMs":1}}`)
	corrupt := frames(t, chunk(`{"type":"message_delta","usage":{"output_tokens":15}}`), chunk(`{"type":"message_delta","usage":{"output_tokens":77}}`))
	corrupt[len(corrupt)-1] ^= 0xff // the second message's CRC

	for _, tc := range []struct {
		name string
		body []byte
		want Tokens
	}{
		{"invoke", invoke, Tokens{Input: 25, Output: 16}},
		{"converse", converse, Tokens{Input: 7, Output: 3}},
		{"corrupt", corrupt, Tokens{Output: 15}},
	} {
		for step := 1; step <= len(tc.body); step += max(1, len(tc.body)/97) {
			s := NewScanner(FormatOf("application/vnd.amazon.eventstream"), schema)
			for i := 0; i < len(tc.body); i += step {
				_, _ = s.Write(tc.body[i:min(i+step, len(tc.body))])
			}
			if got := s.Tokens(); got != tc.want || !s.Found() {
				t.Fatalf("%s in reads of %d bytes: %+v, want %+v", tc.name, step, got, tc.want)
			}
		}
	}
}
