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
	var jsonPath, mdPath, only string
	flag.Float64Var(&p.scale, "scale", 40, "simulated seconds per real second")
	flag.DurationVar(&p.warm, "warm", time.Minute, "discarded warm-up (simulated)")
	flag.DurationVar(&p.measure, "measure", 3*time.Minute, "measured window (simulated)")
	flag.DurationVar(&p.drain, "drain", time.Minute, "demand continues after the window while retries finish (simulated)")
	flag.DurationVar(&p.queueTimeout, "queue-timeout", 30*time.Second, "the pool's queueTimeout (simulated)")
	flag.Uint64Var(&p.seed, "seed", 1, "workload seed")
	flag.StringVar(&jsonPath, "json", "bench/results/sim.json", "JSON results file")
	flag.StringVar(&mdPath, "md", "bench/results/sim.md", "Markdown results file")
	flag.StringVar(&only, "only", "", "run only scenarios whose name contains this (e.g. grouped/least-loaded)")
	render := flag.String("render", "", "only re-render the Markdown from this JSON results file")
	cache := flag.Bool("cache", false, "run the prompt-cache affinity scenarios (conversations) instead; see cache_run.go")
	cacheSeeds := flag.Int("cache-seeds", 3, "seeds per cache scenario")
	cacheJSON := flag.String("cache-json", "bench/results/sim-cache.json", "JSON results file of -cache")
	cacheMD := flag.String("cache-md", "bench/results/sim-cache.md", "Markdown results file of -cache")
	compare := flag.String("compare", "",
		"only write to -md the fairness runs of two JSON results files side by side: before.json,after.json")
	flag.Parse()
	if *render != "" {
		if *cache {
			return rerenderCache(*render, *cacheMD)
		}
		return rerender(*render, mdPath)
	}
	if *compare != "" {
		return compareFair(*compare, mdPath)
	}

	bs := buildBodies()
	tr := &http.Transport{MaxIdleConns: 2048, MaxIdleConnsPerHost: 1024, IdleConnTimeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	if *cache {
		return runCache(context.Background(), p, hc, *cacheSeeds, only, *cacheJSON, *cacheMD)
	}

	rep := &report{
		Generated: time.Now(), Scale: p.scale, WarmSim: p.warm.String(), MeasureSim: p.measure.String(),
		DrainSim: p.drain.String(), QueueSim: p.queueTimeout.String(), CapacityRPM: aggregateCapacity(),
	}
	ctx := context.Background()
	for _, sc := range scenarios() {
		if only != "" && !strings.Contains(sc.name(), only) {
			continue
		}
		began := time.Now()
		r, err := run(ctx, sc, p, bs, hc)
		if err != nil {
			return fmt.Errorf("scenario %s: %w", sc.name(), err)
		}
		rep.Results = append(rep.Results, r)
		fmt.Printf("%-32s capacity %5.1f%%  upstream 429 %5.1f%%  client 429s %4d  errors %3d  served %5.1f%%  lag %5.1fs  (%s)\n",
			sc.name(), r.Capacity*100, r.Upstream429Share*100, r.Client429s, r.ClientErrors, r.Served*100,
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

// scenarios is every configuration, demand level by demand level, then the
// fairness runs.
func scenarios() []scenario {
	demands := []float64{0.5, 1.0, 1.5}
	modes := []string{modeLearned, modeGrouped}
	strategies := []keypool.Strategy{keypool.StrategyLeastLoaded, keypool.StrategyRoundRobin,
		keypool.StrategyRandom, keypool.StrategyWeighted}
	out := make([]scenario, 0, len(demands)*(1+len(modes)*len(strategies)))
	for _, d := range demands {
		out = append(out, scenario{mode: modePinned, demand: d})
		for _, mode := range modes {
			for _, s := range strategies {
				out = append(out, scenario{mode: mode, strategy: s, demand: d})
			}
		}
	}
	return append(out, fairScenarios()...)
}

// rerender writes the Markdown for a saved JSON results file, without
// simulating anything.
func rerender(jsonPath, mdPath string) error {
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		return fmt.Errorf("read results: %w", err)
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("decode %s: %w", jsonPath, err)
	}
	if err := os.WriteFile(mdPath, []byte(rep.markdown()), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", mdPath, err)
	}
	return nil
}
