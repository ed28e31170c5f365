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
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
	"github.com/keypool-dev/keypool-operator/internal/redistest"
)

// BenchmarkSharedReserveSettle is the cost of one admission in shared mode
// against a real local Redis, next to BenchmarkReserveSettle for Local:
// "reserve+settle" is Reserve (one loopback round trip running the script)
// and Settle (queued, then pipelined by the background sender, whose script
// run shares the machine); "reserve" is the round trip alone.
func BenchmarkSharedReserveSettle(b *testing.B) {
	srv := redistest.Start(b)
	be := newBackend(b, srv, Options{})
	limits := ratelimit.Amounts{ratelimit.Requests: 1e12, ratelimit.InputTokens: 1e12, ratelimit.OutputTokens: 1e12}
	b.Run("reserve+settle", func(b *testing.B) {
		l := newShared(b, be, "bench", limits)
		b.ReportAllocs()
		for b.Loop() {
			now := time.Now()
			r, ok := l.Reserve(now, 1000, ratelimit.LearnedOutput)
			if !ok {
				b.Fatal("reserve failed")
			}
			l.Settle(now, r, ratelimit.Usage{InputTokens: 900, OutputTokens: 200})
		}
		b.StopTimer()
		flush(b, be)
	})
	b.Run("reserve", func(b *testing.B) {
		l := newShared(b, be, "bench-reserve", limits)
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := l.Reserve(time.Now(), 1000, ratelimit.LearnedOutput); !ok {
				b.Fatal("reserve failed")
			}
		}
	})
	if be.Degraded() || be.Dropped() > 0 {
		b.Fatalf("degraded %v, dropped %d", be.Degraded(), be.Dropped())
	}
}

// BenchmarkRedisPing is one bare loopback round trip to the same kind of
// server: the floor under BenchmarkSharedReserveSettle.
func BenchmarkRedisPing(b *testing.B) {
	srv := redistest.Start(b)
	c, err := NewClient(srv.URL(), "", time.Second)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Ping(b.Context()).Err(); err != nil {
			b.Fatal(err)
		}
	}
}
