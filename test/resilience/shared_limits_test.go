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

package resilience

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/fakeprovider"
	"github.com/keypool-dev/keypool-operator/internal/redistest"
	"github.com/keypool-dev/keypool-operator/internal/testproc"
)

// The shared-limits tests run managers against one control plane, in
// front of a fake provider whose keys have known limits, at 150% of the
// pool's capacity: with limits shared through Redis (single, Cluster,
// Sentinel), and with per-replica limits, which must over-send (else the
// load would not tell the two apart).
const (
	sharedReplicas = 3
	sharedKeys     = 3
	// sharedRPM is each key's limit, at the provider and in the KeyPool:
	// 10 requests per second per key, 30 for the pool.
	sharedRPM = 600
	// sharedDemand is 150% of the pool's capacity, in requests per second.
	sharedDemand = 1.5 * sharedKeys * sharedRPM / 60
	// sharedWarmup lets the pools learn from the provider that its buckets
	// start empty (as brief §7 asks, so that a full first minute does not
	// inflate a short run); only what follows is measured.
	sharedWarmup  = 4 * time.Second
	sharedMeasure = 12 * time.Second
	// The warm-up and the measured period end after the load has sent as
	// many requests as the demand gives them: the test awaits the load,
	// and capacity is taken over the span really measured.
	sharedWarmupRequests  = int64(sharedDemand * sharedWarmup / time.Second)
	sharedMeasureRequests = int64(sharedDemand * sharedMeasure / time.Second)
)

// sharedResult is one mode's measurement.
type sharedResult struct {
	upstream, upstream429, delivered int64
	clientOK, client429, clientOther int
	capacity                         float64
	// outages is how many times a manager lost Redis (and used local
	// limits at limit/replicas until it answered again).
	outages int
}

func (r sharedResult) String() string {
	return fmt.Sprintf("upstream %d requests, %d answered 429 (%.1f%%); delivered %d of a capacity of %.0f (%.2f); "+
		"clients: %d OK, %d 429 from the pool, %d other; Redis outages %d",
		r.upstream, r.upstream429, 100*r.share429(), r.delivered, r.capacity, r.deliveredShare(),
		r.clientOK, r.client429, r.clientOther, r.outages)
}

func (r sharedResult) share429() float64 {
	if r.upstream == 0 {
		return 0
	}
	return float64(r.upstream429) / float64(r.upstream)
}

func (r sharedResult) deliveredShare() float64 { return float64(r.delivered) / r.capacity }

// TestReplicasShareLimitsThroughRedis: three managers sharing limits
// through a single Redis, a 3-master Redis Cluster or a Sentinel-watched
// Redis: the provider answers at most 1% of the requests with 429, the
// pool delivers at least 90% of the provider's capacity (what one replica
// alone delivers), and no client request ends other than in the
// upstream's answer or the pool's 429. Without Redis the same load gets
// more than 1% of 429s. A Sentinel failover during the measured load
// loses no request and over-sends at most one second of demand.
func TestReplicasShareLimitsThroughRedis(t *testing.T) {
	c := getCluster(t)
	requireFlag(t, c.manager, "redis-mode")
	t.Logf("%d replicas, %d keys at %d RPM, demand %.0f req/s (150%%), measured %v after a %v warm-up",
		sharedReplicas, sharedKeys, sharedRPM, sharedDemand, sharedMeasure, sharedWarmup)

	local := c.measureShared(t, "per-replica", nil, nil)
	t.Logf("per-replica limits (no --redis-url): %s", local)
	checkClients(t, "per-replica", local)
	if s := local.share429(); s <= 0.01 {
		t.Errorf("per-replica limits: %.1f%% of upstream requests answered 429, want > 1%%: "+
			"the load does not tell shared limits from per-replica ones", 100*s)
	}

	replicas := fmt.Sprintf("--replicas=%d", sharedReplicas)
	for _, tc := range []struct {
		name, mode string
		// start starts Redis and returns its URL and, for a failover run,
		// what to do during the measured load.
		start func(t *testing.T) (url string, during func())
	}{
		{"single", "single", func(t *testing.T) (string, func()) { return redistest.Start(t).URL(), nil }},
		{"cluster", "cluster", func(t *testing.T) (string, func()) { return redistest.StartCluster(t, 3).URL(), nil }},
		{"sentinel", "sentinel", func(t *testing.T) (string, func()) {
			return redistest.StartSentinelGroup(t, "keypool").URL(), nil
		}},
		{"sentinel-failover", "sentinel", func(t *testing.T) (string, func()) {
			g := redistest.StartSentinelGroup(t, "keypool")
			return g.URL(), func() {
				g.Failover()
				// Scripts reach a replica only as their effects: script
				// calls on the new master are the managers' own, proof
				// that they followed the switch.
				awaitScriptCalls(t, g.Replica)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, during := tc.start(t)
			// The default --redis-timeout and pool, as installed.
			r := c.measureShared(t, "shared-"+tc.name,
				[]string{"--redis-url=" + url, "--redis-mode=" + tc.mode, replicas}, during)
			t.Logf("shared limits (%s): %s", tc.name, r)
			checkClients(t, tc.name, r)
			if during == nil {
				checkShared(t, tc.name, r)
				return
			}
			// Replication is asynchronous: what the old master admitted
			// and had not yet passed on when the replica took over is
			// admitted again, a burst bounded by the switch time.
			if d := r.deliveredShare(); d < 0.9 {
				t.Errorf("%s: delivered %.2f of the capacity, want >= 0.90", tc.name, d)
			}
			if r.upstream429 > int64(sharedDemand) {
				t.Errorf("%s: %d upstream 429s, want at most one second of demand (%d)", tc.name,
					r.upstream429, int64(sharedDemand))
			}
		})
	}
}

// awaitScriptCalls waits until srv has run a script call (EVALSHA or EVAL).
func awaitScriptCalls(t *testing.T, srv *redistest.Server) {
	t.Helper()
	c := srv.Client()
	err := testproc.Poll(10*time.Second, 20*time.Millisecond, func() error {
		info, err := c.Info(context.Background(), "commandstats").Result()
		if err != nil {
			return err
		}
		if !strings.Contains(info, "cmdstat_evalsha:") && !strings.Contains(info, "cmdstat_eval:") {
			return fmt.Errorf("no script call on %s since the failover", srv.Addr())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkClients asserts that every client request ended in the upstream's
// answer or the pool's 429: none lost, none a proxy error.
func checkClients(t *testing.T, mode string, r sharedResult) {
	t.Helper()
	if r.clientOther > 0 {
		t.Errorf("%s: %d client requests ended other than 200 or the pool's 429", mode, r.clientOther)
	}
}

// checkShared asserts the bounds of shared limits: at most 1% of upstream
// 429s, at least 90% of the capacity delivered.
func checkShared(t *testing.T, mode string, r sharedResult) {
	t.Helper()
	if s := r.share429(); s > 0.01 {
		t.Errorf("%s: %.1f%% of upstream requests answered 429, want <= 1%%", mode, 100*s)
	}
	if d := r.deliveredShare(); d < 0.9 {
		t.Errorf("%s: delivered %.2f of the capacity, want >= 0.90 (one replica's)", mode, d)
	}
}

// measureShared runs one mode: a fresh fake provider and KeyPool, three
// managers started with extra flags, the load spread over their proxies,
// and during (if any) run once the measured period has begun.
func (c *cluster) measureShared(t *testing.T, mode string, extra []string, during func()) sharedResult {
	t.Helper()
	fake, fakeURL, pool := c.sharedPool(t, mode)
	flags := append([]string{"--allowed-upstreams=" + c.fakeURL + "," + fakeURL}, extra...)
	ms := make([]*manager, sharedReplicas)
	targets := make([]string, sharedReplicas)
	for i := range ms {
		ms[i] = c.startManager(t, fmt.Sprintf("manager-%s-%d", mode, i), flags...)
		targets[i] = ms[i].proxyURL
	}
	for _, m := range ms {
		waitPoolServed(t, m, pool)
	}
	res := measureLoad(t, mode, fake, pool, targets, during)
	for _, m := range ms {
		m.Stop(10 * time.Second)
		res.outages += strings.Count(m.Output(), "Redis unreachable")
	}
	return res
}

// sharedPool makes a fresh fake provider, whose keys start empty and
// allow sharedRPM each, and a KeyPool of those keys named after mode.
func (c *cluster) sharedPool(t *testing.T, mode string) (fake *fakeprovider.Provider, fakeURL, pool string) {
	t.Helper()
	keys := make([]fakeprovider.Key, sharedKeys)
	limits := map[string]fakeprovider.Limits{}
	var data []string
	for i := range keys {
		keys[i] = fakeprovider.Key{Key: fmt.Sprintf("shared-%s-key-%d", mode, i), Org: fmt.Sprintf("org-%d", i)}
		limits[keys[i].Org] = fakeprovider.Limits{RPM: sharedRPM}
		data = append(data, fmt.Sprintf("k%d: %s", i, keys[i].Key))
	}
	fake = fakeprovider.New(fakeprovider.Config{Keys: keys, Limits: limits, StartEmpty: true})
	fakeSrv := httptest.NewServer(fake)
	t.Cleanup(fakeSrv.Close)

	pool = "limited-" + mode
	manifest := fmt.Sprintf(`
apiVersion: v1
kind: Secret
metadata: {name: %[1]s, namespace: resilience, labels: {llm.keypool.dev/secret-type: provider-keys}}
stringData: {%[2]s}
---
apiVersion: llm.keypool.dev/v1alpha1
kind: KeyPool
metadata: {name: %[1]s, namespace: resilience}
spec:
  upstream: %[3]s
  keys: [{secretRef: {name: %[1]s}, rpmLimit: %[4]d}]
  clientAuth: {secretRef: {name: clients}}
  queueTimeout: 500ms
`, pool, strings.Join(data, ", "), fakeSrv.URL, sharedRPM)
	if _, err := c.kubectl.Run(manifest, "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.kubectl.Run(manifest, "delete", "--wait=false", "-f", "-") })
	return fake, fakeSrv.URL, pool
}

// measureLoad sends the demand, open loop (a request starts on time
// whether or not the previous ones have ended), split evenly over the
// proxies at targets; resets the provider's counts after the warm-up, runs
// during (if any) and measures until the measured requests are sent.
func measureLoad(t *testing.T, mode string, fake *fakeprovider.Provider, pool string, targets []string,
	during func()) sharedResult {
	t.Helper()
	interval := time.Duration(float64(time.Second) * float64(len(targets)) / sharedDemand)
	var mu sync.Mutex
	var res sharedResult
	measuring := false
	stop := make(chan struct{})
	warmedUp, measured := make(chan struct{}), make(chan struct{})
	var sent atomic.Int64
	var wg sync.WaitGroup
	for _, target := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				switch sent.Add(1) {
				case sharedWarmupRequests:
					close(warmedUp)
				case sharedWarmupRequests + sharedMeasureRequests:
					close(measured)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					code := callProxy(target, pool)
					mu.Lock()
					defer mu.Unlock()
					if !measuring {
						return
					}
					switch code {
					case http.StatusOK:
						res.clientOK++
					case http.StatusTooManyRequests:
						res.client429++
					default:
						res.clientOther++
						t.Logf("%s: a client request ended with %d", mode, code)
					}
				}()
			}
		}()
	}
	<-warmedUp
	mu.Lock()
	fake.ResetStats()
	measuring = true
	mu.Unlock()
	start := time.Now()
	if during != nil {
		during()
		t.Logf("%s: what runs during the load took %v", mode, time.Since(start))
		select {
		case <-measured:
			t.Errorf("%s: the measured period ended before what runs during it (%v)", mode, time.Since(start))
		default:
		}
	}
	<-measured
	st := fake.Stats()
	elapsed := time.Since(start)
	mu.Lock()
	measuring = false
	mu.Unlock()
	close(stop)
	wg.Wait()

	res.upstream, res.upstream429, res.delivered = st.Total.Requests, st.Total.RateLimited, st.Total.OK
	res.capacity = elapsed.Seconds() * sharedKeys * sharedRPM / 60
	return res
}

// waitPoolServed waits until m's proxy serves pool: any answer from the
// pool (200, or 429 while the provider's buckets are still empty), not the
// 401 of a pool that is not built yet.
func waitPoolServed(t *testing.T, m *manager, pool string) {
	t.Helper()
	err := testproc.Poll(60*time.Second, 50*time.Millisecond, func() error {
		if code := m.call(pool); code != http.StatusOK && code != http.StatusTooManyRequests {
			return fmt.Errorf("%s: pool %s answered %d", m.Name, pool, code)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, m.Output())
	}
}
