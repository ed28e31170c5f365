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
	"strings"
)

// compareFair writes, from two saved fairness runs (before and after a
// change, as "before.json,after.json"), their per-client figures side by
// side and what changed, every number read from the files.
func compareFair(pair, mdPath string) error {
	paths := strings.Split(pair, ",")
	if len(paths) != 2 {
		return fmt.Errorf("-compare-fair wants before.json,after.json, got %q", pair)
	}
	var runs [2]report
	for i, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("read results: %w", err)
		}
		if err := json.Unmarshal(b, &runs[i]); err != nil {
			return fmt.Errorf("decode %s: %w", p, err)
		}
	}
	names := [2]string{"before", "after"}
	var b strings.Builder
	b.WriteString("# Fair share of a saturated pool: before and after\n\n")
	for i, r := range runs {
		fmt.Fprintf(&b, "- %s: `%s`, generated %s, scale %.0f, measured %s (simulated) after %s of warm-up, "+
			"queue timeout %s, %.1f requests/min of aggregate capacity.\n", names[i], paths[i],
			r.Generated.UTC().Format("2006-01-02 15:04 MST"), r.Scale, r.MeasureSim, r.WarmSim, r.QueueSim, r.CapacityRPM)
	}
	b.WriteString("\nThree clients: " + clientMix() + ". Wait: simulated time from sending a request's first attempt " +
		"to its response headers.\n\n")
	b.WriteString("| configuration | run | client | requests | 1st attempt ok | served | ok req/min | wait p50 / p99 |\n" +
		"|---|---|---|---:|---:|---:|---:|---|\n")
	for _, mode := range []string{modeFairUnnamed, modeFairNamed} {
		for i, r := range runs {
			if x := fairResult(&r, mode); x != nil {
				for _, c := range x.Clients {
					fmt.Fprintf(&b, "| %s | %s | %s | %d | %s | %s | %.1f | %s / %s |\n", mode, names[i], c.Name,
						c.Requests, pct(c.FirstOK), pct(c.Served), c.OKPerMinute, secs2(c.WaitP50), secs2(c.WaitP99))
				}
			}
		}
	}
	b.WriteString("\n| configuration | run | capacity delivered | upstream requests | upstream 429s | generator lag |\n" +
		"|---|---|---:|---:|---:|---:|\n")
	for _, mode := range []string{modeFairUnnamed, modeFairNamed} {
		for i, r := range runs {
			if x := fairResult(&r, mode); x != nil {
				fmt.Fprintf(&b, "| %s | %s | %s | %d | %d (%s) | %s |\n", mode, names[i], pct(x.Capacity),
					x.UpstreamRequests, x.Upstream429, pct(x.Upstream429Share), secs2(x.MaxLag))
			}
		}
	}
	bx, ax := fairResult(&runs[0], modeFairNamed), fairResult(&runs[1], modeFairNamed)
	if bx != nil && ax != nil {
		bok, bwait := politeWorst(bx)
		aok, await := politeWorst(ax)
		b.WriteString("\nWith named clients (per-client queues):\n\n")
		fmt.Fprintf(&b, "- The polite clients' worst p99 wait went from %s to %s, their worst first-attempt success "+
			"from %s to %s.\n", secs2(bwait), secs2(await), pct(bok), pct(aok))
		fmt.Fprintf(&b, "- The greedy client got %.1f ok req/min before and %.1f after.\n",
			bx.Clients[0].OKPerMinute, ax.Clients[0].OKPerMinute)
		fmt.Fprintf(&b, "- Capacity delivered went from %s to %s; upstream 429s from %s to %s of upstream requests.\n",
			pct(bx.Capacity), pct(ax.Capacity), pct(bx.Upstream429Share), pct(ax.Upstream429Share))
		if u := fairResult(&runs[1], modeFairUnnamed); u != nil && u.Capacity > 0 {
			fmt.Fprintf(&b, "- After, capacity delivered with names is %s of that without names in the same run.\n",
				pct(ax.Capacity/u.Capacity))
		}
	}
	if err := os.WriteFile(mdPath, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", mdPath, err)
	}
	return nil
}

// fairResult is r's fairness result of mode, nil if it has none.
func fairResult(r *report, mode string) *result {
	for _, x := range r.Results {
		if x.Mode == mode && x.Clients != nil {
			return x
		}
	}
	return nil
}

// secs2 is a duration in seconds with two decimals: fairness waits are
// well under a second.
func secs2(d interface{ Seconds() float64 }) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
