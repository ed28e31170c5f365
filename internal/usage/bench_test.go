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
	"encoding/json"
	"strings"
	"testing"
)

// benchJSON is a non-streaming Anthropic response with ~16 KiB of text.
var benchJSON = []byte(strings.Replace(anthropicMessage, "Hello", strings.Repeat("lorem ipsum dolor sit amet, ", 600), 1))

// benchSSE is an Anthropic stream with 600 text deltas.
var benchSSE = func() []byte {
	var b strings.Builder
	head, tail, _ := strings.Cut(anthropicStream, "event: content_block_delta\n")
	b.WriteString(head)
	for range 600 {
		b.WriteString("event: content_block_delta\n" + `data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"lorem ipsum "}}` + "\n\n")
	}
	b.WriteString("event: content_block_delta\n" + tail)
	return []byte(b.String())
}()

func benchScan(b *testing.B, f Format, body []byte, chunk int) {
	s := NewScanner(f, testSchema)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		s.Reset(f, testSchema)
		for i := 0; i < len(body); i += chunk {
			_, _ = s.Write(body[i:min(i+chunk, len(body))])
		}
	}
	if !s.Found() {
		b.Fatal("no usage found")
	}
}

// BenchmarkScanJSON reads a 16 KiB response in 32 KiB reads (one Write).
func BenchmarkScanJSON(b *testing.B) { benchScan(b, FormatJSON, benchJSON, 32<<10) }

// BenchmarkScanSSE reads a 90 KiB stream in 512-byte pieces.
func BenchmarkScanSSE(b *testing.B) { benchScan(b, FormatSSE, benchSSE, 512) }

// BenchmarkUnmarshalJSON is the naive alternative, for comparison.
func BenchmarkUnmarshalJSON(b *testing.B) {
	b.SetBytes(int64(len(benchJSON)))
	b.ReportAllocs()
	for b.Loop() {
		var v struct {
			Usage struct {
				InputTokens  int64 `json:"input_tokens"`
				OutputTokens int64 `json:"output_tokens"`
			} `json:"usage"`
		}
		if err := json.Unmarshal(benchJSON, &v); err != nil {
			b.Fatal(err)
		}
	}
}
