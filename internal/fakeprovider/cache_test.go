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
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The tests below check the fake's prompt cache against the rules cache.go
// cites from the providers' documentation.

// tokensOf is text that the fake counts as n tokens; seed makes texts of
// equal length differ.
func tokensOf(n int, seed string) string {
	s := strings.Repeat(seed+" ", n*4/(len(seed)+1)+1)
	return s[:n*4]
}

// cachedBlock is a text block with an ephemeral cache_control breakpoint.
func cachedBlock(text, ttl string) map[string]any {
	cc := map[string]any{"type": "ephemeral"}
	if ttl != "" {
		cc["ttl"] = ttl
	}
	return map[string]any{"type": "text", "text": text, "cache_control": cc}
}

// cachedSystemBody is a Messages request whose system prompt is one block
// with a breakpoint, followed by a plain user message.
func cachedSystemBody(system, user, ttl string, stream bool) string {
	b, _ := json.Marshal(map[string]any{
		"model": "claude-test", "max_tokens": 16, "stream": stream,
		"system":   []any{cachedBlock(system, ttl)},
		"messages": []any{map[string]any{"role": "user", "content": user}},
	})
	return string(b)
}

// anthropicCacheUsage sends body with key and returns the response's usage.
func (f *fixture) anthropicCacheUsage(t *testing.T, key, body string) (status int, input, created, read int64) {
	t.Helper()
	resp, raw := mustDo(t)(f.postAnthropic(t, context.Background(), key, body))
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, 0, 0, 0
	}
	m := decode(t, string(raw))
	return resp.StatusCode, num(t, m, "usage.input_tokens"), num(t, m, "usage.cache_creation_input_tokens"),
		num(t, m, "usage.cache_read_input_tokens")
}

func cacheConfig() Config {
	return Config{Keys: []Key{{Key: "a1", Org: "orgA"}, {Key: "a2", Org: "orgA"}, {Key: "b1", Org: "orgB"}}}
}

func TestAnthropicCacheWriteThenRead(t *testing.T) {
	f := newFixture(t, cacheConfig())
	system, user := tokensOf(2000, "sys"), tokensOf(100, "hello")
	body := cachedSystemBody(system, user, "", false)

	_, in, created, read := f.anthropicCacheUsage(t, "a1", body)
	if created != 2000 || read != 0 || in != 100 {
		t.Fatalf("first request: input %d, created %d, read %d; want 100, 2000, 0", in, created, read)
	}
	_, in, created, read = f.anthropicCacheUsage(t, "a1", body)
	if created != 0 || read != 2000 || in != 100 {
		t.Fatalf("second request: input %d, created %d, read %d; want 100, 0, 2000", in, created, read)
	}
	st := f.p.Stats().Keys["a1"]
	if st.CacheReadTokens != 2000 || st.CacheCreationTokens != 2000 {
		t.Fatalf("stats: read %d, created %d; want 2000 and 2000", st.CacheReadTokens, st.CacheCreationTokens)
	}
	// Charged against the limits: the first prompt in full, the second
	// without its cache read.
	if st.InputTokens != 2100+100 {
		t.Fatalf("charged input %d, want %d", st.InputTokens, 2200)
	}
}

func TestAnthropicCacheIsPerOrganisation(t *testing.T) {
	f := newFixture(t, cacheConfig())
	body := cachedSystemBody(tokensOf(1500, "sys"), "hi there", "", false)
	f.anthropicCacheUsage(t, "a1", body)

	if _, _, created, read := f.anthropicCacheUsage(t, "a2", body); read != 1500 || created != 0 {
		t.Fatalf("another key of the same organisation: read %d, created %d; want a hit of 1500", read, created)
	}
	if _, _, created, read := f.anthropicCacheUsage(t, "b1", body); read != 0 || created != 1500 {
		t.Fatalf("another organisation: read %d, created %d; want a miss that writes 1500", read, created)
	}
}

func TestAnthropicCacheNeedsBreakpointAndMinimum(t *testing.T) {
	f := newFixture(t, cacheConfig())
	// Without cache_control nothing is cached, however long the prompt.
	plain := anthropicBody(tokensOf(3000, "plain"), 16, false)
	for range 2 {
		if _, in, created, read := f.anthropicCacheUsage(t, "a1", plain); created != 0 || read != 0 || in != 3000 {
			t.Fatalf("no breakpoint: input %d, created %d, read %d; want 3000, 0, 0", in, created, read)
		}
	}
	// A breakpoint on a prefix below 1024 tokens caches nothing.
	short := cachedSystemBody(tokensOf(1000, "short"), "question", "", false)
	for range 2 {
		if _, _, created, read := f.anthropicCacheUsage(t, "a1", short); created != 0 || read != 0 {
			t.Fatalf("prefix below the minimum: created %d, read %d; want nothing cached", created, read)
		}
	}
}

func TestAnthropicCacheTTLRefreshedByReads(t *testing.T) {
	f := newFixture(t, cacheConfig())
	body := cachedSystemBody(tokensOf(1200, "ttl"), "question", "", false)
	f.anthropicCacheUsage(t, "a1", body)

	f.clock.Advance(4 * time.Minute)
	if _, _, _, read := f.anthropicCacheUsage(t, "a1", body); read != 1200 {
		t.Fatalf("4 minutes later: read %d, want 1200", read)
	}
	// 8 minutes after the write but 4 after the read, which refreshed it.
	f.clock.Advance(4 * time.Minute)
	if _, _, _, read := f.anthropicCacheUsage(t, "a1", body); read != 1200 {
		t.Fatalf("4 minutes after a read: read %d, want 1200", read)
	}
	f.clock.Advance(5*time.Minute + time.Second)
	if _, _, created, read := f.anthropicCacheUsage(t, "a1", body); read != 0 || created != 1200 {
		t.Fatalf("5 minutes unused: read %d, created %d; want expired and written again", read, created)
	}
}

func TestAnthropicCacheOneHourTTL(t *testing.T) {
	f := newFixture(t, cacheConfig())
	body := cachedSystemBody(tokensOf(1200, "hour"), "question", "1h", false)
	f.anthropicCacheUsage(t, "a1", body)
	f.clock.Advance(50 * time.Minute)
	if _, _, _, read := f.anthropicCacheUsage(t, "a1", body); read != 1200 {
		t.Fatalf(`"ttl":"1h" after 50 minutes: read %d, want 1200`, read)
	}
}

// conversation is a multi-turn Messages request with the usual breakpoint
// on the last user message.
func conversation(system string, turns int) string {
	msgs := []any{}
	for i := range turns {
		user := map[string]any{"type": "text", "text": tokensOf(200, "user"+strconv.Itoa(i))}
		if i == turns-1 {
			user = cachedBlock(user["text"].(string), "")
		}
		msgs = append(msgs, map[string]any{"role": "user", "content": []any{user}})
		if i < turns-1 {
			msgs = append(msgs, map[string]any{"role": "assistant", "content": tokensOf(100, "reply"+strconv.Itoa(i))})
		}
	}
	b, _ := json.Marshal(map[string]any{"model": "claude-test", "max_tokens": 16, "system": system, "messages": msgs})
	return string(b)
}

func TestAnthropicCacheConversationReadsEarlierTurns(t *testing.T) {
	f := newFixture(t, cacheConfig())
	system := tokensOf(1000, "sys")
	// Turn 1: 1200 tokens up to the breakpoint, all written.
	if _, in, created, read := f.anthropicCacheUsage(t, "a1", conversation(system, 1)); created != 1200 || read != 0 || in != 0 {
		t.Fatalf("turn 1: input %d, created %d, read %d; want 0, 1200, 0", in, created, read)
	}
	// Turn 2: the breakpoint moved to the new user message; the lookback
	// finds turn 1's entry two blocks earlier.
	if _, in, created, read := f.anthropicCacheUsage(t, "a1", conversation(system, 2)); read != 1200 || created != 300 || in != 0 {
		t.Fatalf("turn 2: input %d, created %d, read %d; want 0, 300, 1200", in, created, read)
	}
	if _, _, created, read := f.anthropicCacheUsage(t, "a1", conversation(system, 3)); read != 1500 || created != 300 {
		t.Fatalf("turn 3: created %d, read %d; want 300, 1500", created, read)
	}
	// A conversation whose history differs early on shares only the system
	// prompt, which was never a breakpoint: no hit.
	other := strings.Replace(conversation(system, 3), "user0", "userX", 1)
	if _, _, _, read := f.anthropicCacheUsage(t, "a1", other); read != 0 {
		t.Fatalf("different history: read %d, want 0", read)
	}
}

func TestAnthropicCacheReadsDoNotCountTowardsITPM(t *testing.T) {
	cfg := cacheConfig()
	cfg.Limits = map[string]Limits{"orgA": {ITPM: 3000}}
	f := newFixture(t, cfg)
	body := cachedSystemBody(tokensOf(2000, "itpm"), tokensOf(100, "q"), "", false)

	resp, _ := mustDo(t)(f.postAnthropic(t, context.Background(), "a1", body))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("first request: status %d", resp.StatusCode)
	}
	if got := resp.Header.Get("anthropic-ratelimit-input-tokens-remaining"); got != "900" {
		t.Fatalf("after a 2100-token write: remaining %s, want 900", got)
	}
	// An uncached 2100-token prompt would not fit in the 900 left; the
	// cached one costs its 100 uncached tokens.
	resp, raw := mustDo(t)(f.postAnthropic(t, context.Background(), "a1", body))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("cached request: status %d: %s", resp.StatusCode, raw)
	}
	if got := resp.Header.Get("anthropic-ratelimit-input-tokens-remaining"); got != "800" {
		t.Fatalf("after a cache read: remaining %s, want 800", got)
	}
	uncached := cachedSystemBody(tokensOf(2000, "other"), tokensOf(100, "q"), "", false)
	if resp, _ := mustDo(t)(f.postAnthropic(t, context.Background(), "a1", uncached)); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("uncached 2100-token prompt with 800 left: status %d, want 429", resp.StatusCode)
	}
}

func TestAnthropicCacheRefusedRequestWritesNothing(t *testing.T) {
	cfg := cacheConfig()
	cfg.Limits = map[string]Limits{"orgA": {RPM: 1}}
	f := newFixture(t, cfg)
	f.anthropicCacheUsage(t, "a1", anthropicBody("use up the minute", 16, false))
	body := cachedSystemBody(tokensOf(1500, "refused"), "q", "", false)
	if status, _, _, _ := f.anthropicCacheUsage(t, "a1", body); status != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429", status)
	}
	f.clock.Advance(time.Minute)
	if _, _, created, read := f.anthropicCacheUsage(t, "a1", body); read != 0 || created != 1500 {
		t.Fatalf("after a refused request: read %d, created %d; want a fresh write", read, created)
	}
}

func TestAnthropicCacheInStreamMessageStart(t *testing.T) {
	f := newFixture(t, cacheConfig())
	body := cachedSystemBody(tokensOf(1100, "stream"), tokensOf(50, "q"), "", true)
	f.anthropicCacheUsage(t, "a1", cachedSystemBody(tokensOf(1100, "stream"), tokensOf(50, "q"), "", false))

	resp, err := f.postAnthropic(t, context.Background(), "a1", body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := newSSEReader(resp.Body).all(t)
	start := decode(t, events[0].data)
	if events[0].name != "message_start" || num(t, start, "message.usage.cache_read_input_tokens") != 1100 ||
		num(t, start, "message.usage.input_tokens") != 50 || num(t, start, "message.usage.cache_creation_input_tokens") != 0 {
		t.Fatalf("message_start: %s", events[0].data)
	}
	var delta map[string]any
	for _, ev := range events {
		if ev.name == "message_delta" {
			delta = decode(t, ev.data)
		}
	}
	if delta == nil || num(t, delta, "usage.cache_read_input_tokens") != 1100 {
		t.Fatalf("message_delta usage lacks the cache read: %v", delta)
	}
}

// openaiCacheUsage sends body with key and returns prompt and cached tokens
// and the remaining-tokens header.
func (f *fixture) openaiCacheUsage(t *testing.T, key, body string) (prompt, cached int64, remaining string) {
	t.Helper()
	resp, raw := mustDo(t)(f.postOpenAI(t, context.Background(), key, body))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, raw)
	}
	m := decode(t, string(raw))
	return num(t, m, "usage.prompt_tokens"), num(t, m, "usage.prompt_tokens_details.cached_tokens"),
		resp.Header.Get("x-ratelimit-remaining-tokens")
}

func TestOpenAIAutomaticPrefixCache(t *testing.T) {
	cfg := cacheConfig()
	cfg.Limits = map[string]Limits{"orgA": {TPM: 100_000}}
	cfg.OutputTokens = 10
	f := newFixture(t, cfg)
	prefix := tokensOf(1300, "shared")

	// Prompts under 1024 tokens are never cached.
	short := openaiBody(tokensOf(1000, "short"), false, false)
	f.openaiCacheUsage(t, "a1", short)
	if _, cached, _ := f.openaiCacheUsage(t, "a1", short); cached != 0 {
		t.Fatalf("1000-token prompt: cached %d, want 0", cached)
	}

	first := openaiBody(prefix+tokensOf(50, "one"), false, false)
	if prompt, cached, _ := f.openaiCacheUsage(t, "a1", first); prompt != 1350 || cached != 0 {
		t.Fatalf("first: prompt %d, cached %d; want 1350, 0", prompt, cached)
	}
	// Same 1300-token prefix, another ending: the hit is the longest
	// cached 128-token step, 1280 tokens, on any key of the organisation;
	// prompt_tokens still counts it, and so does TPM.
	second := openaiBody(prefix+tokensOf(50, "two"), false, false)
	_, _, before := f.openaiCacheUsage(t, "a2", openaiBody("probe", false, false))
	prompt, cached, after := f.openaiCacheUsage(t, "a2", second)
	if prompt != 1350 || cached != 1280 {
		t.Fatalf("second: prompt %d, cached %d; want 1350, 1280", prompt, cached)
	}
	b, _ := strconv.Atoi(before)
	a, _ := strconv.Atoi(after)
	if b-a != 1350+10 {
		t.Fatalf("TPM charge of the cached request: %d, want the whole prompt and output, %d", b-a, 1360)
	}
	if _, cached, _ := f.openaiCacheUsage(t, "b1", second); cached != 0 {
		t.Fatalf("another organisation: cached %d, want 0", cached)
	}
}

func TestOpenAICachedTokensInStreamUsage(t *testing.T) {
	f := newFixture(t, cacheConfig())
	prompt := tokensOf(1100, "stream")
	f.openaiCacheUsage(t, "a1", openaiBody(prompt, false, false))
	resp, err := f.postOpenAI(t, context.Background(), "a1", openaiBody(prompt, true, true))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := newSSEReader(resp.Body).all(t)
	last := decode(t, events[len(events)-2].data) // before [DONE]
	if got := num(t, last, "usage.prompt_tokens_details.cached_tokens"); got != 1024 {
		t.Fatalf("stream usage cached_tokens %d, want 1024", got)
	}
}

func TestPromptCacheCanBeTurnedOff(t *testing.T) {
	cfg := cacheConfig()
	cfg.PromptCacheTTL = -1
	f := newFixture(t, cfg)
	body := cachedSystemBody(tokensOf(1500, "off"), "q", "", false)
	for range 2 {
		if _, _, created, read := f.anthropicCacheUsage(t, "a1", body); created != 0 || read != 0 {
			t.Fatalf("caching off: created %d, read %d", created, read)
		}
	}
}

func TestAnthropicCacheStringEqualsTextBlock(t *testing.T) {
	f := newFixture(t, cacheConfig())
	system := tokensOf(1100, "same")
	f.anthropicCacheUsage(t, "a1", cachedSystemBody(system, "first", "", false))
	// The same prefix with the system prompt as a plain string, the
	// breakpoint on a later message: the API renders a string as one text
	// block and the marker is not content, so the earlier write is found.
	b, _ := json.Marshal(map[string]any{
		"model": "claude-test", "max_tokens": 16,
		"system": system,
		"messages": []any{
			map[string]any{"role": "user", "content": "first"},
			map[string]any{"role": "assistant", "content": "answer"},
			map[string]any{"role": "user", "content": []any{cachedBlock(tokensOf(20, "second"), "")}},
		},
	})
	if _, _, _, read := f.anthropicCacheUsage(t, "a1", string(b)); read != 1100 {
		t.Fatalf("read %d, want the 1100-token system prompt written before", read)
	}
}
