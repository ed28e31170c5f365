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

package main

import (
	"crypto/sha256"
	"fmt"
	"net/http"

	"github.com/keypool-dev/keypool-operator/internal/fakeprovider"
	"github.com/keypool-dev/keypool-operator/internal/keypool"
)

// modeNamed is modeLearned (no limits, no groups configured) with one
// named client, the whole demand its own: admission as one busy client
// sees it, Retry-After included.
const modeNamed = "named"

// namedClient is modeNamed's one client.
var namedClient = simClient{name: "claude-code", token: "tok-claude-code", demand: 1}

// namedAccess lets the one named client in.
func namedAccess(a *keypool.Access) {
	a.AllowUnauthenticated = false
	a.ClientTokenHashes = append(a.ClientTokenHashes, sha256.Sum256([]byte(namedClient.token)))
	a.ClientNames = append(a.ClientNames, namedClient.name)
}

func withNamedClient(h http.Header) { h.Set("X-Api-Key", namedClient.token) }

// shapeClaudeCode is the account set and workload of an independent
// simulation reported with issue 28: six keys in four organisations
// (RPM/ITPM/OTPM 60/60k/20k for two keys, 40/80k/18k for two, 120/100k/24k
// and 30/50k/16k for one each), and a Claude Code-like client: short,
// medium and long prompts, some streamed, every request with a large
// max_tokens. The fake admits output on max_tokens, as Anthropic documents.
const shapeClaudeCode = "claude-code"

// claudeCodeMaxTokens is the max_tokens of every request of the shape:
// large against the answers (Claude Code asks for far more than it gets),
// and below every organisation's OTPM, which the fake would otherwise
// refuse for ever.
const claudeCodeMaxTokens = 8192

// applyShape replaces the simulated accounts and workload with shape's;
// "" keeps the default.
func applyShape(shape string) error {
	switch shape {
	case "":
		return nil
	case shapeClaudeCode:
	default:
		return fmt.Errorf("unknown shape %q (want %q)", shape, shapeClaudeCode)
	}
	keys = []simKey{
		{value: "sk-a1", org: orgA, group: orgA, weight: 1},
		{value: "sk-a2", org: orgA, group: orgA, weight: 1},
		{value: "sk-b1", org: orgB, group: orgB, weight: 1},
		{value: "sk-b2", org: orgB, group: orgB, weight: 1},
		{value: "sk-c", org: orgC, weight: 1},
		{value: "sk-d", org: orgD, weight: 1},
	}
	limits = map[string]fakeprovider.Limits{
		orgA: {RPM: 60, ITPM: 60_000, OTPM: 20_000},
		orgB: {RPM: 40, ITPM: 80_000, OTPM: 18_000},
		orgC: {RPM: 120, ITPM: 100_000, OTPM: 24_000},
		orgD: {RPM: 30, ITPM: 50_000, OTPM: 16_000},
	}
	mix = []requestClass{
		{name: "short", share: 0.35, input: 400, output: 150, maxTokens: claudeCodeMaxTokens},
		{name: "short-stream", share: 0.25, input: 1_500, output: 400, stream: true, maxTokens: claudeCodeMaxTokens},
		{name: "medium-stream", share: 0.25, input: 6_000, output: 900, stream: true, maxTokens: claudeCodeMaxTokens},
		{name: "long-stream", share: 0.15, input: 20_000, output: 1_500, stream: true, maxTokens: claudeCodeMaxTokens},
	}
	admitOnMaxTokens = true
	return nil
}

// admitOnMaxTokens: the shape asks the fake to admit Anthropic output on
// max_tokens (the fake's default now; set explicitly, so that an older
// engine's fake, where it was off, is run alike).
var admitOnMaxTokens bool
