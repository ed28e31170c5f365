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
	"sync/atomic"
)

// KeyStats counts what the provider saw from one key.
type KeyStats struct {
	// Org is the key's organisation.
	Org string `json:"org,omitempty"`
	// Requests is every API request made with the key.
	Requests int64 `json:"requests"`
	// OK is requests answered 2xx.
	OK int64 `json:"ok"`
	// RateLimited is requests answered 429.
	RateLimited int64 `json:"rate_limited"`
	// Errors is every other outcome: error statuses, resets, aborted or
	// cancelled responses.
	Errors int64 `json:"errors"`
	// InputTokens is input tokens charged against the limits.
	InputTokens int64 `json:"input_tokens"`
	// OutputTokens is output tokens charged against the limits.
	OutputTokens int64 `json:"output_tokens"`
	// CacheReadTokens is prompt tokens read from the organisation's prompt
	// cache (Anthropic cache_read_input_tokens, OpenAI cached_tokens).
	// Anthropic's are not in InputTokens, since they do not count against
	// ITPM; OpenAI's are.
	CacheReadTokens int64 `json:"cache_read_tokens"`
	// CacheCreationTokens is prompt tokens written to the prompt cache
	// (Anthropic reports them as cache_creation_input_tokens; OpenAI writes
	// its automatic cache without reporting it).
	CacheCreationTokens int64 `json:"cache_creation_tokens"`
}

// Stats is a snapshot of the provider's counters.
type Stats struct {
	// Keys maps each configured key to its counters.
	Keys map[string]KeyStats `json:"keys"`
	// Total sums Keys.
	Total KeyStats `json:"total"`
	// Unauthenticated counts requests with a missing or unknown key.
	Unauthenticated int64 `json:"unauthenticated"`
	// HeldStreams is the number of streams waiting at the hold gate now.
	HeldStreams int64 `json:"held_streams"`
	// TLSHandshakes counts the full TLS handshakes of a provider served
	// with TLSConfig: connection reuse shows as few of them.
	TLSHandshakes int64 `json:"tls_handshakes"`
}

// counters are one key's live stats. Each key has its own, updated with
// atomics, so concurrent requests on different keys share nothing.
type counters struct {
	requests, ok, rateLimited, errors, input, output atomic.Int64
	cacheRead, cacheCreation                         atomic.Int64
}

// record counts a finished request by its status; 0 means the response
// never completed (reset, abort, client gone).
func (c *counters) record(status int) {
	switch {
	case status >= 200 && status < 300:
		c.ok.Add(1)
	case status == 429:
		c.rateLimited.Add(1)
	default:
		c.errors.Add(1)
	}
}

// Stats returns a snapshot of the counters. Counters of one key are read
// one by one, so under load they may be a few requests apart.
func (p *Provider) Stats() Stats {
	s := Stats{
		Keys:            make(map[string]KeyStats, len(p.keys)),
		Unauthenticated: p.unauthenticated.Load(),
		HeldStreams:     p.held.Load(),
		TLSHandshakes:   p.handshakes.Load(),
	}
	for key, ks := range p.keys {
		c := &ks.stats
		k := KeyStats{
			Org:          ks.org.name,
			Requests:     c.requests.Load(),
			OK:           c.ok.Load(),
			RateLimited:  c.rateLimited.Load(),
			Errors:       c.errors.Load(),
			InputTokens:  c.input.Load(),
			OutputTokens: c.output.Load(),
			// Cache counters of the key's requests, like InputTokens.
			CacheReadTokens:     c.cacheRead.Load(),
			CacheCreationTokens: c.cacheCreation.Load(),
		}
		s.Keys[key] = k
		s.Total.Requests += k.Requests
		s.Total.OK += k.OK
		s.Total.RateLimited += k.RateLimited
		s.Total.Errors += k.Errors
		s.Total.InputTokens += k.InputTokens
		s.Total.OutputTokens += k.OutputTokens
		s.Total.CacheReadTokens += k.CacheReadTokens
		s.Total.CacheCreationTokens += k.CacheCreationTokens
	}
	return s
}

// ResetStats zeroes all counters, e.g. to discard a benchmark's warm-up.
// Limits and buckets are not touched.
func (p *Provider) ResetStats() {
	for _, ks := range p.keys {
		c := &ks.stats
		for _, v := range []*atomic.Int64{&c.requests, &c.ok, &c.rateLimited, &c.errors, &c.input, &c.output,
			&c.cacheRead, &c.cacheCreation} {
			v.Store(0)
		}
	}
	p.unauthenticated.Store(0)
}
