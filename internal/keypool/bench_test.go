package keypool

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/provider"
)

var benchSizes = []int{3, 100, 1000}

// benchPool returns a pool of n keys on the wall clock. limited keys have
// request and token limits far above what a benchmark uses, so that every
// request goes through the limiters and the least-loaded heap.
func benchPool(b *testing.B, n int, limited bool, strategy Strategy) *KeyPool {
	b.Helper()
	return benchPoolClock(b, n, limited, strategy, nil)
}

// tickClock is a cheap monotonic clock that advances 100ns per reading: it
// takes the cost of reading the wall clock (about 200ns on a loaded VM with
// kvm-clock) out of the engine's figures.
type tickClock struct{ n atomic.Int64 }

func (c *tickClock) Now() time.Time { return t0.Add(time.Duration(c.n.Add(100))) }

func benchPoolClock(b *testing.B, n int, limited bool, strategy Strategy, clock Clock) *KeyPool {
	b.Helper()
	keys := keyCfgs(n)
	if limited {
		for i := range keys {
			keys[i].RPMLimit, keys[i].ITPMLimit, keys[i].OTPMLimit = 1e12, 1e12, 1e12
		}
	}
	p, err := NewKeyPool(provider.Anthropic, PoolConfig{Keys: keys, Strategy: strategy, Clock: clock})
	if err != nil {
		b.Fatal(err)
	}
	return p
}

func BenchmarkGetKey(b *testing.B) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		limited bool
		clock   func() Clock
	}{
		{"", false, func() Clock { return nil }},
		{"/limited", true, func() Clock { return nil }},
		{"/tickclock", false, func() Clock { return &tickClock{} }},
		{"/limited/tickclock", true, func() Clock { return &tickClock{} }},
	} {
		for _, n := range benchSizes {
			name, limited := fmt.Sprintf("keys=%d", n)+tc.name, tc.limited
			b.Run(name, func(b *testing.B) {
				p := benchPoolClock(b, n, limited, StrategyLeastLoaded, tc.clock())
				b.ReportAllocs()
				for b.Loop() {
					if _, _, err := p.GetKey(ctx); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(name+"/parallel", func(b *testing.B) {
				p := benchPoolClock(b, n, limited, StrategyLeastLoaded, tc.clock())
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, _, err := p.GetKey(ctx); err != nil {
							b.Fatal(err)
						}
					}
				})
			})
		}
	}
}

func BenchmarkGetKeyStrategies(b *testing.B) {
	ctx := context.Background()
	for _, s := range []Strategy{StrategyRoundRobin, StrategyRandom, StrategyWeighted} {
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%s/keys=%d", s, n), func(b *testing.B) {
				p := benchPool(b, n, true, s)
				b.ReportAllocs()
				for b.Loop() {
					if _, _, err := p.GetKey(ctx); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
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
