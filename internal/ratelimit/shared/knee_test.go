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
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
	"github.com/keypool-dev/keypool-operator/internal/redistest"
)

// kneeConcurrency is the proxy's default in-flight cap: every request in
// flight may be waiting for a Reserve at once.
const kneeConcurrency = 512

// kneeSettings are the client settings compared: go-redis's default pool
// (10 connections per CPU) with the old 50 ms timeout, and the defaults.
var kneeSettings = []struct {
	name     string
	poolSize int
	timeout  time.Duration
}{
	{"old", 10 * runtime.GOMAXPROCS(0), 50 * time.Millisecond},
	{"default", DefaultPoolSize, DefaultTimeout},
}

// kneeWarmup and kneeSpan are the unmeasured start (the pool dials) and the
// measured span of one run.
const kneeWarmup, kneeSpan = time.Second, 3 * time.Second

// BenchmarkSharedReserveKnee offers admissions (Reserve, then Settle, on 8
// keys) at a fixed rate, each in its own goroutine, at most
// kneeConcurrency at once (beyond it an admission is shed, as the proxy
// answers 503), through a TCP proxy that delays every request to a real
// redis-server by 0, 1, 2 or 5 ms. It reports the admissions per second
// made in Redis, the share made on local limits instead, the share shed,
// the most in flight at once, and the outages the backend declared. Run it
// with -benchtime 1x: one run is the measurement.
func BenchmarkSharedReserveKnee(b *testing.B) {
	srv := redistest.Start(b)
	proxy := redistest.StartDelayProxy(b, srv.Addr())
	for _, delay := range []time.Duration{0, time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond} {
		for _, rate := range []int{1000, 2000, 4000, 8000} {
			for _, s := range kneeSettings {
				b.Run(fmt.Sprintf("latency=%v/rate=%d/%s", delay, rate, s.name), func(b *testing.B) {
					proxy.SetDelay(delay)
					for b.Loop() {
						r := kneeRun(b, proxy.URL(), s.poolSize, s.timeout, rate)
						total := float64(max(r.shared+r.local+r.shed, 1))
						b.ReportMetric(float64(r.shared)/kneeSpan.Seconds(), "shared/s")
						b.ReportMetric(float64(r.local)/total, "local-share")
						b.ReportMetric(float64(r.shed)/total, "shed-share")
						b.ReportMetric(float64(r.peak), "peak-in-flight")
						b.ReportMetric(float64(r.outages), "outages")
					}
				})
			}
		}
	}
}

type kneeResult struct{ shared, local, shed, peak, outages int64 }

// kneeRun is one run at rate admissions per second: what happened in the
// measured span, and the outages declared over the whole run.
func kneeRun(b *testing.B, url string, poolSize int, timeout time.Duration, rate int) kneeResult {
	c, err := Connect(ClientOptions{URL: url, Timeout: timeout, PoolSize: poolSize})
	if err != nil {
		b.Fatal(err)
	}
	be := NewBackend(c, Options{Timeout: timeout})
	defer func() { be.Close(); _ = c.Close() }()
	limits := ratelimit.Amounts{ratelimit.Requests: 1e12, ratelimit.InputTokens: 1e12, ratelimit.OutputTokens: 1e12}
	ls := make([]*Limiter, 8)
	for i := range ls {
		ls[i] = newShared(b, be, fmt.Sprintf("knee-%d", i), limits)
	}
	var shared, local, shed, inFlight, peak atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	from, to := start.Add(kneeWarmup), start.Add(kneeWarmup+kneeSpan)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for sent := 0; ; {
		now := <-tick.C
		if !now.Before(to) {
			break
		}
		measured := !now.Before(from)
		// As many as the rate asks for by now: a late tick catches up.
		for due := int(float64(rate) * now.Sub(start).Seconds()); sent < due; sent++ {
			n := inFlight.Add(1)
			if n > kneeConcurrency {
				inFlight.Add(-1)
				if measured {
					shed.Add(1)
				}
				continue
			}
			if p := peak.Load(); n > p {
				peak.CompareAndSwap(p, n)
			}
			l := ls[sent%len(ls)]
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer inFlight.Add(-1)
				r, ok := l.Reserve(time.Now(), 1000, ratelimit.LearnedOutput)
				if !ok {
					b.Error("reserve refused with limits of 1e12")
					return
				}
				switch {
				case !measured:
				case r.Remote:
					shared.Add(1)
				default:
					local.Add(1)
				}
				l.Settle(time.Now(), r, ratelimit.Usage{InputTokens: 900, OutputTokens: 200})
			}()
		}
	}
	wg.Wait()
	return kneeResult{shared.Load(), local.Load(), shed.Load(), peak.Load(), int64(be.outages.Load())}
}
