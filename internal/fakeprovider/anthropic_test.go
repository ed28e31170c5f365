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
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

func orgAConfig(l Limits) Config {
	return Config{
		Keys:   []Key{{Key: "k1", Org: "orgA"}, {Key: "k2", Org: "orgA"}, {Key: "k3", Org: "orgB"}},
		Limits: map[string]Limits{"orgA": l},
	}
}

// afterTheFact is cfg with output charged after the fact, for tests about
// headers and buckets rather than max_tokens admission (reserve_test.go).
func afterTheFact(cfg Config) Config {
	cfg.OutputAfterTheFact = true
	return cfg
}

// prompt40 is 40 bytes: an input estimate of 10 tokens.
var prompt40 = strings.Repeat("abcd", 10)

func TestAnthropicNonStreaming(t *testing.T) {
	f := newFixture(t, afterTheFact(orgAConfig(Limits{RPM: 50, ITPM: 1000, OTPM: 500})))
	resp, body := mustDo(t)(f.postAnthropic(t, t.Context(), "k1", anthropicBody(prompt40, 1024, false)))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content-type %q", ct)
	}
	m := decode(t, string(body))
	for field, want := range map[string]any{"type": "message", "role": "assistant", "model": "claude-test", "stop_reason": "end_turn", "stop_sequence": nil} {
		if m[field] != want {
			t.Errorf("%s = %v, want %v", field, m[field], want)
		}
	}
	if id, _ := m["id"].(string); !strings.HasPrefix(id, "msg_") {
		t.Errorf("id %q", id)
	}
	content := m["content"].([]any)
	block := content[0].(map[string]any)
	if len(content) != 1 || block["type"] != "text" || len(block["text"].(string)) != 4*DefaultOutputTokens {
		t.Errorf("content %v", content)
	}
	for path, want := range map[string]int64{
		"usage.input_tokens": 10, "usage.output_tokens": DefaultOutputTokens,
		"usage.cache_creation_input_tokens": 0, "usage.cache_read_input_tokens": 0,
	} {
		if got := num(t, m, path); got != want {
			t.Errorf("%s = %d, want %d", path, got, want)
		}
	}

	wantHeaders := map[string]string{
		"request-id":                                  "",
		"anthropic-organization-id":                   "orgA",
		"anthropic-ratelimit-requests-limit":          "50",
		"anthropic-ratelimit-requests-remaining":      "49",
		"anthropic-ratelimit-requests-reset":          "2030-01-02T03:04:07Z", // 1.2s to refill one, rounded up
		"anthropic-ratelimit-input-tokens-limit":      "1000",
		"anthropic-ratelimit-input-tokens-remaining":  "990",
		"anthropic-ratelimit-input-tokens-reset":      "2030-01-02T03:04:06Z", // 0.6s
		"anthropic-ratelimit-output-tokens-limit":     "500",
		"anthropic-ratelimit-output-tokens-remaining": "500", // output is charged after the headers
		"anthropic-ratelimit-output-tokens-reset":     "2030-01-02T03:04:05Z",
		"anthropic-ratelimit-tokens-limit":            "500", // the tighter of input and output
		"anthropic-ratelimit-tokens-remaining":        "500",
	}
	checkHeaders(t, resp.Header, wantHeaders)

	// The second request sees the first one's output charged.
	resp, _ = mustDo(t)(f.postAnthropic(t, t.Context(), "k2", anthropicBody(prompt40, 1024, false)))
	checkHeaders(t, resp.Header, map[string]string{
		"anthropic-ratelimit-requests-remaining":      "48",
		"anthropic-ratelimit-input-tokens-remaining":  "980",
		"anthropic-ratelimit-output-tokens-remaining": "468",
		"anthropic-ratelimit-tokens-remaining":        "468",
	})
	st := f.p.Stats()
	if k := st.Keys["k1"]; k.Requests != 1 || k.OK != 1 || k.InputTokens != 10 || k.OutputTokens != DefaultOutputTokens || k.Org != "orgA" {
		t.Errorf("stats k1 %+v", k)
	}
	if st.Total.Requests != 2 || st.Total.OK != 2 {
		t.Errorf("total %+v", st.Total)
	}
}

// checkHeaders compares headers; an empty want only requires presence.
func checkHeaders(t *testing.T, h http.Header, want map[string]string) {
	t.Helper()
	for name, v := range want {
		got := h.Get(name)
		if got == "" || (v != "" && got != v) {
			t.Errorf("header %s = %q, want %q", name, got, v)
		}
	}
}

func TestAnthropicStreaming(t *testing.T) {
	f := newFixture(t, afterTheFact(orgAConfig(Limits{RPM: 50, ITPM: 1000, OTPM: 500})))
	resp, err := f.postAnthropic(t, t.Context(), "k1", anthropicBody(prompt40, 1024, true))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("content-type %q", ct)
	}
	if resp.Header.Get("anthropic-ratelimit-requests-remaining") != "49" {
		t.Errorf("stream lacks rate-limit headers: %v", resp.Header)
	}
	events := newSSEReader(resp.Body).all(t)
	var names []string
	var text strings.Builder
	for _, ev := range events {
		names = append(names, ev.name)
		m := decode(t, ev.data)
		if m["type"] != ev.name {
			t.Errorf("event %s carries type %v", ev.name, m["type"])
		}
		switch ev.name {
		case "message_start":
			if num(t, m, "message.usage.input_tokens") != 10 || num(t, m, "message.usage.output_tokens") != 1 {
				t.Errorf("message_start usage: %s", ev.data)
			}
			if msg := m["message"].(map[string]any); msg["stop_reason"] != nil || len(msg["content"].([]any)) != 0 {
				t.Errorf("message_start message: %s", ev.data)
			}
		case "content_block_delta":
			d := m["delta"].(map[string]any)
			if d["type"] != "text_delta" {
				t.Errorf("delta type %v", d["type"])
			}
			text.WriteString(d["text"].(string))
		case "message_delta":
			if num(t, m, "usage.output_tokens") != DefaultOutputTokens || num(t, m, "usage.input_tokens") != 10 {
				t.Errorf("message_delta usage: %s", ev.data)
			}
			if m["delta"].(map[string]any)["stop_reason"] != "end_turn" {
				t.Errorf("message_delta: %s", ev.data)
			}
		}
	}
	want := "message_start content_block_start ping " +
		strings.Repeat("content_block_delta ", DefaultOutputTokens/DefaultStreamChunkTokens) +
		"content_block_stop message_delta message_stop"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("events\n got %s\nwant %s", got, want)
	}
	if text.Len() != 4*DefaultOutputTokens {
		t.Errorf("streamed %d bytes of text", text.Len())
	}
	f.waitDone(t, 1)
	if k := f.p.Stats().Keys["k1"]; k.OK != 1 || k.OutputTokens != DefaultOutputTokens || k.InputTokens != 10 {
		t.Errorf("stats %+v", k)
	}
}

func TestOutputDirectiveAndMaxTokens(t *testing.T) {
	f := newFixture(t, Config{Keys: []Key{{Key: "k", Org: "o"}}, OutputTokens: 20})
	cases := []struct {
		name      string
		body      string
		wantOut   int64
		wantReson string
	}{
		{"default", anthropicBody("hi", 1000, false), 20, "end_turn"},
		{"directive", anthropicBody("say [[output_tokens=3]] words", 1000, false), 3, "end_turn"},
		{"cut by max_tokens", anthropicBody("[[output_tokens=100]]", 5, false), 5, "max_tokens"},
		{"default cut", anthropicBody("hi", 7, false), 7, "max_tokens"},
		{"only the last user message counts", `{"model":"m","max_tokens":100,"messages":[
			{"role":"user","content":"[[output_tokens=2]]"},{"role":"assistant","content":"ok"},
			{"role":"user","content":[{"type":"text","text":"again"}]}]}`, 20, "end_turn"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := mustDo(t)(f.postAnthropic(t, t.Context(), "k", tc.body))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			m := decode(t, string(body))
			if got := num(t, m, "usage.output_tokens"); got != tc.wantOut {
				t.Errorf("output_tokens %d, want %d", got, tc.wantOut)
			}
			if m["stop_reason"] != tc.wantReson {
				t.Errorf("stop_reason %v, want %s", m["stop_reason"], tc.wantReson)
			}
		})
	}
}

func TestInputEstimateCountsSystemAndBlocks(t *testing.T) {
	f := newFixture(t, Config{Keys: []Key{{Key: "k", Org: "o"}}})
	// 8 bytes of system, 16 in a text block, 8 nested in a tool result: 32 bytes, 8 tokens.
	body := `{"model":"m","max_tokens":10,"system":[{"type":"text","text":"abcdefgh"}],"messages":[
		{"role":"user","content":[{"type":"text","text":"abcdefghijklmnop"},
		{"type":"tool_result","tool_use_id":"x","content":"abcdefgh"}]}]}`
	_, out := mustDo(t)(f.postAnthropic(t, t.Context(), "k", body))
	if got := num(t, decode(t, string(out)), "usage.input_tokens"); got != 8 {
		t.Errorf("input_tokens %d, want 8", got)
	}
}

func TestAnthropicErrors(t *testing.T) {
	f := newFixture(t, orgAConfig(Limits{RPM: 5}))
	cases := []struct {
		name, key, body string
		status          int
		errType         string
	}{
		{"unknown key", "nope", anthropicBody("hi", 10, false), 401, "authentication_error"},
		{"missing key", "", anthropicBody("hi", 10, false), 401, "authentication_error"},
		{"no max_tokens", "k1", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, 400, "invalid_request_error"},
		{"bad json", "k1", `{"model":`, 400, "invalid_request_error"},
		{"no messages", "k1", `{"model":"m","max_tokens":5,"messages":[]}`, 400, "invalid_request_error"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := mustDo(t)(f.postAnthropic(t, t.Context(), tc.key, tc.body))
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			m := decode(t, string(body))
			e, _ := m["error"].(map[string]any)
			if m["type"] != "error" || e["type"] != tc.errType || e["message"] == "" {
				t.Errorf("body %s", body)
			}
			if resp.Header.Get("request-id") == "" || m["request_id"] != resp.Header.Get("request-id") {
				t.Errorf("request-id header %q, body %v", resp.Header.Get("request-id"), m["request_id"])
			}
		})
	}
	if st := f.p.Stats(); st.Unauthenticated != 2 || st.Keys["k1"].Errors != 3 {
		t.Errorf("stats %+v", st)
	}

	resp, body := mustDo(t)(f.client().Get(f.srv.URL + "/v1/other"))
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "not_found_error") {
		t.Errorf("unknown path: %d %s", resp.StatusCode, body)
	}
	resp, _ = mustDo(t)(f.client().Get(f.srv.URL + "/v1/messages"))
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /v1/messages: %d", resp.StatusCode)
	}
}

func TestRateLimitRetryAfterAndRefill(t *testing.T) {
	f := newFixture(t, orgAConfig(Limits{RPM: 6}))
	post := func() *http.Response {
		resp, _ := mustDo(t)(f.postAnthropic(t, t.Context(), "k1", anthropicBody("hi", 10, false)))
		return resp
	}
	for i := range 6 {
		if resp := post(); resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: status %d", i, resp.StatusCode)
		}
	}
	resp, body := mustDo(t)(f.postAnthropic(t, t.Context(), "k1", anthropicBody("hi", 10, false)))
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("7th request: status %d", resp.StatusCode)
	}
	m := decode(t, string(body))
	if e := m["error"].(map[string]any); e["type"] != "rate_limit_error" || !strings.Contains(e["message"].(string), "6 requests per minute") {
		t.Errorf("429 body %s", body)
	}
	// One request refills in 60s/6 = 10s.
	checkHeaders(t, resp.Header, map[string]string{
		"retry-after":                            "10",
		"anthropic-ratelimit-requests-limit":     "6",
		"anthropic-ratelimit-requests-remaining": "0",
		"anthropic-ratelimit-requests-reset":     "2030-01-02T03:05:05Z",
	})

	f.clock.Advance(9 * time.Second)
	if resp := post(); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("retry-after") != "1" {
		t.Fatalf("after 9s: status %d retry-after %q", resp.StatusCode, resp.Header.Get("retry-after"))
	}
	f.clock.Advance(time.Second)
	if resp := post(); resp.StatusCode != http.StatusOK {
		t.Fatalf("after 10s: status %d", resp.StatusCode)
	}
	if resp := post(); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("refill gave more than one request: %d", resp.StatusCode)
	}
	// A minute refills the whole bucket, and no more.
	f.clock.Advance(time.Hour)
	for i := range 7 {
		want := http.StatusOK
		if i == 6 {
			want = http.StatusTooManyRequests
		}
		if resp := post(); resp.StatusCode != want {
			t.Fatalf("after refill, request %d: status %d", i, resp.StatusCode)
		}
	}
	if k := f.p.Stats().Keys["k1"]; k.OK != 13 || k.RateLimited != 4 {
		t.Errorf("stats %+v", k)
	}
}

func TestSharedOrgBucket(t *testing.T) {
	cfg := orgAConfig(Limits{RPM: 2})
	cfg.Limits["orgB"] = Limits{RPM: 1}
	f := newFixture(t, cfg)
	for i, tc := range []struct {
		key  string
		want int
	}{{"k1", 200}, {"k2", 200}, {"k1", 429}, {"k2", 429}, {"k3", 200}, {"k3", 429}} {
		resp, _ := mustDo(t)(f.postAnthropic(t, t.Context(), tc.key, anthropicBody("hi", 10, false)))
		if resp.StatusCode != tc.want {
			t.Errorf("step %d (%s): status %d, want %d", i, tc.key, resp.StatusCode, tc.want)
		}
	}
}

func TestTokenLimits(t *testing.T) {
	t.Run("input", func(t *testing.T) {
		f := newFixture(t, orgAConfig(Limits{ITPM: 100}))
		prompt := strings.Repeat("x", 400) // 100 tokens: the whole bucket
		resp, _ := mustDo(t)(f.postAnthropic(t, t.Context(), "k1", anthropicBody(prompt, 10, false)))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		resp, body := mustDo(t)(f.postAnthropic(t, t.Context(), "k1", anthropicBody(prompt, 10, false)))
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("retry-after") != "60" ||
			!strings.Contains(string(body), "input tokens per minute") {
			t.Fatalf("status %d retry-after %q: %s", resp.StatusCode, resp.Header.Get("retry-after"), body)
		}
		// A small prompt fits sooner: 1 token takes 0.6s.
		resp, _ = mustDo(t)(f.postAnthropic(t, t.Context(), "k1", anthropicBody("abcd", 10, false)))
		if resp.Header.Get("retry-after") != "1" {
			t.Errorf("small prompt retry-after %q", resp.Header.Get("retry-after"))
		}
	})
	t.Run("output is charged after the response", func(t *testing.T) {
		f := newFixture(t, afterTheFact(orgAConfig(Limits{OTPM: 10})))
		// The bucket has 10 but the response uses 32: let in, then the bucket is at -22.
		resp, _ := mustDo(t)(f.postAnthropic(t, t.Context(), "k1", anthropicBody("hi", 1000, false)))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		resp, body := mustDo(t)(f.postAnthropic(t, t.Context(), "k1", anthropicBody("hi", 1000, false)))
		// Back to 1 token from -22 at 10/min: 23 * 6s = 138s.
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("retry-after") != "138" ||
			!strings.Contains(string(body), "output tokens per minute") {
			t.Fatalf("status %d retry-after %q: %s", resp.StatusCode, resp.Header.Get("retry-after"), body)
		}
		if got := resp.Header.Get("anthropic-ratelimit-output-tokens-remaining"); got != "0" {
			t.Errorf("remaining %q", got)
		}
		f.clock.Advance(138 * time.Second)
		if resp, _ := mustDo(t)(f.postAnthropic(t, t.Context(), "k1", anthropicBody("hi", 1000, false))); resp.StatusCode != http.StatusOK {
			t.Errorf("after 138s: status %d", resp.StatusCode)
		}
	})
}

func TestStartEmpty(t *testing.T) {
	cfg := orgAConfig(Limits{RPM: 60})
	cfg.StartEmpty = true
	f := newFixture(t, cfg)
	resp, _ := mustDo(t)(f.postAnthropic(t, t.Context(), "k1", anthropicBody("hi", 10, false)))
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("retry-after") != "1" {
		t.Fatalf("status %d retry-after %q", resp.StatusCode, resp.Header.Get("retry-after"))
	}
	f.clock.Advance(time.Second)
	if resp, _ := mustDo(t)(f.postAnthropic(t, t.Context(), "k1", anthropicBody("hi", 10, false))); resp.StatusCode != http.StatusOK {
		t.Fatalf("after 1s: status %d", resp.StatusCode)
	}
}

func TestUnlimitedOrgSendsNoLimitHeaders(t *testing.T) {
	f := newFixture(t, orgAConfig(Limits{RPM: 1}))
	for range 3 {
		resp, _ := mustDo(t)(f.postAnthropic(t, t.Context(), "k3", anthropicBody("hi", 10, false)))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		for name := range resp.Header {
			if strings.HasPrefix(strings.ToLower(name), "anthropic-ratelimit") {
				t.Errorf("unlimited org got %s", name)
			}
		}
	}
}

func TestConcurrentAdmissionIsExact(t *testing.T) {
	// The clock is frozen, so exactly RPM requests may pass however they race.
	f := newFixture(t, orgAConfig(Limits{RPM: 100, ITPM: 1_000_000, OTPM: 1_000_000}))
	const n = 400
	codes := make(chan int, n)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for i := range n {
		key := []string{"k1", "k2"}[i%2]
		go func() {
			resp, err := f.postAnthropic(t, ctx, key, anthropicBody("hello", 10, i%3 == 0))
			if err != nil {
				codes <- -1
				return
			}
			_, _ = newSSEReader(resp.Body).next() // drain a little; Close drains the rest
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	count := map[int]int{}
	for range n {
		count[<-codes]++
	}
	if count[200] != 100 || count[429] != 300 {
		t.Fatalf("codes %v", count)
	}
	f.waitDone(t, n)
	st := f.p.Stats()
	if st.Total.Requests != n || st.Total.OK+st.Total.RateLimited+st.Total.Errors != n || st.Total.RateLimited != 300 {
		t.Errorf("stats %+v", st.Total)
	}
}
