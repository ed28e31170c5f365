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
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
	"github.com/keypool-dev/keypool-operator/internal/usage"
)

// geminiQuota429 is the body Gemini answers a spent per-minute quota with.
const geminiQuota429 = `{
  "error": {
    "code": 429,
    "message": "You exceeded your current quota, please check your plan and billing details.",
    "status": "RESOURCE_EXHAUSTED",
    "details": [
      {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests", "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier", "quotaDimensions": {"location": "global", "model": "gemini-2.0-flash"}, "quotaValue": "15"}]},
      {"@type": "type.googleapis.com/google.rpc.Help", "links": [{"description": "Learn more about Gemini API quotas", "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]},
      {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "34s"}
    ]
  }
}`

// geminiBadKey is the answer to a wrong or deleted key: a 400, not a 401.
const geminiBadKey = `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com","metadata":{"service":"generativelanguage.googleapis.com"}},{"@type":"type.googleapis.com/google.rpc.LocalizedMessage","locale":"en-US","message":"API key not valid. Please pass a valid API key."}]}}`

func TestRetryDelay(t *testing.T) {
	for _, tc := range []struct {
		body string
		want time.Duration
		ok   bool
	}{
		{geminiQuota429, 34 * time.Second, true},
		{`{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1.5s"}]}}`, 1500 * time.Millisecond, true},
		{`{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"0s"}]}}`, 0, true},
		{`{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"Resource has been exhausted (e.g. check quota)."}}`, 0, false},
		{`{"error":{"code":429,"details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"soon"}]}}`, 0, false},
		{`{"error":{"code":429,"details":[{"@type":"type.googleapis.com/google.rpc.Help","retryDelay":"5s"}]}}`, 0, false},
		{`{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`, 0, false},
		{`not json`, 0, false},
	} {
		got, ok := RetryDelay([]byte(tc.body))
		if got != tc.want || ok != tc.ok {
			t.Errorf("RetryDelay(%.60s) = %v %v, want %v %v", tc.body, got, ok, tc.want, tc.ok)
		}
	}
}

func TestGeminiLimits(t *testing.T) {
	// Gemini sends no rate-limit headers; even OpenAI's names are not read,
	// only Retry-After (which the proxy fills from RetryInfo).
	h := openAIHeader()
	h.Set("retry-after", "34")
	hl := Gemini.ParseLimits(h, t0)
	for d, o := range hl.Dimensions {
		if o.Reported() {
			t.Errorf("dimension %v reported %+v", ratelimit.Dimension(d), o)
		}
	}
	if hl.RetryAfter != 34*time.Second {
		t.Errorf("RetryAfter = %v", hl.RetryAfter)
	}
}

func TestGeminiKeyAndHeaders(t *testing.T) {
	h := sent(t, Gemini, "AIza-key", &http.Request{Header: http.Header{}}).Header
	if h.Get("X-Goog-Api-Key") != "AIza-key" || len(h) != 1 {
		t.Errorf("key header %v", h)
	}
	for k, want := range map[string]bool{
		"X-Goog-Api-Key": false, "X-Goog-Api-Client": true, "Content-Type": true,
		"X-Goog-User-Project": false, "Authorization": false, "Api-Key": false,
	} {
		if Gemini.ForwardsRequestHeader(k) != want {
			t.Errorf("request header %s forwarded = %v", k, !want)
		}
	}
	if !Gemini.ForwardsResponseHeader("Server-Timing") || Gemini.ForwardsResponseHeader("Set-Cookie") {
		t.Error("response header filter")
	}
}

func TestGeminiWriteError(t *testing.T) {
	for _, tc := range []struct {
		e      Error
		status string
	}{
		{ErrRateLimited, "RESOURCE_EXHAUSTED"}, {ErrUnauthorized, "UNAUTHENTICATED"},
		{ErrNotFound, "NOT_FOUND"}, {ErrBadGateway, "UNAVAILABLE"}, {ErrRequestTimeout, "DEADLINE_EXCEEDED"},
	} {
		w := httptest.NewRecorder()
		Gemini.WriteError(w, tc.e, "msg")
		var e googleError
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || w.Code != tc.e.Status() ||
			e.Error.Code != tc.e.Status() || e.Error.Status != tc.status || e.Error.Message != "msg" {
			t.Errorf("%v: %d %s (%v)", tc.e, w.Code, w.Body, err)
		}
	}
}

func TestGeminiUsage(t *testing.T) {
	body := `{"candidates":[{"content":{"parts":[{"text":"Hello"}],"role":"model"},"finishReason":"STOP","index":0}],` +
		`"usageMetadata":{"promptTokenCount":1200,"candidatesTokenCount":42,"totalTokenCount":1242,"cachedContentTokenCount":1024,` +
		`"promptTokensDetails":[{"modality":"TEXT","tokenCount":1200}]},"modelVersion":"gemini-2.5-flash","responseId":"abc"}`
	s := usage.NewScanner(usage.FormatJSON, Gemini.Usage())
	_, _ = s.Write([]byte(body))
	if got := s.Tokens(); got != (usage.Tokens{Input: 1200, Output: 42, CacheRead: 1024}) {
		t.Errorf("generateContent usage %+v", got)
	}
	// The SSE stream (alt=sse) repeats a cumulative usageMetadata in every
	// chunk, with CRLF line ends: the last one is the count.
	stream := "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"He\"}],\"role\":\"model\"},\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":9,\"candidatesTokenCount\":2,\"totalTokenCount\":11}}\r\n\r\n" +
		"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"llo\"}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":9,\"candidatesTokenCount\":5,\"totalTokenCount\":14}}\r\n\r\n"
	s.Reset(usage.FormatSSE, Gemini.Usage())
	for i := 0; i < len(stream); i += 7 { // pieces split tokens and lines anywhere
		_, _ = s.Write([]byte(stream[i:min(i+7, len(stream))]))
	}
	if got := s.Tokens(); got != (usage.Tokens{Input: 9, Output: 5}) {
		t.Errorf("streamGenerateContent usage %+v", got)
	}
}

func TestGeminiEstimateImages(t *testing.T) {
	png := func(w, h uint32) string {
		b := make([]byte, 33)
		copy(b, "\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR")
		binary.BigEndian.PutUint32(b[16:], w)
		binary.BigEndian.PutUint32(b[20:], h)
		return base64.StdEncoding.EncodeToString(append(b, bytes.Repeat([]byte{0}, 64)...))
	}
	body := func(img string) []byte {
		return []byte(`{"contents":[{"role":"user","parts":[{"inlineData":{"mimeType":"image/png","data":"` + img + `"}}]}]}`)
	}
	text := Gemini.EstimateInputTokens(body(""))
	for _, tc := range []struct {
		w, h uint32
		want int64
	}{{300, 200, 258}, {1000, 1000, 258 * 4}, {768, 1600, 258 * 3}} {
		if got := Gemini.EstimateInputTokens(body(png(tc.w, tc.h))) - text; got != tc.want {
			t.Errorf("%dx%d image: %d tokens, want %d", tc.w, tc.h, got, tc.want)
		}
	}
	b := body(png(300, 200))
	if n := testing.AllocsPerRun(50, func() { Gemini.EstimateInputTokens(b) }); n != 0 {
		t.Errorf("estimate allocates %v times", n)
	}
}
