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
	"slices"
	"time"
)

// Sustained is the outcome of a rate search on one endpoint, with every step
// it ran. MaxRate is the highest rate that met the strict criterion (no
// errors, p99 under the bound, throughput within 5% of the rate); KeptUp the
// highest rate with no errors and throughput within 5%, whatever the latency,
// which is the endpoint's capacity on a machine too loaded for the p99 bound.
type Sustained struct {
	Target   string `json:"target"`
	Mode     string `json:"mode"`
	MaxRate  int    `json:"max_sustained_rate"`
	KeptUp   int    `json:"max_kept_up_rate"`
	P99Bound string `json:"p99_bound"`
	Steps    []Step `json:"steps"`
}

// keepsUp reports whether a step had no errors and served within 5% of its
// rate.
func (s Step) keepsUp() bool {
	return s.Errors == 0 && s.Requests > 0 && s.Throughput >= 0.95*float64(s.Rate)
}

// searchMax doubles the rate from start while the endpoint keeps up (up to
// maxRate), then bisects between the last rate that kept up and the first
// that did not bisections times. MaxRate is the highest step that also kept
// p99 under p99Bound.
func searchMax(ctx context.Context, a *attacker, mode string, start, maxRate, bisections int,
	d, p99Bound time.Duration) Sustained {
	out := Sustained{Target: a.ep.name, Mode: mode, P99Bound: p99Bound.String()}
	try := func(rate int) bool {
		s := a.run(ctx, mode, rate, d)
		out.Steps = append(out.Steps, s)
		fmt.Fprintf(os.Stderr, "loadgen: search %s %s %5d req/s: p99 %8.0f µs, throughput %7.1f, errors %d, "+
			"kept up %t, p99 ok %t (load %s)\n", a.ep.name, mode, rate, s.P99, s.Throughput, s.Errors,
			s.keepsUp(), s.sustains(p99Bound), s.Load)
		return s.keepsUp()
	}
	good, bad := 0, 0
	for rate := start; rate <= maxRate && ctx.Err() == nil; rate *= 2 {
		if !try(rate) {
			bad = rate
			break
		}
		good = rate
	}
	for range bisections {
		if bad == 0 || bad-good < 100 || ctx.Err() != nil {
			break
		}
		mid := (good + bad) / 2
		if try(mid) {
			good = mid
		} else {
			bad = mid
		}
	}
	out.KeptUp = good
	out.MaxRate = out.strictMax()
	return out
}

// strictMax is the highest rate r such that every step at a rate up to r
// sustained: one slow step at a low rate is not outweighed by a lucky step
// at a higher one.
func (s *Sustained) strictMax() int {
	bound, err := time.ParseDuration(s.P99Bound)
	if err != nil {
		return 0
	}
	steps := slices.Clone(s.Steps)
	slices.SortFunc(steps, func(a, b Step) int { return a.Rate - b.Rate })
	best := 0
	for _, st := range steps {
		if !st.sustains(bound) {
			break
		}
		best = st.Rate
	}
	return best
}
