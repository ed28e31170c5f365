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
	"strings"
	"testing"
	"time"
)

func TestRequireLoopback(t *testing.T) {
	for url, ok := range map[string]bool{
		"http://127.0.0.1:9090":       true,
		"http://127.0.0.1:1/v1/x":     true,
		"http://localhost:9090":       false,
		"http://10.0.0.1:80":          false,
		"https://api.anthropic.com":   false,
		"http://127.0.0.1.evil.com:1": false,
	} {
		if err := requireLoopback(url); (err == nil) != ok {
			t.Errorf("requireLoopback(%q) = %v, want ok=%t", url, err, ok)
		}
	}
}

func TestParseConfigBounds(t *testing.T) {
	if _, err := parseConfig(nil); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, args := range [][]string{
		{"-rates", "0"}, {"-rates", "100000"}, {"-duration", "2h"},
		{"-streams", "100000"}, {"-modes", "grpc"}, {"-search-max", "1000000"},
	} {
		if _, err := parseConfig(args); err == nil {
			t.Errorf("parseConfig(%q) accepted", args)
		}
	}
}

func TestQuantile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Microsecond)
	}
	if got := quantile(ds, 0.5); got != 51 {
		t.Errorf("p50 = %v µs, want 51", got)
	}
	if got := quantile(ds, 0.99); got != 100 {
		t.Errorf("p99 = %v µs, want 100", got)
	}
}

func TestSustains(t *testing.T) {
	s := Step{Rate: 1000, Requests: 10000, Throughput: 990, P99: 9000}
	if !s.sustains(10*time.Millisecond) || !s.keepsUp() {
		t.Error("a step at rate with p99 9 ms should sustain")
	}
	s.P99 = 11000
	if s.sustains(10*time.Millisecond) || !s.keepsUp() {
		t.Error("p99 11 ms: kept up but not sustained")
	}
	s.Errors = 1
	if s.keepsUp() {
		t.Error("errors: not kept up")
	}
}

// TestChecksJudgeWhatTheyName: a target is met only when every percentile it
// names is within its ratio to nginx, and never when nginx was not measured.
func TestChecksJudgeWhatTheyName(t *testing.T) {
	met := func(r *Results, name string) bool {
		t.Helper()
		for _, c := range checks(r) {
			if strings.HasPrefix(c.Name, name) {
				return c.Met
			}
		}
		t.Fatalf("no check %q", name)
		return false
	}
	steps := []Step{
		{Target: "direct", Mode: "json", Rate: 1000, P50: 300, P99: 1000},
		{Target: "nginx", Mode: "json", Rate: 1000, P50: 400, P99: 1400},
		{Target: "proxy", Mode: "json", Rate: 1000, P50: 380, P99: 2100},
	}
	r := &Results{Comparisons: compare(steps)}
	r.TTFB = TTFB{DirectP50: 300, DirectP99: 800, NginxP50: 400, NginxP99: 900, AddedP50: 160, AddedP99: 120}
	r.TTFB.NginxAddedP50, r.TTFB.NginxAddedP99 = 100, 100
	if got := r.Comparisons[0]; got.RatioP50 != 0.8 || got.RatioP99 != 2.75 {
		t.Fatalf("ratios = %.2f, %.2f; want 0.80 and 2.75", got.RatioP50, got.RatioP99)
	}
	if met(r, "added latency vs nginx") {
		t.Error("added latency met with p99 at 2.75x nginx's")
	}
	if met(r, "added time to first SSE event") {
		t.Error("time to first event met at nginx's + 60 µs p50")
	}
	steps[2].P99 = 1500 // added 500 vs nginx's 400: 1.25x
	r.Comparisons = compare(steps)
	r.TTFB.AddedP50 = 150
	if !met(r, "added latency vs nginx") || !met(r, "added time to first SSE event") {
		t.Error("targets not met with every named percentile within its ratio")
	}
	r.Comparisons = compare([]Step{steps[0], steps[2]})
	r.TTFB.NginxP50 = 0
	if met(r, "added latency vs nginx") || met(r, "added time to first SSE event") {
		t.Error("a target met with nginx not measured")
	}
}
