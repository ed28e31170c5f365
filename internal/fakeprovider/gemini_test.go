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

package fakeprovider

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/genai"
)

// geminiClient is the official SDK's Gemini API client for the fake, with
// its own retries off.
func geminiClient(t *testing.T, f *fixture, key string) *genai.Client {
	t.Helper()
	one := int32(1)
	c, err := genai.NewClient(t.Context(), &genai.ClientConfig{
		APIKey:      key,
		Backend:     genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: f.srv.URL + "/", RetryOptions: &genai.HTTPRetryOptions{Attempts: &one}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestGeminiSDK proves the official SDK decodes the fake's responses, its
// SSE stream (CRLF-separated, usageMetadata in every chunk) and its errors.
func TestGeminiSDK(t *testing.T) {
	f := newFixture(t, orgAConfig(Limits{RPM: 2}))
	client := geminiClient(t, f, "k1")
	cfg := &genai.GenerateContentConfig{MaxOutputTokens: 1024}
	resp, err := client.Models.GenerateContent(t.Context(), "gemini-2.5-flash", genai.Text(prompt40), cfg)
	if err != nil {
		t.Fatal(err)
	}
	u := resp.UsageMetadata
	if u == nil || u.PromptTokenCount != 10 || u.CandidatesTokenCount != DefaultOutputTokens || u.TotalTokenCount != 10+DefaultOutputTokens ||
		len(resp.Text()) != 4*DefaultOutputTokens || resp.Candidates[0].FinishReason != genai.FinishReasonStop || resp.ModelVersion != "gemini-2.5-flash" {
		t.Errorf("response %+v usage %+v", resp, u)
	}

	var text strings.Builder
	chunks := 0
	var last *genai.GenerateContentResponse
	for chunk, err := range client.Models.GenerateContentStream(t.Context(), "gemini-2.5-flash", genai.Text(prompt40), cfg) {
		if err != nil {
			t.Fatal(err)
		}
		chunks++
		text.WriteString(chunk.Text())
		last = chunk
	}
	if chunks != DefaultOutputTokens/DefaultStreamChunkTokens || text.Len() != 4*DefaultOutputTokens ||
		last.UsageMetadata.CandidatesTokenCount != DefaultOutputTokens || last.Candidates[0].FinishReason != genai.FinishReasonStop {
		t.Errorf("stream: %d chunks, %d bytes, last %+v", chunks, text.Len(), last)
	}

	// The RPM is spent: 429 RESOURCE_EXHAUSTED with RetryInfo and no
	// Retry-After header.
	_, err = client.Models.GenerateContent(t.Context(), "gemini-2.5-flash", genai.Text(prompt40), cfg)
	var apiErr genai.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != http.StatusTooManyRequests || apiErr.Status != "RESOURCE_EXHAUSTED" || !hasRetryInfo(apiErr.Details) {
		t.Fatalf("want 429 RESOURCE_EXHAUSTED with RetryInfo, got %#v", err)
	}

	// A wrong key: 400 INVALID_ARGUMENT, reason API_KEY_INVALID.
	_, err = geminiClient(t, f, "nope").Models.GenerateContent(t.Context(), "gemini-2.5-flash", genai.Text(prompt40), cfg)
	if !errors.As(err, &apiErr) || apiErr.Code != http.StatusBadRequest || apiErr.Status != "INVALID_ARGUMENT" ||
		!strings.Contains(apiErr.Message, "API key not valid") {
		t.Errorf("want 400 API_KEY_INVALID, got %#v", err)
	}
}

func hasRetryInfo(details []map[string]any) bool {
	for _, d := range details {
		if d["@type"] == "type.googleapis.com/google.rpc.RetryInfo" && strings.HasSuffix(d["retryDelay"].(string), "s") {
			return true
		}
	}
	return false
}

// TestGeminiWire checks what the SDK does not show: no rate-limit or
// Retry-After header on a 429, the key query parameter, CRLF events, the
// JSON-array stream without alt=sse, and the model list.
func TestGeminiWire(t *testing.T) {
	f := newFixture(t, orgAConfig(Limits{RPM: 3}))
	body := `{"contents":[{"role":"user","parts":[{"text":"` + prompt40 + `"}]}]}`
	do := func(method, path, key string) (*http.Response, []byte) {
		req, err := http.NewRequestWithContext(t.Context(), method, f.srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if key != "" {
			req.Header.Set("X-Goog-Api-Key", key)
		}
		return mustDo(t)(f.client().Do(req))
	}
	resp, b := do("POST", "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", "k1")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") ||
		!strings.HasSuffix(string(b), "}\r\n\r\n") || strings.Contains(string(b), "}\n\n") {
		t.Errorf("sse stream %d %q", resp.StatusCode, b)
	}
	resp, b = do("POST", "/v1beta/models/gemini-2.5-flash:streamGenerateContent?key=k1", "")
	if resp.StatusCode != 200 || !strings.HasPrefix(string(b), "[{") || !strings.HasSuffix(string(b), "}]") {
		t.Errorf("array stream with the key parameter: %d %s", resp.StatusCode, b)
	}
	resp, b = do("POST", "/v1/models/gemini-2.5-flash:generateContent", "k1")
	if resp.StatusCode != 200 || num(t, decode(t, string(b)), "usageMetadata.promptTokenCount") != 10 {
		t.Errorf("v1 generateContent %d %s", resp.StatusCode, b)
	}
	for k := range resp.Header {
		if strings.Contains(strings.ToLower(k), "ratelimit") {
			t.Errorf("rate-limit header %s sent", k)
		}
	}
	resp, b = do("POST", "/v1beta/models/gemini-2.5-flash:generateContent", "k1")
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "" || !strings.Contains(string(b), `"retryDelay":"`) {
		t.Errorf("429 %v %s", resp.Header, b)
	}
	if resp, b = do("POST", "/v1beta/models/gemini-2.5-flash:predict", "k1"); resp.StatusCode != 404 || !strings.Contains(string(b), `"NOT_FOUND"`) {
		t.Errorf("unknown method %d %s", resp.StatusCode, b)
	}
	if resp, b = do("GET", "/v1beta/models", "k1"); resp.StatusCode != 200 || !strings.Contains(string(b), `"models"`) {
		t.Errorf("model list %d %s", resp.StatusCode, b)
	}
	if resp, b = do("GET", "/v1beta/models", "nope"); resp.StatusCode != 400 || !strings.Contains(string(b), "API_KEY_INVALID") {
		t.Errorf("model list, wrong key %d %s", resp.StatusCode, b)
	}
}
