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
	Results     []*result `json:"results"`
}

// write saves r as JSON and Markdown next to each other.
func (r *report) write(jsonPath, mdPath string) error {
	for _, p := range []string{jsonPath, mdPath} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("create %s: %w", filepath.Dir(p), err)
		}
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	if err := os.WriteFile(jsonPath, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", jsonPath, err)
	}
	if err := os.WriteFile(mdPath, []byte(r.markdown()), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", mdPath, err)
	}
	return nil
}

// table renders the results as one Markdown table.
func (r *report) table() string {
	var b strings.Builder
	b.WriteString("| configuration | strategy | demand | capacity delivered | pool's total RPM (true 160) | " +
		"org a / b / c / d (binding) | ok req/min | served | upstream 429s | client 429s (no RA) | client errors | " +
		"gave up | 1st retry at RA ok | RA lateness p50 / p95 / max | max lag |\n")
	b.WriteString("|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---:|\n")
	for _, x := range r.Results {
		strategy := x.Strategy
		if strategy == "" {
			strategy = "-"
		}
		parts := make([]string, 0, len(orgs))
		for _, o := range orgs {
			parts = append(parts, pct(x.Orgs[o].Binding))
		}
		retry := "-"
		if x.FirstRetries > 0 {
			retry = fmt.Sprintf("%s of %d", pct(x.FirstRetryOK), x.FirstRetries)
		}
		late := "-"
		if x.LatenessMax > 0 || x.LatenessP50 > 0 {
			late = fmt.Sprintf("%s / %s / %s", secs(x.LatenessP50), secs(x.LatenessP95), secs(x.LatenessMax))
		}
		poolRPM := "-"
		if x.PoolRPM > 0 {
			poolRPM = fmt.Sprint(x.PoolRPM)
		}
		fmt.Fprintf(&b, "| %s | %s | %.0f%% | **%s** | %s | %s | %.1f | %s | %s (%d of %d) | %d (%d) | %d | %d | %s | %s | %s |\n",
			x.Mode, strategy, x.Demand*100, pct(x.Capacity), poolRPM, strings.Join(parts, " / "), x.OKPerMinute,
			pct(x.Served), pct(x.Upstream429Share), x.Upstream429, x.UpstreamRequests,
			x.Client429s, x.Client429NoRA, x.ClientErrors, x.GaveUp, retry, late, secs(x.MaxLag))
	}
	return b.String()
}

// markdown is the results file: how the simulation works, then the table.
func (r *report) markdown() string {
	var b strings.Builder
	b.WriteString("# Pooling efficiency simulation (`make sim`)\n\n")
	fmt.Fprintf(&b, "Generated %s by `go run ./cmd/sim`. Scale %gx: one real second is %g simulated seconds. "+
		"Each configuration: %s warm-up (discarded), %s measured, %s drain with demand still arriving "+
		"(simulated time). Pool queueTimeout %s (simulated). Aggregate capacity under the mix: %.1f requests/min.\n\n",
		r.Generated.UTC().Format(time.RFC3339), r.Scale, r.Scale, r.WarmSim, r.MeasureSim, r.DrainSim, r.QueueSim, r.CapacityRPM)
	b.WriteString(r.table())
	b.WriteString("\n")
	b.WriteString(r.fairnessSection())
	b.WriteString(methodology(r.Scale))
	b.WriteString("\n")
	b.WriteString(r.docsSection())
	return b.String()
}

func pct(f float64) string { return fmt.Sprintf("%.1f%%", f*100) }

func secs(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }
