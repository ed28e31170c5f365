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
	"path/filepath"
	"strings"
	"time"
)

// report is everything a `make sim` run writes.
type report struct {
	Generated   time.Time `json:"generated"`
	Scale       float64   `json:"scale"`
	WarmSim     string    `json:"warm_simulated"`
	MeasureSim  string    `json:"measure_simulated"`
	DrainSim    string    `json:"drain_simulated"`
	QueueSim    string    `json:"queue_timeout_simulated"`
	CapacityRPM float64   `json:"aggregate_capacity_requests_per_minute"`
	// NominalRPM is the mix bound of one minute from the limits alone:
	// what the demand levels are shares of.
	NominalRPM float64   `json:"nominal_bound_requests_per_minute"`
	Results    []*result `json:"results"`
	// Compare is an earlier engine's report, shown side by side.
	Compare *report `json:"-"`
}

// write saves r as JSON and Markdown next to each other.
func (r *report) write(jsonPath, mdPath string) error {
	return writeResults(r, r.markdown(), jsonPath, mdPath)
}

// writeResults saves v as indented JSON to jsonPath and md to mdPath,
// creating their directories.
func writeResults(v any, md, jsonPath, mdPath string) error {
	for _, p := range []string{jsonPath, mdPath} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("create %s: %w", filepath.Dir(p), err)
		}
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	if err := os.WriteFile(jsonPath, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", jsonPath, err)
	}
	if err := os.WriteFile(mdPath, []byte(md), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", mdPath, err)
	}
	return nil
}

// table renders the results as one Markdown table, one row per run.
func (r *report) table() string {
	var b strings.Builder
	b.WriteString("| configuration | strategy | demand | seed | bound req/min | served req/min | served/bound req / in / out | " +
		"class served/bound (" + classNames() + ") | upstream 429s | 1st retry at RA ok | client 429s (no RA) | client errors | " +
		"gave up (retry after the run) | advised RA p50 / p95 / max | RA lateness p50 / p95 / max | max lag | " +
		"old figure: binding share |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---|---|---:|---:|\n")
	for _, x := range r.Results {
		if x.Clients != nil || x.Metric == nil {
			continue
		}
		strategy := x.Strategy
		if strategy == "" {
			strategy = "-"
		}
		m := x.Metric
		late := "-"
		if x.LatenessMax > 0 || x.LatenessP50 > 0 {
			late = fmt.Sprintf("%s / %s / %s", secs(x.LatenessP50), secs(x.LatenessP95), secs(x.LatenessMax))
		}
		adv := "-"
		if x.AdvisedMax > 0 {
			adv = fmt.Sprintf("%s / %s / %s", secs(x.AdvisedP50), secs(x.AdvisedP95), secs(x.AdvisedMax))
		}
		fmt.Fprintf(&b, "| %s | %s | %.0f%% | %d | %.1f | %.1f | **%s** / %s / %s | %s | %s (%d of %d) | %s | "+
			"%d (%d) | %d | %d (%d) | %s | %s | %s | %s |\n",
			x.Mode, strategy, x.Demand*100, x.Seed, m.Bound.RequestsPerMin, m.ServedRequests,
			pct(m.RequestsOverBound), pct(m.InputOverBound), pct(m.OutputOverBound), classShares(m.ClassOverBound),
			pct(x.Upstream429Share), x.Upstream429, x.UpstreamRequests, retryOK(x.FirstRetryOK, x.FirstRetries),
			x.Client429s, x.Client429NoRA, x.ClientErrors, x.GaveUp, x.NotRetried, adv, late, secs(x.MaxLag),
			pct(x.Capacity))
	}
	return b.String()
}

// classNames lists the mix's classes.
func classNames() string {
	names := make([]string, len(mix))
	for i, c := range mix {
		names[i] = c.name
	}
	return strings.Join(names, " / ")
}

// classShares renders one share per class.
func classShares(v []float64) string {
	parts := make([]string, len(v))
	for i, f := range v {
		parts[i] = pct(f)
	}
	return strings.Join(parts, " / ")
}

// retryOK renders the first-retry success share, or "-" without retries.
func retryOK(share float64, n int) string {
	if n == 0 {
		return "- (no retries)"
	}
	return fmt.Sprintf("%s of %d", pct(share), n)
}

// markdown is the results file: how the simulation works, then the table.
func (r *report) markdown() string {
	var b strings.Builder
	b.WriteString("# Pooling efficiency simulation (`make sim`)\n\n")
	fmt.Fprintf(&b, "Generated %s by `go run ./cmd/sim`. Scale %gx: one real second is %g simulated seconds. "+
		"Each configuration: %s warm-up (discarded), %s measured, %s drain with demand still arriving "+
		"(simulated time). Pool queueTimeout %s (simulated). Demand levels are shares of the nominal mix bound, "+
		"%.1f requests/min (the old figure's aggregate capacity was %.1f).\n\n",
		r.Generated.UTC().Format(time.RFC3339), r.Scale, r.Scale, r.WarmSim, r.MeasureSim, r.DrainSim, r.QueueSim,
		r.NominalRPM, r.CapacityRPM)
	b.WriteString(r.docsSection())
	b.WriteString("\n## Every run\n\n")
	b.WriteString(r.table())
	b.WriteString("\n")
	b.WriteString(r.fairnessSection())
	b.WriteString(methodology(r.Scale))
	return b.String()
}

func pct(f float64) string { return fmt.Sprintf("%.1f%%", f*100) }

func secs(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }
