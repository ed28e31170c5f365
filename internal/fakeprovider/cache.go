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
	"bytes"
	"encoding/json"
	"sync"
	"time"
)

// Prompt caching, as the providers document it, so that a pool's routing
// shows in the usage a simulation reads:
//
//   - Anthropic (platform.claude.com/docs/en/build-with-claude/prompt-caching):
//     caching is opt-in per block with cache_control breakpoints on tools,
//     system and message blocks; the prefix is tools, then system, then
//     messages, up to and including a breakpoint; a prefix shorter than the
//     model's minimum (1024 tokens for most models) is never cached; a
//     lookup also checks earlier block boundaries, about 20 blocks back from
//     each breakpoint; entries live 5 minutes ("ttl":"1h" for an hour),
//     refreshed whenever they are read; usage splits the prompt into
//     cache_read_input_tokens, cache_creation_input_tokens and input_tokens
//     (after the cached and written parts). Caches are not shared between
//     organisations.
//   - Anthropic rate limits (platform.claude.com/docs/en/api/rate-limits,
//     "cache-aware ITPM"): for most models only uncached input tokens
//     (input_tokens and cache_creation_input_tokens) count towards ITPM;
//     cache_read_input_tokens do not.
//   - OpenAI (platform.openai.com/docs/guides/prompt-caching): caching is
//     automatic for prompts of 1024 tokens or more; hits are exact prefix
//     matches in increments of 128 tokens, reported as
//     usage.prompt_tokens_details.cached_tokens (prompt_tokens still
//     includes them); caching does not change rate limits, so the whole
//     prompt counts towards TPM.

// DefaultPromptCacheTTL is how long a cached prefix lives after its last use
// when Config.PromptCacheTTL is zero: both providers' default.
const DefaultPromptCacheTTL = 5 * time.Minute

// extendedCacheTTL is Anthropic's cache_control "ttl":"1h".
const extendedCacheTTL = time.Hour

const (
	// minCacheTokens is the shortest prefix either API caches (Anthropic's
	// minimum for most models, OpenAI's threshold).
	minCacheTokens = 1024
	// anthropicLookback is how many block boundaries before a breakpoint
	// Anthropic checks for an earlier cache entry.
	anthropicLookback = 20
	// openaiCacheStep is the granularity of OpenAI cache hits, in tokens.
	openaiCacheStep = 128
	// maxCacheEntries bounds one organisation's cache; the fake only needs
	// what a test or simulation keeps warm.
	maxCacheEntries = 1 << 16
	// bytesPerToken is the fake tokenizer's ratio (see estimateInput).
	bytesPerToken = 4
)

// cachePoint is a block boundary: the hash of the prompt up to it and the
// text bytes before it.
type cachePoint struct {
	hash       uint64
	bytes      int64
	breakpoint bool          // Anthropic: the block carries cache_control
	ttl        time.Duration // of the breakpoint
}

func (pt *cachePoint) tokens() int64 { return pt.bytes / bytesPerToken }

// cachePlan is where a prompt may hit or write the cache.
type cachePlan struct {
	points []cachePoint
	// auto: every point is written (OpenAI); otherwise only breakpoints.
	auto bool
}

// cacheUse is what one request reads from and writes to its
// organisation's cache, in tokens.
type cacheUse struct {
	read, created int64
	plan          *cachePlan
	hit           int // index of the point read; -1 for none
}

// promptCache is one organisation's cached prefixes, by hash, with their
// expiry.
type promptCache struct {
	mu      sync.Mutex
	entries map[uint64]time.Time
}

// lookup finds the longest cached prefix of plan at now and how much a
// successful request would write. It changes nothing: reads are refreshed
// and writes made by commit, once the request is admitted.
func (pc *promptCache) lookup(now time.Time, plan *cachePlan) cacheUse {
	u := cacheUse{plan: plan, hit: -1}
	if plan == nil || len(plan.points) == 0 {
		return u
	}
	pc.mu.Lock()
	if plan.auto {
		for i := len(plan.points) - 1; i >= 0; i-- {
			if pc.live(now, plan.points[i].hash) {
				u.hit = i
				break
			}
		}
	} else {
		for bp := range plan.points {
			if !plan.points[bp].breakpoint {
				continue
			}
			for j := bp; j > u.hit && j > bp-anthropicLookback; j-- {
				if pc.live(now, plan.points[j].hash) {
					u.hit = j
					break
				}
			}
		}
	}
	pc.mu.Unlock()
	if u.hit >= 0 {
		u.read = plan.points[u.hit].tokens()
	}
	// The write reaches the last point that will be cached.
	for i := len(plan.points) - 1; i > u.hit; i-- {
		if pt := &plan.points[i]; plan.auto || pt.breakpoint {
			u.created = max(pt.tokens()-u.read, 0)
			break
		}
	}
	return u
}

// live reports whether hash is cached at now; the caller holds pc.mu.
func (pc *promptCache) live(now time.Time, hash uint64) bool {
	exp, ok := pc.entries[hash]
	return ok && now.Before(exp)
}

// commit refreshes the prefix u read and writes the ones it created.
func (pc *promptCache) commit(now time.Time, u *cacheUse, ttl time.Duration) {
	if u.plan == nil || u.created == 0 && u.read == 0 {
		return
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.entries == nil {
		pc.entries = make(map[uint64]time.Time)
	}
	for i := range u.plan.points {
		pt := &u.plan.points[i]
		if i != u.hit && !u.plan.auto && !pt.breakpoint {
			continue
		}
		if _, ok := pc.entries[pt.hash]; !ok && len(pc.entries) >= maxCacheEntries {
			pc.sweep(now)
			if len(pc.entries) >= maxCacheEntries {
				continue
			}
		}
		pc.entries[pt.hash] = now.Add(max(ttl, pt.ttl))
	}
}

// sweep drops expired entries; the caller holds pc.mu.
func (pc *promptCache) sweep(now time.Time) {
	for h, exp := range pc.entries {
		if !now.Before(exp) {
			delete(pc.entries, h)
		}
	}
}

// prefixHash is FNV-1a over the prompt as it streams past, so that every
// block boundary has the hash of everything before it.
type prefixHash struct {
	h     uint64
	bytes int64 // text bytes, which the fake counts as tokens
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func newPrefixHash(model string) prefixHash {
	ph := prefixHash{h: fnvOffset}
	ph.mix([]byte(model)) // caches are per model
	return ph
}

// mix hashes b without counting it as text (roles, separators, raw JSON).
func (ph *prefixHash) mix(b []byte) {
	for _, c := range b {
		ph.h = (ph.h ^ uint64(c)) * fnvPrime
	}
	ph.h = (ph.h ^ 0xff) * fnvPrime // a separator, so "ab"+"c" != "a"+"bc"
}

// text hashes and counts s.
func (ph *prefixHash) text(s string) {
	for i := 0; i < len(s); i++ {
		ph.h = (ph.h ^ uint64(s[i])) * fnvPrime
	}
	ph.bytes += int64(len(s))
}

func (ph *prefixHash) point(bp bool, ttl time.Duration) cachePoint {
	return cachePoint{hash: ph.h, bytes: ph.bytes, breakpoint: bp, ttl: ttl}
}

// cacheBlock is a content block as far as caching needs it.
type cacheBlock struct {
	Type         string          `json:"type"`
	Text         string          `json:"text"`
	Content      json.RawMessage `json:"content"`
	CacheControl *struct {
		Type string `json:"type"`
		TTL  string `json:"ttl"`
	} `json:"cache_control"`
}

// ttl is the block's breakpoint lifetime, 0 when it is no breakpoint.
func (b *cacheBlock) ttl() time.Duration {
	switch {
	case b.CacheControl == nil || b.CacheControl.Type != "ephemeral":
		return 0
	case b.CacheControl.TTL == "1h":
		return extendedCacheTTL
	}
	return DefaultPromptCacheTTL
}

// contentPoints appends one point per block of a content value (a string
// is one block, which cannot carry cache_control). Nested content (tool
// results) is hashed raw and counted as the token estimate counts it.
func contentPoints(ph *prefixHash, raw json.RawMessage, points []cachePoint) []cachePoint {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return points
	}
	if raw[0] == '"' {
		// A string is one text block to the API: it caches alike.
		var s string
		if json.Unmarshal(raw, &s) == nil {
			ph.mix([]byte("text"))
			ph.text(s)
		}
		return append(points, ph.point(false, 0))
	}
	var blocks []cacheBlock
	if raw[0] != '[' || json.Unmarshal(raw, &blocks) != nil {
		return points
	}
	for i := range blocks {
		b := &blocks[i]
		ph.mix([]byte(b.Type))
		ph.text(b.Text)
		if len(b.Content) > 0 {
			ph.mix(b.Content)
			ph.bytes += textBytes(b.Content)
		}
		ttl := b.ttl()
		points = append(points, ph.point(ttl > 0, ttl))
	}
	return points
}

// anthropicCachePlan lays out a Messages request's block boundaries in
// cache order: tools, system, messages. Without any cache_control in the
// body there is nothing to plan.
func anthropicCachePlan(body []byte, model string, tools, system json.RawMessage, msgs []message) *cachePlan {
	if !bytes.Contains(body, []byte(`"cache_control"`)) {
		return nil
	}
	ph := newPrefixHash(model)
	ph.mix(tools) // the fake does not count tool definitions as tokens
	plan := &cachePlan{}
	plan.points = contentPoints(&ph, system, plan.points)
	for _, m := range msgs {
		ph.mix([]byte(m.Role))
		plan.points = contentPoints(&ph, m.Content, plan.points)
	}
	// A breakpoint on a prefix below the minimum caches nothing.
	for i := range plan.points {
		if pt := &plan.points[i]; pt.breakpoint && pt.tokens() < minCacheTokens {
			pt.breakpoint = false
		}
	}
	return plan
}

// openaiCachePlan puts a point at every 128-token boundary from 1024 tokens
// on, the granularity of OpenAI's automatic cache. Shorter prompts are not
// cached.
func openaiCachePlan(model string, input int64, msgs []message) *cachePlan {
	if input < minCacheTokens {
		return nil
	}
	ph := newPrefixHash(model)
	plan := &cachePlan{auto: true}
	next := int64(minCacheTokens * bytesPerToken)
	for _, m := range msgs {
		ph.mix([]byte(m.Role))
		for _, s := range messageTexts(m.Content) {
			for ph.bytes+int64(len(s)) >= next {
				cut := next - ph.bytes
				ph.text(s[:cut])
				s = s[cut:]
				plan.points = append(plan.points, ph.point(false, 0))
				next += openaiCacheStep * bytesPerToken
			}
			ph.text(s)
		}
	}
	return plan
}

// messageTexts returns the text of a content value, a string or parts.
func messageTexts(raw json.RawMessage) []string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil
		}
		return []string{s}
	}
	var blocks []block
	if json.Unmarshal(raw, &blocks) != nil {
		return nil
	}
	out := make([]string, 0, len(blocks))
	for _, b := range blocks {
		out = append(out, b.Text)
	}
	return out
}
