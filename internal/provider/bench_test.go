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

func BenchmarkParseHeaders(b *testing.B) {
	b.Run("anthropic", func(b *testing.B) {
		h := anthropicHeader()
		b.ReportAllocs()
		for b.Loop() {
			Anthropic.ParseLimits(h, t0)
		}
	})
	b.Run("openai", func(b *testing.B) {
		h := openAIHeader()
		b.ReportAllocs()
		for b.Loop() {
			OpenAI.ParseLimits(h, t0)
		}
	})
	b.Run("azure", func(b *testing.B) {
		h := azureHeader()
		b.ReportAllocs()
		for b.Loop() {
			Azure.ParseLimits(h, t0)
		}
	})
	b.Run("gemini", func(b *testing.B) {
		h := http.Header{"Content-Type": {"application/json"}}
		b.ReportAllocs()
		for b.Loop() {
			Gemini.ParseLimits(h, t0)
		}
	})
}
