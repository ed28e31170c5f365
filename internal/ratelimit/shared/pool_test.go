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

package shared_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/provider"
	"github.com/keypool-dev/keypool-operator/internal/ratelimit/shared"
	"github.com/keypool-dev/keypool-operator/internal/redistest"
)

// These tests run whole pools (the proxy's engine) as replicas sharing one
// real Redis through PoolConfig.NewLimiter.

const poolWindow = time.Second

// newReplicaPool is one replica: its own Redis connection and pool.
func newReplicaPool(t *testing.T, srv *redistest.Server, rpm int64, replicas int,
	onDegraded func(bool, error)) (*keypool.KeyPool, *shared.Backend) {
	t.Helper()
	c, err := shared.NewClient(srv.URL(), "", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	b := shared.NewBackend(c, shared.Options{
		Timeout: time.Second, Window: poolWindow, Replicas: replicas, ProbeInterval: 50 * time.Millisecond,
		OnDegraded: onDegraded,
	})
	t.Cleanup(func() {
		b.Close()
		_ = c.Close()
	})
	p, err := keypool.NewKeyPool(provider.Anthropic, keypool.PoolConfig{
		Keys:         []keypool.KeyConfig{{ID: "s/k1", APIKey: "v1", RPMLimit: rpm}},
		QueueTimeout: 500 * time.Millisecond,
		NewLimiter:   b.Factory("ns/pool"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return p, b
}

func TestPoolsShareOneLimit(t *testing.T) {
	srv := redistest.Start(t)
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprintf("replicas=%d", n), func(t *testing.T) {
			const limit = 100 // per poolWindow
			pools := make([]*keypool.KeyPool, n)
			backends := make([]*shared.Backend, n)
			for i := range n {
				pools[i], backends[i] = newReplicaPool(t, srv, limit, n, nil)
			}
			// A fresh key name per subtest: the state of the last one is
			// still in Redis.
			for _, p := range pools {
				if err := p.Update(keypool.PoolConfig{
					Keys:         []keypool.KeyConfig{{ID: fmt.Sprintf("s/k%d", n), APIKey: "v", RPMLimit: limit}},
					QueueTimeout: 500 * time.Millisecond,
				}); err != nil {
					t.Fatal(err)
				}
			}
			start := time.Now()
			from, to := start.Add(1200*time.Millisecond), start.Add(4200*time.Millisecond)
			stalls := redistest.NewStalls(from, to, poolWindow)
			var granted atomic.Int64
			var wg sync.WaitGroup
			for _, p := range pools {
				for range 2 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for now := time.Now(); now.Before(to); now = time.Now() {
							stalls.Attempt(now)
							l, err := p.Acquire(context.Background(), keypool.AcquireOptions{})
							if err != nil {
								var ex *keypool.ExhaustedError
								if !errors.As(err, &ex) {
									t.Errorf("acquire: %v", err)
									return
								}
								continue
							}
							if at := time.Now(); !at.Before(from) && at.Before(to) {
								granted.Add(1)
							}
							p.Settle(&l, keypool.Usage{})
						}
					}()
				}
			}
			wg.Wait()
			for _, b := range backends {
				if b.Degraded() {
					t.Fatal("a replica fell back to local limits")
				}
			}
			want := float64(limit) * float64(to.Sub(from)) / float64(poolWindow)
			got := float64(granted.Load())
			up, down := stalls.Allowance(poolWindow)
			t.Logf("%d pools granted %.0f in 3 windows, limit %.0f (ratio %.3f); load stalls allow +%.3f/-%.3f windows",
				n, got, want, got/want, up, down)
			if hi, lo := want*1.01+up*limit, want*0.97-down*limit; got > hi || got < lo {
				t.Fatalf("granted %.0f, want within [%.0f, %.0f] (0.97 and 1.01 x %.0f, widened by the load's stalls)",
					got, lo, hi, want)
			}
		})
	}
}

func TestPoolKeepsServingWithoutRedis(t *testing.T) {
	srv := redistest.Start(t)
	events := make(chan bool, 16)
	p, b := newReplicaPool(t, srv, 6000, 2, func(d bool, _ error) { events <- d }) // 100/s shared, 50/s each without Redis
	ctx := context.Background()
	l, err := p.Acquire(ctx, keypool.AcquireOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Settle(&l, keypool.Usage{})

	srv.Kill()
	// Every Acquire returns at once (the first after the kill within the
	// call timeout), none with an error other than exhausted capacity.
	granted := 0
	for range 200 {
		startAt := time.Now()
		qctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		l, err := p.Acquire(qctx, keypool.AcquireOptions{})
		cancel()
		if d := time.Since(startAt); d > 2*time.Second {
			t.Fatalf("acquire took %v without Redis", d)
		}
		if err != nil {
			var ex *keypool.ExhaustedError
			if !errors.As(err, &ex) {
				t.Fatalf("acquire without Redis: %v", err)
			}
			continue
		}
		granted++
		p.Settle(&l, keypool.Usage{})
	}
	// The outage is declared once failures came in a row (the probes'
	// too), not at the first one.
	select {
	case d := <-events:
		if !d {
			t.Fatal("recovered before the outage was declared")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("not degraded with Redis killed")
	}
	if !b.Degraded() {
		t.Fatal("not degraded after the outage was declared")
	}
	if granted == 0 {
		t.Fatal("nothing granted without Redis: the fallback must serve")
	}
	srv.Restart()
	deadline := time.After(10 * time.Second)
	for degraded := true; degraded; {
		select {
		case degraded = <-events:
		case <-deadline:
			t.Fatal("still degraded after Redis came back")
		}
	}
	l, err = p.Acquire(ctx, keypool.AcquireOptions{})
	if err != nil {
		t.Fatalf("acquire after Redis came back: %v", err)
	}
	p.Settle(&l, keypool.Usage{})
}
