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
	"encoding/base64"
	"encoding/binary"
	"strings"
	"testing"
)

// pngHeader is the first 24 bytes of a w x h PNG.
func pngHeader(w, h uint32) []byte {
	b := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR")
	b = binary.BigEndian.AppendUint32(b, w)
	return binary.BigEndian.AppendUint32(b, h)
}

func b64(b []byte, pad int) string {
	return base64.StdEncoding.EncodeToString(append(b, make([]byte, pad)...))
}

func TestEstimateInputTokens(t *testing.T) {
	text := strings.Repeat("word ", 800) // 4,000 bytes
	bigJPEG := b64([]byte("\xff\xd8\xff\xe0"), 5<<20)
	png := b64(pngHeader(1000, 750), 10_000) // 1000*750/750 = 1000 tokens
	pdf := b64([]byte("%PDF-1.7\n"), 300<<10)
	cases := []struct {
		name     string
		prov     Provider
		body     string
		min, max int64
	}{
		{"anthropic text", Anthropic,
			`{"model":"claude-x","messages":[{"role":"user","content":"` + text + `"}]}`, 1000, 1030},
		{"cjk text counts a token per character", Anthropic,
			`{"messages":[{"role":"user","content":"` + strings.Repeat("日本語", 100) + `"}]}`, 300, 320},
		{"anthropic 5 MiB image of unknown size", Anthropic,
			`{"model":"claude-x","messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"` + bigJPEG + `"}}]}]}`,
			anthropicImageMax, anthropicImageMax + 40},
		{"anthropic png of known size", Anthropic,
			`{"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"` + png + `"}}]}]}`,
			1000, 1040},
		{"anthropic image by url", Anthropic,
			`{"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"https://example.com/cat.jpg"}}]}]}`,
			anthropicImageMax, anthropicImageMax + 40},
		{"anthropic pdf: three pages by size", Anthropic,
			`{"messages":[{"role":"user","content":[{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"` + pdf + `"}}]}]}`,
			3 * pdfTokensPerPage, 3*pdfTokensPerPage + 40},
		{"openai image high detail unknown size", OpenAI,
			`{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,` + bigJPEG + `"}}]}]}`,
			openAIImageMax, openAIImageMax + 40},
		{"openai image low detail after the url", OpenAI,
			`{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,` + bigJPEG + `","detail":"low"}}]}]}`,
			openAIImageLow, openAIImageLow + 40},
		{"openai image low detail before the url", OpenAI,
			`{"messages":[{"content":[{"type":"image_url","image_url":{"detail":"low","url":"data:image/jpeg;base64,` + bigJPEG + `"}}]}]}`,
			openAIImageLow, openAIImageLow + 40},
		{"openai png 1024x1024: 4 tiles", OpenAI,
			`{"messages":[{"content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,` + b64(pngHeader(1024, 1024), 100) + `"}}]}]}`,
			85 + 170*4, 85 + 170*4 + 40},
		{"openai responses input_image", OpenAI,
			`{"model":"gpt-4.1","input":[{"role":"user","content":[{"type":"input_image","image_url":"data:image/jpeg;base64,` + bigJPEG + `","detail":"low"}]}]}`,
			openAIImageLow, openAIImageLow + 40},
		{"text capped by the model's window", Anthropic,
			`{"model":"claude-x","messages":[{"role":"user","content":"` + strings.Repeat("a", 4_000_000) + `"}]}`,
			200_000, 200_000},
		{"unknown openai model: 128k window", OpenAI,
			`{"model":"my-model","prompt":"` + strings.Repeat("a", 4_000_000) + `"}`, 128_000, 128_000},
		{"not json: four bytes per token", OpenAI, strings.Repeat("x", 4000), 1000, 1000},
		{"empty", Anthropic, "", 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.prov.EstimateInputTokens([]byte(tc.body))
			if got < tc.min || got > tc.max {
				t.Fatalf("estimate %d, want [%d, %d]", got, tc.min, tc.max)
			}
		})
	}
}

func TestOpenAIImageTokens(t *testing.T) {
	// The examples of OpenAI's vision guide.
	for _, tc := range []struct{ w, h, want int64 }{
		{1024, 1024, 765},
		{2048, 4096, 1105},
		{512, 512, 255},
	} {
		if got := openAIImageTokens(tc.w, tc.h); got != tc.want {
			t.Errorf("%dx%d: %d, want %d", tc.w, tc.h, got, tc.want)
		}
	}
}

// FuzzEstimateInputTokens: any body gives a result in [0, the largest
// context window], without panicking.
func FuzzEstimateInputTokens(f *testing.F) {
	f.Add([]byte(`{"model":"claude-x","messages":[{"role":"user","content":"hi"}]}`), false)
	f.Add([]byte(`{"messages":[{"content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"}}]}]}`), true)
	f.Add([]byte(`{"a":"\"\\`), false)
	f.Add([]byte(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[{"detail":"low"}]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`), true)
	f.Add([]byte(`}}}]]]{"data":"data:,"}`), false)
	f.Fuzz(func(t *testing.T, body []byte, openai bool) {
		prov := Anthropic
		if openai {
			prov = OpenAI
		}
		got := prov.EstimateInputTokens(body)
		if got < 0 || got > 1_047_576 {
			t.Fatalf("estimate %d", got)
		}
		// Only strings (text, images, documents) cost more than nothing
		// per byte... and text costs at most one token per byte.
		if !strings.Contains(string(body), `"`) && got > int64(len(body)) {
			t.Fatalf("estimate %d for %d bytes without strings", got, len(body))
		}
	})
}

// Benchmark bodies: a typical 1 KiB prompt, a 50 KiB conversation and a
// request carrying a 5 MiB image.
func benchBodies() map[string][]byte {
	conv := make([]string, 0, 100)
	for range 100 {
		conv = append(conv, `{"role":"user","content":"`+strings.Repeat("some conversation text ", 22)+`"}`)
	}
	return map[string][]byte{
		"prompt1KiB": []byte(`{"model":"claude-sonnet-4-5","max_tokens":256,"messages":[{"role":"user","content":"` +
			strings.Repeat("benchmark prompt text ", 50) + `"}]}`),
		"chat50KiB": []byte(`{"model":"claude-sonnet-4-5","messages":[` + strings.Join(conv, ",") + `]}`),
		"image5MiB": []byte(`{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"` +
			b64([]byte("\xff\xd8\xff\xe0"), 5<<20) + `"}}]}]}`),
	}
}

// BenchmarkEstimate compares the JSON walk with the old bytes/4 rule.
func BenchmarkEstimate(b *testing.B) {
	bodies := benchBodies()
	for _, name := range []string{"prompt1KiB", "chat50KiB", "image5MiB"} {
		body := bodies[name]
		b.Run("bytes4/"+name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			var sink int64
			for b.Loop() {
				sink += int64(len(body) / 4)
			}
			_ = sink
		})
		b.Run("scan/"+name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			var sink int64
			for b.Loop() {
				sink += Anthropic.EstimateInputTokens(body)
			}
			_ = sink
		})
	}
}

// TestRequestModel: only the top-level "model" string names the model.
func TestRequestModel(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"model": "claude-x", "messages": []}`, "claude-x"},
		{` { "a" : [1, {"model":"n"}, "]}"] , "b":{"c":"}"}, "n":-1.5e3, "t":true, "model" : "top" }`, "top"},
		{`{"mod\u0065l":"escaped-key"}`, "escaped-key"},
		{`{"model":"m\"q"}`, `m"q`},
		{`{"messages":[{"model":"nested"}]}`, ""},
		{`{"model": 3}`, ""},
		{`{"model":"unterminated`, ""},
		{`{"a":[1,2}`, ""},
		{`["model","x"]`, ""},
		{``, ""},
	} {
		if got := RequestModel([]byte(c.in)); got != c.want {
			t.Errorf("RequestModel(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
