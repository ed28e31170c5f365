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
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Bounds on what a run may ask for, so a typo cannot start an unbounded load.
const (
	maxRate     = 50000
	maxDuration = time.Minute
	maxStreams  = 5000
	maxSamples  = 10000
)

// config is loadgen's command line.
type config struct {
	args           []string
	out            string
	rates          []int
	modes          []string
	duration       time.Duration
	keys           int
	profile        time.Duration
	searchStart    int
	searchMax      int
	bisections     int
	searchDuration time.Duration
	p99Bound       time.Duration
	ttfbSamples    int
	streams        []int
	deadline       time.Duration
	render         string
	proxyFlags     []string
	hostileRun     bool
	tls            bool
	redisRun       bool
	hostile        hostileConfig
}

func parseConfig(args []string) (config, error) {
	c := config{args: args}
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	rates := fs.String("rates", "500,1000,1500", "fixed request rates per second")
	modes := fs.String("modes", "json,sse", "request modes: json (non-streaming), sse (streaming)")
	fs.StringVar(&c.out, "out", "results", "directory for loadtest.json, loadtest.md and the profile")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "length of each fixed-rate step")
	fs.IntVar(&c.keys, "keys", 10, "keys in the load-test pool (unlimited fake keys)")
	fs.DurationVar(&c.profile, "profile", 10*time.Second, "CPU-profile the proxy this long at 1000 req/s; 0 skips")
	fs.IntVar(&c.searchStart, "search-start", 250, "first rate of the sustained-rate search")
	fs.IntVar(&c.searchMax, "search-max", 16000, "highest rate the search tries")
	fs.IntVar(&c.bisections, "search-bisections", 2, "bisection steps after the doubling phase")
	fs.DurationVar(&c.searchDuration, "search-duration", 5*time.Second, "length of each search step")
	fs.DurationVar(&c.p99Bound, "p99-bound", 10*time.Millisecond, "p99 latency a sustained rate must stay under")
	fs.IntVar(&c.ttfbSamples, "ttfb-samples", 500, "time-to-first-event samples per endpoint")
	streams := fs.String("streams", "1000,5000", "counts of streams held open for the per-stream memory figures")
	fs.DurationVar(&c.deadline, "deadline", 15*time.Minute, "abort the whole run after this long")
	proxyFlags := fs.String("proxy-flags", "",
		"extra space-separated flags for every proxyserver started (experiments)")
	fs.BoolVar(&c.tls, "tls", false,
		"serve the fake provider over TLS (HTTP/2 offered), as real providers are; writes loadtest-tls.{json,md}")
	fs.StringVar(&c.render, "render", "", "only re-render this loadtest.json into -out (no measurement)")
	fs.BoolVar(&c.hostileRun, "hostile", false,
		"instead of the load run: memory under hostile clients (slow headers, trickled 32 MiB bodies); writes attack.md")
	fs.BoolVar(&c.redisRun, "redis", false,
		"instead of the load run: the fixed-rate steps through a proxy with local limits and one with limits in "+
			"a redis-server started here (-redis-url), back to back; writes redis.md")
	fs.IntVar(&c.hostile.slowHeaders, "hostile-slow-headers", 1000, "hostile run: slow-header connections")
	fs.IntVar(&c.hostile.bodies, "hostile-bodies", 100, "hostile run: clients declaring 32 MiB bodies")
	fs.DurationVar(&c.hostile.duration, "hostile-duration", 75*time.Second,
		"hostile run: attack length (longer than the proxy's 60s body read timeout)")
	fs.DurationVar(&c.hostile.trickleEvery, "hostile-trickle-every", 250*time.Millisecond,
		"hostile run: pause between a body client's 64 KiB chunks")
	fs.Float64Var(&c.hostile.memLimitMiB, "memory-limit-mib", 512, "hostile run: the Deployment's memory limit")
	fs.StringVar(&c.hostile.goMemLimit, "gomemlimit", "400MiB", "hostile run: the Deployment's GOMEMLIMIT")
	if err := fs.Parse(args); err != nil {
		return c, fmt.Errorf("flags: %w", err)
	}
	c.proxyFlags = strings.Fields(*proxyFlags)
	var err error
	if c.rates, err = parseCounts("-rates", *rates, maxRate); err != nil {
		return c, err
	}
	if c.streams, err = parseCounts("-streams", *streams, maxStreams); err != nil {
		return c, err
	}
	for m := range strings.SplitSeq(*modes, ",") {
		if m != modeJSON && m != modeSSE {
			return c, fmt.Errorf("-modes: unknown mode %q", m)
		}
		c.modes = append(c.modes, m)
	}
	return c, c.validate()
}

// validate checks every bound on the numeric flags.
func (c *config) validate() error {
	switch {
	case c.duration <= 0 || c.duration > maxDuration || c.searchDuration <= 0 || c.searchDuration > maxDuration:
		return fmt.Errorf("-duration and -search-duration must be in (0, %s]", maxDuration)
	case c.profile < 0 || c.profile > maxDuration:
		return fmt.Errorf("-profile must be in [0, %s]", maxDuration)
	case c.searchStart < 1 || c.searchMax > maxRate || c.searchStart > c.searchMax:
		return fmt.Errorf("-search-start and -search-max must satisfy 1 <= start <= max <= %d", maxRate)
	case c.keys < 1 || c.keys > 100:
		return fmt.Errorf("-keys must be in [1, 100]")
	case c.ttfbSamples < 1 || c.ttfbSamples > maxSamples:
		return fmt.Errorf("-ttfb-samples must be in [1, %d]", maxSamples)
	case c.deadline <= 0 || c.deadline > time.Hour:
		return fmt.Errorf("-deadline must be in (0, 1h]")
	}
	return c.hostile.validate()
}

// validate checks the bounds of the hostile run's flags.
func (h *hostileConfig) validate() error {
	switch {
	case h.slowHeaders < 0 || h.bodies < 0 || h.slowHeaders+h.bodies > maxHostileConns:
		return fmt.Errorf("-hostile-slow-headers + -hostile-bodies must be in [0, %d]", maxHostileConns)
	case h.duration <= 0 || h.duration > 5*time.Minute:
		return fmt.Errorf("-hostile-duration must be in (0, 5m]")
	case h.trickleEvery < 10*time.Millisecond:
		return fmt.Errorf("-hostile-trickle-every must be at least 10ms")
	}
	return nil
}

// parseCounts parses a comma-separated list such as "500,1000,1500" for
// the flag name, each in [1, limit].
func parseCounts(name, s string, limit int) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", name, s, err)
		}
		if n < 1 || n > limit {
			return nil, fmt.Errorf("%s: %d out of [1, %d]", name, n, limit)
		}
		out = append(out, n)
	}
	return out, nil
}
