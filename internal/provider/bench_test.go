package provider

import "testing"

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
}
