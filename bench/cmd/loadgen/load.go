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
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// measureLoad runs the fixed-rate steps (direct, nginx when there is one,
// and proxy back to back for each rate and mode, so all see the same machine
// load), a profiled proxy step, and the sustained-rate searches. The proxy
// is the last of targets.
func measureLoad(ctx context.Context, cfg config, res *Results, targets []endpoint, proxy *process, fakeURL string) error {
	attackers := make([]*attacker, len(targets))
	for i, ep := range targets {
		attackers[i] = newAttacker(ep, 0)
	}
	pa := attackers[len(attackers)-1]
	pa.rssPID = proxy.pid()
	for _, mode := range cfg.modes { // warm every path's connections
		for _, a := range attackers {
			a.run(ctx, mode, 200, time.Second)
		}
	}
	for _, rate := range cfg.rates {
		for _, mode := range cfg.modes {
			for _, a := range attackers {
				before, err := readFakeStats(ctx, fakeURL)
				if err != nil {
					return err
				}
				s := a.run(ctx, mode, rate, cfg.duration)
				after, err := readFakeStats(ctx, fakeURL)
				if err != nil {
					return err
				}
				s.Handshakes = after.TLSHandshakes - before.TLSHandshakes
				logf("%-6s %-4s %5d req/s: p50 %6.0f µs p99 %7.0f µs, %d errors, load %s",
					s.Target, s.Mode, s.Rate, s.P50, s.P99, s.Errors, s.Load)
				res.Steps = append(res.Steps, s)
				res.Memory.PeakUnderLoad = max(res.Memory.PeakUnderLoad, s.ProxyRSSPeak)
				if err := ctx.Err(); err != nil {
					return fmt.Errorf("load steps: %w", err)
				}
			}
		}
	}

	if proxy.pprof != "" && cfg.profile > 0 {
		logf("profiling the proxy at 1000 req/s (json) for %s", cfg.profile)
		if err := os.MkdirAll(cfg.out, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", cfg.out, err)
		}
		prof := filepath.Join(cfg.out, "proxy-cpu.pprof")
		errc := make(chan error, 1)
		go func() { errc <- fetchProfile(ctx, proxy.pprof, int(cfg.profile.Seconds()), prof) }()
		pa.run(ctx, "json", 1000, cfg.profile+time.Second)
		if err := <-errc; err != nil {
			return err
		}
		top := filepath.Join(cfg.out, "proxy-cpu-top.txt")
		if err := profileTop(ctx, prof, top); err != nil {
			return err
		}
		res.ProfileTop = top
	}

	for _, a := range attackers {
		s := searchMax(ctx, a, "json", cfg.searchStart, cfg.searchMax, cfg.bisections, cfg.searchDuration, cfg.p99Bound)
		res.Sustained = append(res.Sustained, s)
		for _, st := range s.Steps {
			res.Memory.PeakUnderLoad = max(res.Memory.PeakUnderLoad, st.ProxyRSSPeak)
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("search: %w", err)
		}
	}
	// The attackers keep up to maxWorkers idle connections each; left
	// open, they hold the proxy's connection cap (--proxy-max-connections)
	// and later phases would be shed.
	for _, a := range attackers {
		a.client.CloseIdleConnections()
	}
	return nil
}
