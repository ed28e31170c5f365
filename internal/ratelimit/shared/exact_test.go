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

package shared

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
	"github.com/keypool-dev/keypool-operator/internal/redistest"
)

// The exactness tests run N replicas (each its own connection and limiter,
// as separate processes would) against one real Redis, hammering one key
// for several windows, and compare what was admitted with the limit. The
// window is shortened to exactWindow so that several windows take seconds;
// nothing else in the model depends on its length.
const (
	exactWindow  = time.Second
	exactWarmup  = 1200 * time.Millisecond // drains the initial full bucket
	exactWindows = 3                       // measured windows
)

// exactCase is one load: its limits, the input estimate of a request, what
// request i of a replica really uses, and the dimension measured.
type exactCase struct {
	name   string
	limits ratelimit.Amounts
	est    int64
	use    func(r *rand.Rand) ratelimit.Usage
	dim    ratelimit.Dimension
}

var exactCases = []exactCase{
	{
		name:   "requests",
		limits: ratelimit.Amounts{ratelimit.Requests: 200},
		dim:    ratelimit.Requests,
		use:    func(*rand.Rand) ratelimit.Usage { return ratelimit.Usage{} },
	},
	{
		// The estimate is 1.5x the mean use: Settle refunds a third of it.
		name:   "input-tokens",
		limits: ratelimit.Amounts{ratelimit.InputTokens: 20000},
		est:    150,
		dim:    ratelimit.InputTokens,
		use: func(r *rand.Rand) ratelimit.Usage {
			return ratelimit.Usage{InputTokens: 50 + r.Int64N(101), OutputTokens: 10}
		},
	},
	{
		// Output is charged after the fact, held at Reserve from the
		// learned mean.
		name:   "output-tokens",
		limits: ratelimit.Amounts{ratelimit.OutputTokens: 8000},
		est:    20,
		dim:    ratelimit.OutputTokens,
		use: func(r *rand.Rand) ratelimit.Usage {
			return ratelimit.Usage{InputTokens: 20, OutputTokens: 30 + r.Int64N(41)}
		},
	},
}

func TestSharedExactness(t *testing.T) {
	srv := redistest.Start(t)
	for _, tc := range exactCases {
		for _, n := range []int{1, 3, 10} {
			t.Run(fmt.Sprintf("%s/replicas=%d", tc.name, n), func(t *testing.T) {
				runExact(t, func() *Backend { return newBackend(t, srv, Options{Window: exactWindow}) }, tc, n)
			})
		}
	}
}

// TestSharedExactnessOnClusterAndSentinel: three replicas share a limit as
// exactly through a Redis Cluster of three masters and through a Sentinel
// as through one Redis.
func TestSharedExactnessOnClusterAndSentinel(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	master := redistest.Start(t)
	sentinel := redistest.StartSentinel(t, master, "keypool")
	for _, o := range []ClientOptions{
		{URL: cl.URL(), Mode: ModeCluster},
		{URL: "redis://" + sentinel.Addr() + "?master_name=keypool", Mode: ModeSentinel},
	} {
		for _, tc := range exactCases {
			t.Run(o.Mode+"/"+tc.name, func(t *testing.T) {
				runExact(t, func() *Backend {
					o.Timeout = testTimeout
					c, err := Connect(o)
					if err != nil {
						t.Fatal(err)
					}
					b := NewBackend(c, Options{Timeout: testTimeout, Window: exactWindow})
					t.Cleanup(func() { b.Close(); _ = c.Close() })
					return b
				}, tc, 3)
			})
		}
	}
}

// runExact has n replicas, each with a backend of its own from newBackend,
// hammer one limiter of tc's limits.
func runExact(t *testing.T, newBackend func() *Backend, tc exactCase, n int) {
	backends := make([]*Backend, n)
	limiters := make([]*Limiter, n)
	name := fmt.Sprintf("exact/%s/%d", tc.name, n)
	for i := range n {
		backends[i] = newBackend()
		limiters[i] = newShared(t, backends[i], name, tc.limits)
	}
	start := time.Now()
	from, to := start.Add(exactWarmup), start.Add(exactWarmup+exactWindows*exactWindow)
	stalls := redistest.NewStalls(from, to, exactWindow)
	var used, admitted atomic.Int64
	var wg sync.WaitGroup
	for i, l := range limiters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), 7))
			for {
				now := time.Now()
				if now.After(to) {
					return
				}
				stalls.Attempt(now)
				res, ok := l.Reserve(now, tc.est, ratelimit.LearnedOutput)
				if !ok {
					continue
				}
				u := tc.use(r)
				at := time.Now()
				l.Settle(at, res, u)
				if at.Before(from) || at.After(to) {
					continue
				}
				admitted.Add(1)
				switch tc.dim {
				case ratelimit.Requests:
					used.Add(1)
				case ratelimit.InputTokens:
					used.Add(u.InputTokens)
				case ratelimit.OutputTokens:
					used.Add(u.OutputTokens)
				}
			}
		}()
	}
	wg.Wait()
	for _, b := range backends {
		if b.Degraded() || b.outages.Load() > 0 {
			t.Fatalf("a replica fell back to local limits during the run (%d outages)", b.outages.Load())
		}
		if d := b.Dropped(); d > 0 {
			t.Fatalf("%d background sends dropped", d)
		}
	}
	perWindow := float64(tc.limits[tc.dim])
	want := perWindow * exactWindows
	got := float64(used.Load())
	up, down := stalls.Allowance(exactWindow)
	t.Logf("%d replicas: %s used %.0f in %d windows (limit %.0f, ratio %.4f), %d requests; "+
		"load stalls allow +%.3f/-%.3f windows", n, tc.dim, got, exactWindows, want, got/want, admitted.Load(), up, down)
	if hi, lo := want*1.01+up*perWindow, want*0.97-down*perWindow; got > hi || got < lo {
		t.Fatalf("%s used %.0f in %d windows, want within [%.0f, %.0f] (0.97 and 1.01 x %.0f, widened by the load's stalls)",
			tc.dim, got, exactWindows, lo, hi, want)
	}
}
