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
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/fakeprovider"
)

// cacheResult is one prompt-cache run, from the fake provider's counters
// over the measured window.
type cacheResult struct {
	Scenario string  `json:"scenario"`
	Config   string  `json:"config"`
	Demand   float64 `json:"demand"`
	Seed     uint64  `json:"seed"`
	// OKPerMin is requests the provider served (2xx) per minute.
	OKPerMin float64 `json:"ok_per_min"`
	// PromptPerMin is prompt tokens served per minute: uncached input,
	// cache writes and cache reads.
	PromptPerMin float64 `json:"prompt_tokens_per_min"`
	// Upstream429Share is the provider's 429s over all its requests.
	Upstream429Share float64 `json:"upstream_429_share"`
	// CacheReadShare is cache-read tokens over all prompt tokens served.
	CacheReadShare float64 `json:"cache_read_share"`
	// CacheWriteShare is cache-write tokens over all prompt tokens served.
	CacheWriteShare float64 `json:"cache_write_share"`
	// TurnsOK and TurnsLost are the client's turns sent in the window that
	// succeeded, and that failed (after retries), ending their conversation.
	TurnsOK   int64 `json:"turns_ok"`
	TurnsLost int64 `json:"turns_lost"`
	// Affinity decisions of the whole run (zero without affinity).
	AffinityHits   int64 `json:"affinity_hits"`
	AffinityMoves  int64 `json:"affinity_moves"`
	AffinityMisses int64 `json:"affinity_misses"`
}

func newCacheResult(sc cacheScenario, measure time.Duration, d fakeprovider.KeyStats) *cacheResult {
	r := &cacheResult{Scenario: sc.name(), Config: sc.config(), Demand: sc.demand, Seed: sc.seed}
	minutes := measure.Minutes()
	// InputTokens is what the provider charged against ITPM: uncached input
	// and cache writes, not cache reads.
	prompt := d.InputTokens + d.CacheReadTokens
	r.OKPerMin = float64(d.OK) / minutes
	r.PromptPerMin = float64(prompt) / minutes
	if d.Requests > 0 {
		r.Upstream429Share = float64(d.RateLimited) / float64(d.Requests)
	}
	if prompt > 0 {
		r.CacheReadShare = float64(d.CacheReadTokens) / float64(prompt)
		r.CacheWriteShare = float64(d.CacheCreationTokens) / float64(prompt)
	}
	return r
}

// totalDiff is the provider's totals over the window.
func totalDiff(before, after fakeprovider.Stats) fakeprovider.KeyStats {
	a, b := after.Total, before.Total
	return fakeprovider.KeyStats{
		Requests: a.Requests - b.Requests, OK: a.OK - b.OK, RateLimited: a.RateLimited - b.RateLimited,
		Errors: a.Errors - b.Errors, InputTokens: a.InputTokens - b.InputTokens, OutputTokens: a.OutputTokens - b.OutputTokens,
		CacheReadTokens: a.CacheReadTokens - b.CacheReadTokens, CacheCreationTokens: a.CacheCreationTokens - b.CacheCreationTokens,
	}
}

// cacheReport is what a `-cache` run writes.
type cacheReport struct {
	Generated  time.Time `json:"generated"`
	Scale      float64   `json:"scale"`
	WarmSim    string    `json:"warm_simulated"`
	MeasureSim string    `json:"measure_simulated"`
	DrainSim   string    `json:"drain_simulated"`
	// Capacity is what the limits allow when every turn is cached (demand
	// is offered against it); UncachedCapacity when nothing is.
	Capacity         float64 `json:"cached_capacity_requests_per_minute"`
	UncachedCapacity float64 `json:"uncached_capacity_requests_per_minute"`
	MeanTurns        float64 `json:"mean_turns"`
	MeanPrompt       float64 `json:"mean_prompt_tokens"`
	// MeanCharged is the mean prompt tokens a perfectly cached turn counts
	// against the input limit.
	MeanCharged float64        `json:"mean_charged_prompt_tokens"`
	Results     []*cacheResult `json:"results"`
}

func (r *cacheReport) write(jsonPath, mdPath string) error {
	return writeResults(r, r.markdown(), jsonPath, mdPath)
}

// cacheAgg is one configuration at one demand over its seeds.
type cacheAgg struct {
	config                     string
	demand                     float64
	n                          int
	ok, okMin, okMax           float64
	prompt, share, write, t429 float64
	shareMin, shareMax         float64
	turnsOK, turnsLost         int64
	hits, moves, misses        int64
}

// aggregate averages the results per configuration and demand, in the
// order they first appear.
func (r *cacheReport) aggregate() []*cacheAgg {
	var out []*cacheAgg
	find := func(cfg string, d float64) *cacheAgg {
		for _, a := range out {
			if a.config == cfg && a.demand == d {
				return a
			}
		}
		a := &cacheAgg{config: cfg, demand: d, okMin: 1e18, shareMin: 2}
		out = append(out, a)
		return a
	}
	for _, res := range r.Results {
		a := find(res.Config, res.Demand)
		a.n++
		a.ok += res.OKPerMin
		a.okMin, a.okMax = min(a.okMin, res.OKPerMin), max(a.okMax, res.OKPerMin)
		a.prompt += res.PromptPerMin
		a.share += res.CacheReadShare
		a.shareMin, a.shareMax = min(a.shareMin, res.CacheReadShare), max(a.shareMax, res.CacheReadShare)
		a.write += res.CacheWriteShare
		a.t429 += res.Upstream429Share
		a.turnsOK += res.TurnsOK
		a.turnsLost += res.TurnsLost
		a.hits += res.AffinityHits
		a.moves += res.AffinityMoves
		a.misses += res.AffinityMisses
	}
	for _, a := range out {
		n := float64(a.n)
		a.ok, a.prompt, a.share, a.write, a.t429 = a.ok/n, a.prompt/n, a.share/n, a.write/n, a.t429/n
	}
	return out
}

func sharePct(x float64) string { return fmt.Sprintf("%.1f%%", x*100) }

// markdown renders the report: the table, then the comparisons the targets
// ask for, every figure computed from the results above it.
func (r *cacheReport) markdown() string {
	var sb strings.Builder
	aggs := r.aggregate()
	seeds := 0
	for _, a := range aggs {
		seeds = max(seeds, a.n)
	}
	fmt.Fprintf(&sb, "# Prompt-cache affinity simulation\n\n")
	fmt.Fprintf(&sb, "Generated by `go run ./cmd/sim -cache` on %s (scale %.0fx; warm-up %s, measured %s, "+
		"drain %s, simulated; %d seed(s) per cell; "+
		"every configuration of a seed sees the same conversations at the same times).\n\n",
		r.Generated.UTC().Format(time.RFC3339), r.Scale, r.WarmSim, r.MeasureSim, r.DrainSim, seeds)
	sb.WriteString(r.docsSection(aggs))
	return sb.String()
}

// docsSection is the part meant for bench/performance.md.
func (r *cacheReport) docsSection(aggs []*cacheAgg) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "Workload: conversations of %d-%d turns (mean %.1f) under %d applications' %d-token system prompts, "+
		"each turn resending the conversation (mean prompt %.0f tokens) with `cache_control` on the system prompt "+
		"and on the last user message, half of them streamed, against the six keys of `make sim` and the fake provider's "+
		"per-organisation prompt cache (5-minute TTL). Demand is offered as a share of %.1f requests/min, "+
		"what the keys' limits allow when every turn reads its history from the cache "+
		"(%.0f prompt tokens a turn counted against the input limit); with nothing cached they allow %.1f. "+
		"Cache-read share is cache-read tokens over all prompt tokens the provider served in the measured window; "+
		"*single-key* is one key per client, each conversation on its client's key. Figures are means over seeds.\n\n",
		convMinTurns, convMaxTurns, r.MeanTurns, convApps, convSystemTokens, r.MeanPrompt, r.Capacity, r.MeanCharged,
		r.UncachedCapacity)
	sb.WriteString("| configuration | demand | OK/min (min-max) | prompt tokens/min | upstream 429s | " +
		"cache-read share (min-max) | cache-write share | turns ok / lost | affinity hits / moves / misses |\n")
	sb.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	for _, a := range aggs {
		fmt.Fprintf(&sb, "| %s | %.0f%% | %.1f (%.1f-%.1f) | %.0f | %s | %s (%s-%s) | %s | %d / %d | %d / %d / %d |\n",
			a.config, a.demand*100, a.ok, a.okMin, a.okMax, a.prompt, sharePct(a.t429), sharePct(a.share), sharePct(a.shareMin),
			sharePct(a.shareMax), sharePct(a.write), a.turnsOK, a.turnsLost, a.hits, a.moves, a.misses)
	}
	sb.WriteString("\nAgainst the target (with affinity, a cache-read share of at least 90% of the single-key clients' " +
		"while serving within 5% of the same strategy without affinity), comparing runs of the same seed. " +
		"Where neither configuration lost a turn " +
		"and demand is within capacity, both served everything offered, and requests/min measure the offered load and its timing " +
		"in the window, not capacity; the capacity half of the target is judged where demand exceeds capacity or turns were lost.\n\n")
	for _, c := range r.comparisons() {
		binding := c.demand > 1 || c.lost > 0
		verdict := "meets"
		if c.shareMean < 0.9 || (binding && c.okMean < 0.95) {
			verdict = "misses"
		}
		capacity := "capacity not binding: every turn served either way"
		if binding {
			capacity = "capacity binding"
		}
		fmt.Fprintf(&sb, "- %.0f%% demand, %s: with affinity the cache-read share was %s (%s without affinity, "+
			"%s for single-key clients), %.1f%% of the single-key share (lowest seed %.1f%%); it served %.1f%% of the "+
			"requests served without affinity (lowest seed %.1f%%; %s) — %s the target.\n",
			c.demand*100, c.strategy, sharePct(c.aff), sharePct(c.plain), sharePct(c.single),
			c.shareMean*100, c.shareMin*100, c.okMean*100, c.okMin*100, capacity, verdict)
	}
	return sb.String()
}

// comparison is one strategy at one demand with and without affinity,
// against single-key clients, from runs paired by seed.
type comparison struct {
	demand              float64
	strategy            string
	aff, plain, single  float64 // mean cache-read shares
	shareMean, shareMin float64 // affine share / single-key share
	okMean, okMin       float64 // affine OK/min / non-affine OK/min
	lost                int64   // turns lost by either configuration
}

func (r *cacheReport) comparisons() []comparison {
	type cell struct {
		demand float64
		seed   uint64
	}
	by := map[string]map[cell]*cacheResult{}
	var demands []float64
	var seeds []uint64
	for _, res := range r.Results {
		if by[res.Config] == nil {
			by[res.Config] = map[cell]*cacheResult{}
		}
		by[res.Config][cell{res.Demand, res.Seed}] = res
		if !slices.Contains(demands, res.Demand) {
			demands = append(demands, res.Demand)
		}
		if !slices.Contains(seeds, res.Seed) {
			seeds = append(seeds, res.Seed)
		}
	}
	var out []comparison
	for _, d := range demands {
		for _, strategy := range []string{"least-loaded", "round-robin"} {
			c := comparison{demand: d, strategy: strategy, shareMin: 1e9, okMin: 1e9}
			n := 0
			for _, seed := range seeds {
				k := cell{d, seed}
				s, p, a := by["single-key"][k], by[strategy][k], by[strategy+"+affinity"][k]
				if s == nil || p == nil || a == nil || s.CacheReadShare == 0 || p.OKPerMin == 0 {
					continue
				}
				n++
				c.aff, c.plain, c.single = c.aff+a.CacheReadShare, c.plain+p.CacheReadShare, c.single+s.CacheReadShare
				sr, or := a.CacheReadShare/s.CacheReadShare, a.OKPerMin/p.OKPerMin
				c.shareMean, c.okMean = c.shareMean+sr, c.okMean+or
				c.shareMin, c.okMin = min(c.shareMin, sr), min(c.okMin, or)
				c.lost += a.TurnsLost + p.TurnsLost
			}
			if n == 0 {
				continue
			}
			f := float64(n)
			c.aff, c.plain, c.single, c.shareMean, c.okMean = c.aff/f, c.plain/f, c.single/f, c.shareMean/f, c.okMean/f
			out = append(out, c)
		}
	}
	return out
}

// rerenderCache writes the Markdown for a saved -cache JSON results file.
func rerenderCache(jsonPath, mdPath string) error {
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		return fmt.Errorf("read results: %w", err)
	}
	var rep cacheReport
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("decode %s: %w", jsonPath, err)
	}
	if err := os.WriteFile(mdPath, []byte(rep.markdown()), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", mdPath, err)
	}
	return nil
}
