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
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestOpenAINonStreaming(t *testing.T) {
	f := newFixture(t, orgAConfig(Limits{RPM: 60, ITPM: 1000, OTPM: 200}))
	resp, body := mustDo(t)(f.postOpenAI(t, t.Context(), "k1", openaiBody(prompt40, false, false)))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	m := decode(t, string(body))
	if m["object"] != "chat.completion" || m["model"] != "gpt-test" || !strings.HasPrefix(m["id"].(string), "chatcmpl-") {
		t.Errorf("body %s", body)
	}
	choice := m["choices"].([]any)[0].(map[string]any)
	msg := choice["message"].(map[string]any)
	if choice["finish_reason"] != "stop" || msg["role"] != "assistant" || len(msg["content"].(string)) != 4*DefaultOutputTokens {
		t.Errorf("choice %v", choice)
	}
	for path, want := range map[string]int64{
		"usage.prompt_tokens": 10, "usage.completion_tokens": DefaultOutputTokens,
		"usage.total_tokens": 10 + DefaultOutputTokens, "usage.prompt_tokens_details.cached_tokens": 0,
	} {
		if got := num(t, m, path); got != want {
			t.Errorf("%s = %d, want %d", path, got, want)
		}
	}
	// Tokens are one bucket of ITPM+OTPM = 1200/min; 10 tokens refill in 0.5s.
	checkHeaders(t, resp.Header, map[string]string{
		"x-request-id":                   "",
		"openai-organization":            "orgA",
		"x-ratelimit-limit-requests":     "60",
		"x-ratelimit-remaining-requests": "59",
		"x-ratelimit-reset-requests":     "1s",
		"x-ratelimit-limit-tokens":       "1200",
		"x-ratelimit-remaining-tokens":   "1190",
		"x-ratelimit-reset-tokens":       "500ms",
	})
	// The completion is charged to the same bucket afterwards.
	resp, _ = mustDo(t)(f.postOpenAI(t, t.Context(), "k1", openaiBody(prompt40, false, false)))
	checkHeaders(t, resp.Header, map[string]string{
		"x-ratelimit-remaining-tokens": "1148",
		"x-ratelimit-reset-tokens":     "2.6s",
	})
}

func TestOpenAITPMOverridesAndLength(t *testing.T) {
	f := newFixture(t, orgAConfig(Limits{RPM: 10, ITPM: 1000, TPM: 50}))
	body := `{"model":"m","max_completion_tokens":3,"messages":[{"role":"system","content":"abcd"},{"role":"user","content":[{"type":"text","text":"abcd"}]}]}`
	resp, out := mustDo(t)(f.postOpenAI(t, t.Context(), "k1", body))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, out)
	}
	m := decode(t, string(out))
	if m["choices"].([]any)[0].(map[string]any)["finish_reason"] != "length" || num(t, m, "usage.completion_tokens") != 3 ||
		num(t, m, "usage.prompt_tokens") != 2 {
		t.Errorf("body %s", out)
	}
	checkHeaders(t, resp.Header, map[string]string{"x-ratelimit-limit-tokens": "50", "x-ratelimit-reset-requests": "6s"})
}

func TestOpenAIStreaming(t *testing.T) {
	for _, includeUsage := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "include_usage"}[includeUsage], func(t *testing.T) {
			f := newFixture(t, orgAConfig(Limits{RPM: 60, TPM: 10000}))
			resp, err := f.postOpenAI(t, t.Context(), "k1", openaiBody(prompt40, true, includeUsage))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") || resp.Header.Get("x-ratelimit-remaining-requests") != "59" {
				t.Fatalf("headers %v", resp.Header)
			}
			events := newSSEReader(resp.Body).all(t)
			if last := events[len(events)-1]; last.data != "[DONE]" || last.name != "" {
				t.Fatalf("last event %+v", last)
			}
			chunks := events[:len(events)-1]
			wantChunks := 1 + DefaultOutputTokens/DefaultStreamChunkTokens + 1
			if includeUsage {
				wantChunks++
			}
			if len(chunks) != wantChunks {
				t.Fatalf("%d chunks, want %d", len(chunks), wantChunks)
			}
			var text strings.Builder
			var finish any
			for i, ev := range chunks {
				m := decode(t, ev.data)
				if m["object"] != "chat.completion.chunk" || m["model"] != "gpt-test" || m["id"] != decode(t, chunks[0].data)["id"] {
					t.Errorf("chunk %d: %s", i, ev.data)
				}
				usage, hasUsage := m["usage"]
				isUsageChunk := includeUsage && i == len(chunks)-1
				switch {
				case !includeUsage && hasUsage:
					t.Errorf("chunk %d has usage without include_usage: %s", i, ev.data)
				case includeUsage && !isUsageChunk && (!hasUsage || usage != nil):
					t.Errorf("chunk %d: usage should be null: %s", i, ev.data)
				case isUsageChunk:
					if len(m["choices"].([]any)) != 0 || num(t, m, "usage.prompt_tokens") != 10 ||
						num(t, m, "usage.completion_tokens") != DefaultOutputTokens || num(t, m, "usage.total_tokens") != 10+DefaultOutputTokens {
						t.Errorf("usage chunk %s", ev.data)
					}
					continue
				}
				choice := m["choices"].([]any)[0].(map[string]any)
				delta := choice["delta"].(map[string]any)
				if i == 0 && delta["role"] != "assistant" {
					t.Errorf("first chunk %s", ev.data)
				}
				if c, ok := delta["content"].(string); ok {
					text.WriteString(c)
				}
				if choice["finish_reason"] != nil {
					finish = choice["finish_reason"]
				}
			}
			if finish != "stop" || text.Len() != 4*DefaultOutputTokens {
				t.Errorf("finish %v, %d bytes of text", finish, text.Len())
			}
			f.waitDone(t, 1)
			if k := f.p.Stats().Keys["k1"]; k.OK != 1 || k.OutputTokens != DefaultOutputTokens {
				t.Errorf("stats %+v", k)
			}
		})
	}
}

func TestOpenAIErrors(t *testing.T) {
	f := newFixture(t, orgAConfig(Limits{RPM: 2, TPM: 100}))
	post := func(t *testing.T, key, body string, status int) (*http.Response, map[string]any) {
		t.Helper()
		resp, out := mustDo(t)(f.postOpenAI(t, t.Context(), key, body))
		if resp.StatusCode != status {
			t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, out)
		}
		if status == http.StatusOK {
			return resp, nil
		}
		e := decode(t, string(out))["error"].(map[string]any)
		if _, ok := e["code"]; !ok || e["message"] == "" || e["param"] != nil {
			t.Errorf("error %v", e)
		}
		return resp, e
	}
	expect := func(t *testing.T, e map[string]any, errType string, code any) {
		t.Helper()
		if e["type"] != errType || e["code"] != code {
			t.Errorf("type %v code %v, want %s %v", e["type"], e["code"], errType, code)
		}
	}
	hi := openaiBody("hi", false, false)

	_, e := post(t, "bad", hi, 401)
	expect(t, e, "invalid_request_error", "invalid_api_key")
	_, e = post(t, "k1", `{"messages":[]}`, 400)
	expect(t, e, "invalid_request_error", nil)

	post(t, "k1", hi, 200) // tokens 100 -> 67 (1 in, 32 out)
	// 100 tokens need 33 more at 100/min: 19.8s.
	resp, e := post(t, "k1", openaiBody(strings.Repeat("x", 400), false, false), 429)
	expect(t, e, "tokens", "rate_limit_exceeded")
	checkHeaders(t, resp.Header, map[string]string{"retry-after": "20", "x-ratelimit-remaining-tokens": "67", "x-ratelimit-remaining-requests": "1"})

	post(t, "k1", hi, 200)
	resp, e = post(t, "k1", hi, 429)
	expect(t, e, "requests", "rate_limit_exceeded")
	checkHeaders(t, resp.Header, map[string]string{"retry-after": "30", "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1m0s"})

	// A prompt larger than the whole bucket never fits; it is refused even
	// when the bucket is full.
	f.clock.Advance(time.Minute)
	resp, e = post(t, "k1", openaiBody(strings.Repeat("x", 800), false, false), 429)
	expect(t, e, "tokens", "rate_limit_exceeded")
	checkHeaders(t, resp.Header, map[string]string{"retry-after": "1", "x-ratelimit-remaining-tokens": "100"})
}
