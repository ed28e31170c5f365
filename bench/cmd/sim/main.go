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

// Command sim measures pooling efficiency: how much of the keys' aggregate
// capacity the proxy and its pool deliver, with how many upstream 429s, and
// how accurate the Retry-After clients get is, against today's baseline of
// one key per client. It runs the fake provider and the real proxy on
// loopback under a scaled clock; see methodology.go and `make sim`.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/keypool"
)

func main() {
	if err := mainErr(); err != nil {
		fmt.Fprintln(os.Stderr, "sim:", err)
		os.Exit(1)
	}
}

func mainErr() error {
	var p params
	var jsonPath, mdPath, only, modes, strategies, demands, compare string
	var seeds uint64
	var fair bool
	flag.Float64Var(&p.scale, "scale", 40, "simulated seconds per real second")
	flag.DurationVar(&p.warm, "warm", time.Minute, "discarded warm-up (simulated)")
	flag.DurationVar(&p.measure, "measure", 3*time.Minute, "measured window (simulated)")
	flag.DurationVar(&p.drain, "drain", time.Minute, "demand continues after the window while retries finish (simulated)")
	flag.DurationVar(&p.queueTimeout, "queue-timeout", 30*time.Second, "the pool's queueTimeout (simulated)")
	flag.Uint64Var(&seeds, "seeds", 3, "run every configuration with workload seeds 1..N")
	flag.StringVar(&modes, "modes", "pinned,learned,grouped,halved", "configurations: pinned, learned, grouped, halved, named")
	flag.StringVar(&strategies, "strategies", "least-loaded", "pool strategies (comma-separated)")
	flag.StringVar(&demands, "demands", "0.5,1,1.5", "offered load as shares of the nominal mix bound")
	flag.BoolVar(&fair, "fair", true, "also run the fairness scenarios (seed 1)")
	flag.StringVar(&compare, "compare", "", "JSON results of an earlier engine to show side by side")
	flag.StringVar(&jsonPath, "json", "results/sim.json", "JSON results file")
	flag.StringVar(&mdPath, "md", "results/sim.md", "Markdown results file")
	flag.StringVar(&only, "only", "", "run only scenarios whose name contains this (e.g. grouped/least-loaded)")
	shape := flag.String("shape", "", "accounts and workload: \"\" (the default set) or "+shapeClaudeCode+
		" (issue 28's: six keys in four organisations, a Claude Code-like client with large max_tokens, the fake admitting "+
		"output on max_tokens; run it with -modes named)")
	render := flag.String("render", "", "only re-render the Markdown from this JSON results file")
	cache := flag.Bool("cache", false, "run the prompt-cache affinity scenarios (conversations) instead; see cache_run.go")
	cacheSeeds := flag.Int("cache-seeds", 3, "seeds per cache scenario")
	cacheJSON := flag.String("cache-json", "results/sim-cache.json", "JSON results file of -cache")
	cacheMD := flag.String("cache-md", "results/sim-cache.md", "Markdown results file of -cache")
	models := flag.Bool("models", false, "run the mixed-model scenario instead (two model classes at 50% and 150%); see models.go")
	modelsMD := flag.String("models-md", "results/sim-models.md", "Markdown results file of -models")
	compareFairRuns := flag.String("compare-fair", "",
		"only write to -md the fairness runs of two JSON results files side by side: before.json,after.json")
	flag.Parse()
	if err := applyShape(*shape); err != nil {
		return err
	}
	if *render != "" {
		if *cache {
			return rerenderCache(*render, *cacheMD)
		}
		return rerender(*render, mdPath, compare)
	}
	if *compareFairRuns != "" {
		return compareFair(*compareFairRuns, mdPath)
	}
	list, err := scenarios(modes, strategies, demands, seeds, fair)
	if err != nil {
		return err
	}

	bs := buildBodies()
	tr := &http.Transport{MaxIdleConns: 2048, MaxIdleConnsPerHost: 1024, IdleConnTimeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	if *models {
		return runModels(context.Background(), p, hc, 1, *modelsMD)
	}
	if *cache {
		return runCache(context.Background(), p, hc, *cacheSeeds, only, *cacheJSON, *cacheMD)
	}

	rep := &report{
		Generated: time.Now(), Scale: p.scale, WarmSim: p.warm.String(), MeasureSim: p.measure.String(),
		DrainSim: p.drain.String(), QueueSim: p.queueTimeout.String(), CapacityRPM: aggregateCapacity(),
		NominalRPM: nominalCapacity(),
	}
	if compare != "" {
		if rep.Compare, err = readReport(compare); err != nil {
			return err
		}
	}
	ctx := context.Background()
	for _, sc := range list {
		if only != "" && !strings.Contains(sc.name(), only) {
			continue
		}
		began := time.Now()
		r, err := run(ctx, sc, p, bs, hc)
		if err != nil {
			return fmt.Errorf("scenario %s: %w", sc.name(), err)
		}
		rep.Results = append(rep.Results, r)
		m := r.Metric
		fmt.Printf("%-40s served/bound req %5.1f%% in %5.1f%% out %5.1f%% (bound %5.1f req/min)  upstream 429 %5.1f%%  "+
			"1st retry ok %5.1f%% of %d  errors %3d  lag %5.1fs  (%s)\n",
			sc.name(), m.RequestsOverBound*100, m.InputOverBound*100, m.OutputOverBound*100, m.Bound.RequestsPerMin,
			r.Upstream429Share*100, r.FirstRetryOK*100, r.FirstRetries, r.ClientErrors,
			r.MaxLag.Seconds(), time.Since(began).Round(time.Millisecond))
		for _, c := range r.Clients {
			fmt.Printf("    %-10s demand %4.0f%%  requests %5d  1st attempt ok %5.1f%%  served %5.1f%%  wait p99 %5.2fs\n",
				c.Name, c.Demand*100, c.Requests, c.FirstOK*100, c.Served*100, c.WaitP99.Seconds())
		}
		tr.CloseIdleConnections()
	}
	if err := rep.write(jsonPath, mdPath); err != nil {
		return err
	}
	fmt.Printf("wrote %s and %s\n", mdPath, jsonPath)
	return nil
}

// scenarios is every configuration asked for, demand level by demand
// level and seed by seed, then the fairness runs.
func scenarios(modes, strategies, demands string, seeds uint64, fair bool) ([]scenario, error) {
	var ds []float64
	for _, f := range strings.Split(demands, ",") {
		d, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || d <= 0 || d > 10 {
			return nil, fmt.Errorf("bad demand %q: want a share in (0, 10]", f)
		}
		ds = append(ds, d)
	}
	if seeds < 1 || seeds > 20 {
		return nil, fmt.Errorf("-seeds %d: want 1 to 20", seeds)
	}
	var out []scenario
	for _, d := range ds {
		for seed := uint64(1); seed <= seeds; seed++ {
			for _, mode := range strings.Split(modes, ",") {
				switch mode {
				case modePinned:
					out = append(out, scenario{mode: mode, demand: d, seed: seed})
				case modeLearned, modeGrouped, modeHalved, modeNamed:
					for _, s := range strings.Split(strategies, ",") {
						out = append(out, scenario{mode: mode, strategy: keypool.Strategy(s), demand: d, seed: seed})
					}
				default:
					return nil, fmt.Errorf("unknown mode %q", mode)
				}
			}
		}
	}
	if fair {
		out = append(out, fairScenarios()...)
	}
	return out, nil
}

// rerender writes the Markdown for a saved JSON results file, without
// simulating anything.
func rerender(jsonPath, mdPath, compare string) error {
	rep, err := readReport(jsonPath)
	if err != nil {
		return err
	}
	if compare != "" {
		if rep.Compare, err = readReport(compare); err != nil {
			return err
		}
	}
	if err := os.WriteFile(mdPath, []byte(rep.markdown()), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", mdPath, err)
	}
	return nil
}

// readReport loads a saved JSON results file.
func readReport(path string) (*report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read results: %w", err)
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	return &rep, nil
}
