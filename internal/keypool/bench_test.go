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

package keypool

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/clock"
	"github.com/keypool-dev/keypool-operator/internal/provider"
)

var benchSizes = []int{3, 100, 1000}

// benchPool returns a pool of n keys on the wall clock. With withLimits the
// keys have request and token limits set far above what a benchmark uses:
// no key is ever limited, but every request goes through the limiters and
// the selector (the "/limits-unreached" cases).
func benchPool(b *testing.B, n int, withLimits bool, strategy Strategy) *KeyPool {
	b.Helper()
	return benchPoolClock(b, n, withLimits, strategy, nil)
}

// tickClock is a cheap monotonic clock that advances 100ns per reading: it
// takes the cost of reading the wall clock (about 200ns on a loaded VM with
// kvm-clock) out of the engine's figures.
type tickClock struct{ n atomic.Int64 }

func (c *tickClock) Now() time.Time { return t0.Add(time.Duration(c.n.Add(100))) }

func benchPoolClock(b *testing.B, n int, withLimits bool, strategy Strategy, clk clock.Clock) *KeyPool {
	b.Helper()
	keys := keyCfgs(n)
	if withLimits {
		for i := range keys {
			keys[i].RPMLimit, keys[i].ITPMLimit, keys[i].OTPMLimit = 1e12, 1e12, 1e12
		}
	}
	p, err := NewKeyPool(provider.Anthropic, PoolConfig{Keys: keys, Strategy: strategy, Clock: clk})
	if err != nil {
		b.Fatal(err)
	}
	return p
}

var benchStrategies = []Strategy{StrategyLeastLoaded, StrategyRoundRobin, StrategyRandom, StrategyWeighted}

// BenchmarkGetKey is the selection matrix: every strategy, 3/100/1,000
// keys, without limits and with local limits that are never reached
// ("/limits-unreached": every request goes through the limiters), on one
// goroutine ("/serial") and on GOMAXPROCS ("/parallel"), on the wall clock.
// Every case is a leaf of the same depth, so that one can be run alone. Each case
// should stay within 300 ns/op and 0 allocs/op, and 1,000 keys within 20%
// of 3.
func BenchmarkGetKey(b *testing.B) {
	for _, s := range benchStrategies {
		for _, withLimits := range []bool{false, true} {
			for _, n := range benchSizes {
				name := fmt.Sprintf("%s/keys=%d/no-limits", s, n)
				if withLimits {
					name = fmt.Sprintf("%s/keys=%d/limits-unreached", s, n)
				}
				b.Run(name+"/serial", func(b *testing.B) {
					benchGetKey(b, benchPool(b, n, withLimits, s), false)
				})
				b.Run(name+"/parallel", func(b *testing.B) {
					benchGetKey(b, benchPool(b, n, withLimits, s), true)
				})
			}
		}
	}
}

// BenchmarkGetKeyTickClock is BenchmarkGetKey's limits-unreached cases
// without the cost of reading the wall clock: the engine's own share.
func BenchmarkGetKeyTickClock(b *testing.B) {
	for _, s := range benchStrategies {
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%s/keys=%d/limits-unreached", s, n), func(b *testing.B) {
				benchGetKey(b, benchPoolClock(b, n, true, s, &tickClock{}), false)
			})
		}
	}
}

func benchGetKey(b *testing.B, p *KeyPool, parallel bool) {
	ctx := context.Background()
	b.ReportAllocs()
	if !parallel {
		for b.Loop() {
			if _, _, err := p.GetKey(ctx); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := p.GetKey(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkOutcome is a whole request's bookkeeping: Acquire with an input
// estimate, ReportResponse with Anthropic's headers, Settle with usage.
func BenchmarkOutcome(b *testing.B) {
	ctx := context.Background()
	// A full Anthropic header set, with limits no benchmark exhausts.
	h := http.Header{}
	for _, dim := range []string{"Requests", "Input-Tokens", "Output-Tokens", "Tokens"} {
		h["Anthropic-Ratelimit-"+dim+"-Limit"] = []string{"1000000000000"}
		h["Anthropic-Ratelimit-"+dim+"-Remaining"] = []string{"999999999999"}
		h["Anthropic-Ratelimit-"+dim+"-Reset"] = []string{"2026-03-01T10:00:01Z"}
	}
	h["Request-Id"] = []string{"req_011CSHoEeqs5C35K2UUqR7Fy"}
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			p := benchPool(b, n, true, StrategyLeastLoaded)
			b.ReportAllocs()
			for b.Loop() {
				l, err := p.Acquire(ctx, AcquireOptions{EstimatedInputTokens: 1200})
				if err != nil {
					b.Fatal(err)
				}
				p.ReportResponse(&l, 200, h)
				p.Settle(&l, Usage{InputTokens: 1000, OutputTokens: 300})
			}
		})
	}
}

func BenchmarkRegistryGet(b *testing.B) {
	r := NewRegistry()
	p := benchPoolOrFatal(b)
	for i := range 100 {
		r.Set("ns", fmt.Sprint(i), p)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Get("ns", "42")
		}
	})
}

func benchPoolOrFatal(b *testing.B) *KeyPool { return benchPool(b, 1, false, StrategyLeastLoaded) }
