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

package ratelimit_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/provider"
	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
	"github.com/keypool-dev/keypool-operator/internal/ratelimit/shared"
	"github.com/keypool-dev/keypool-operator/internal/redistest"
)

// BenchmarkPoolAcquireSettle is one admission through a whole pool (the
// proxy's engine: Acquire, then Settle with real usage) with local limits
// and with limits shared through a real local Redis. "parallel" runs
// GOMAXPROCS x 8 requesters on one pool: in shared mode the round trips
// overlap, because the pool does not hold its lock across them.
func BenchmarkPoolAcquireSettle(b *testing.B) {
	srv := redistest.Start(b)
	c, err := shared.NewClient(srv.URL(), "", time.Second)
	if err != nil {
		b.Fatal(err)
	}
	be := shared.NewBackend(c, shared.Options{Timeout: time.Second})
	b.Cleanup(func() {
		be.Close()
		_ = c.Close()
	})
	keys := make([]keypool.KeyConfig, 3)
	for i := range keys {
		keys[i] = keypool.KeyConfig{ID: fmt.Sprintf("s/k%d", i), APIKey: "v", RPMLimit: 1e12, ITPMLimit: 1e12, OTPMLimit: 1e12}
	}
	for _, mode := range []struct {
		name    string
		factory ratelimit.Factory
	}{
		{"local", nil},
		{"redis", be.Factory("bench/pool")},
	} {
		p, err := keypool.NewKeyPool(provider.Anthropic, keypool.PoolConfig{Keys: keys, NewLimiter: mode.factory})
		if err != nil {
			b.Fatal(err)
		}
		opts := keypool.AcquireOptions{EstimatedInputTokens: 1000}
		use := keypool.Usage{InputTokens: 900, OutputTokens: 200}
		b.Run(mode.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				l, err := p.Acquire(context.Background(), opts)
				if err != nil {
					b.Fatal(err)
				}
				p.Settle(&l, use)
			}
		})
		b.Run(mode.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					l, err := p.Acquire(context.Background(), opts)
					if err != nil {
						b.Error(err)
						return
					}
					p.Settle(&l, use)
				}
			})
		})
	}
	if !be.Flush(10*time.Second) || be.Degraded() || be.Dropped() > 0 {
		b.Fatalf("degraded %v, dropped %d", be.Degraded(), be.Dropped())
	}
}
