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
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
	"github.com/keypool-dev/keypool-operator/internal/redistest"
)

// A corrupt value on one limiter's key (garbage where the script expects
// MessagePack, or a list where it expects a string: WRONGTYPE) fails that
// limiter's calls only. It serves from its own fallback and is reported
// once; every other limiter of the replica stays in Redis and the backend
// never reports an outage.
func TestCallErrorFailsOnlyItsLimiter(t *testing.T) {
	for _, tc := range []struct {
		name    string
		corrupt func(ctx context.Context, srv *redistest.Server, key string) error
	}{
		{"garbage", func(ctx context.Context, srv *redistest.Server, key string) error {
			return srv.Client().Set(ctx, key, "\xc1 not messagepack", 0).Err()
		}},
		{"wrongtype", func(ctx context.Context, srv *redistest.Server, key string) error {
			c := srv.Client()
			if err := c.Del(ctx, key).Err(); err != nil {
				return err
			}
			return c.RPush(ctx, key, "x").Err()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redistest.Start(t)
			var outages atomic.Int32
			var mu sync.Mutex
			reported := map[string]int{}
			b := newBackend(t, srv, Options{
				ProbeInterval: 20 * time.Millisecond,
				OnDegraded: func(degraded bool, _ error) {
					if degraded {
						outages.Add(1)
					}
				},
				OnCallError: func(key string, _ error) {
					mu.Lock()
					reported[key]++
					mu.Unlock()
				},
			})
			limits := ratelimit.Amounts{ratelimit.Requests: 1_000_000}
			bad := newShared(t, b, "team-a/broken/key/k1", limits)
			good := newShared(t, b, "team-b/healthy/key/k1", limits)
			for _, l := range []*Limiter{bad, good} {
				if r, ok := l.Reserve(time.Now(), 0, ratelimit.LearnedOutput); !ok || !r.Remote {
					t.Fatalf("before the corruption: %+v %v, want a reservation in Redis", r, ok)
				}
			}
			if err := tc.corrupt(context.Background(), srv, bad.key); err != nil {
				t.Fatal(err)
			}

			// Long enough for the broken limiter to retry Redis several
			// times (each failure keeps it local for one probe interval)
			// and for the monitor to probe many times.
			deadline := time.Now().Add(500 * time.Millisecond)
			badLocal, goodLocal, goodShared := 0, 0, 0
			for time.Now().Before(deadline) {
				r, ok := bad.Reserve(time.Now(), 0, ratelimit.LearnedOutput)
				if !ok {
					t.Fatal("the broken limiter refused: its fallback has room")
				}
				if !r.Remote {
					badLocal++
				}
				bad.Settle(time.Now(), r, ratelimit.Usage{})
				r, ok = good.Reserve(time.Now(), 0, ratelimit.LearnedOutput)
				switch {
				case !ok:
					t.Fatal("the healthy limiter refused")
				case r.Remote:
					goodShared++
				default:
					goodLocal++
				}
				good.Settle(time.Now(), r, ratelimit.Usage{})
			}
			flush(t, b)
			t.Logf("broken limiter: %d local; healthy limiter: %d in Redis, %d local; call errors %d",
				badLocal, goodShared, goodLocal, b.CallErrors())
			if goodLocal != 0 || b.Degraded() || outages.Load() != 0 {
				t.Fatalf("the healthy limiter served %d locally, degraded=%v after %d outages: "+
					"one key's corrupt value took the whole replica off Redis", goodLocal, b.Degraded(), outages.Load())
			}
			if badLocal == 0 || b.CallErrors() < 2 {
				t.Fatalf("the broken limiter served %d locally with %d call errors, want its fallback after retries",
					badLocal, b.CallErrors())
			}
			mu.Lock()
			defer mu.Unlock()
			if len(reported) != 1 || reported[bad.key] != 1 {
				t.Fatalf("reported %v, want the broken limiter's key once", reported)
			}
		})
	}
}

// One call that times out is no outage: that limiter serves it (and the
// rest of the probe interval) from its fallback, the other limiters and
// the Degraded state are untouched, and it is back in Redis after the
// interval.
func TestOneSlowCallIsNoOutage(t *testing.T) {
	srv := redistest.Start(t)
	p := redistest.StartDelayProxy(t, srv.Addr())
	const timeout, probe = 100 * time.Millisecond, 300 * time.Millisecond
	c, err := NewClient(p.URL(), "", timeout)
	if err != nil {
		t.Fatal(err)
	}
	var outages atomic.Int32
	b := NewBackend(c, Options{Timeout: timeout, ProbeInterval: probe,
		OnDegraded: func(degraded bool, _ error) {
			if degraded {
				outages.Add(1)
			}
		}})
	t.Cleanup(func() { b.Close(); _ = c.Close() })
	limits := ratelimit.Amounts{ratelimit.Requests: 1_000_000}
	slow, other := newShared(t, b, "slow", limits), newShared(t, b, "other", limits)

	p.SetDelay(3 * timeout)
	r, ok := slow.Reserve(time.Now(), 0, ratelimit.LearnedOutput)
	p.SetDelay(0)
	if !ok || r.Remote {
		t.Fatalf("the call that timed out: %+v %v, want a local reservation", r, ok)
	}
	if r, ok := other.Reserve(time.Now(), 0, ratelimit.LearnedOutput); !ok || !r.Remote {
		t.Fatalf("another limiter after one timeout: %+v %v, want a reservation in Redis", r, ok)
	}
	if b.Degraded() || outages.Load() != 0 {
		t.Fatalf("one timed-out call started an outage (degraded=%v, %d outages)", b.Degraded(), outages.Load())
	}
	// Back in Redis once the probe interval after the failure has passed.
	later := time.Now().Add(probe)
	if r, ok := slow.Reserve(later, 0, ratelimit.LearnedOutput); !ok || !r.Remote {
		t.Fatalf("the slow limiter a probe interval later: %+v %v, want a reservation in Redis", r, ok)
	}
}
