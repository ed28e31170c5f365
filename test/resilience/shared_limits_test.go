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

// The shared-limits test runs three managers against one control plane,
// with clients spread over their three proxies, in front of a fake provider
// whose keys have known limits, at 150% of the pool's capacity: once with
// limits shared through one Redis (--redis-url), once with today's
// per-replica limits.
const (
	sharedReplicas = 3
	sharedKeys     = 3
	// sharedRPM is each key's limit, at the provider and in the KeyPool:
	// 10 requests per second per key, 30 for the pool.
	sharedRPM = 600
	// sharedDemand is 150% of the pool's capacity, in requests per second.
	sharedDemand = 1.5 * sharedKeys * sharedRPM / 60
	// sharedInterval is the time between two requests to one proxy.
	sharedInterval = time.Second * sharedReplicas * 60 * 2 / (3 * sharedKeys * sharedRPM)
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

// TestReplicasShareLimitsThroughRedis: with Redis, the provider answers
// at most 1% of the requests with 429 and the pool delivers at least 90%
// of the provider's capacity (what one replica alone delivers); without
// Redis the share of 429s is measured and reported.
func TestReplicasShareLimitsThroughRedis(t *testing.T) {
	c := getCluster(t)
	requireFlag(t, c.manager, "redis-url")
	srv := redistest.Start(t)

	local := c.measureShared(t, "per-replica", nil)
	// The default --redis-timeout and pool, as installed.
	shared := c.measureShared(t, "shared", []string{"--redis-url=" + srv.URL(),
		fmt.Sprintf("--replicas=%d", sharedReplicas)})
	t.Logf("%d replicas, %d keys at %d RPM, demand %.0f req/s (150%%), measured %v after a %v warm-up",
		sharedReplicas, sharedKeys, sharedRPM, sharedDemand, sharedMeasure, sharedWarmup)
	t.Logf("per-replica limits (no --redis-url): %s", local)
	t.Logf("shared limits (--redis-url):         %s", shared)

	for name, r := range map[string]sharedResult{"per-replica": local, "shared": shared} {
		if r.clientOther > 0 {
			t.Errorf("%s: %d client requests ended other than 200 or the pool's 429", name, r.clientOther)
		}
	}
	if s := shared.share429(); s > 0.01 {
		t.Errorf("shared limits: %.1f%% of upstream requests answered 429, want <= 1%%", 100*s)
	}
	if d := shared.deliveredShare(); d < 0.9 {
		t.Errorf("shared limits delivered %.2f of the capacity, want >= 0.90 (one replica's)", d)
	}
}

// measureShared runs one mode: a fresh fake provider and KeyPool, three
// managers started with extra flags, demand at 150% for the warm-up, then
// the measured period.
func (c *cluster) measureShared(t *testing.T, mode string, extra []string) sharedResult {
	t.Helper()
	keys := make([]fakeprovider.Key, sharedKeys)
	limits := map[string]fakeprovider.Limits{}
	var data []string
	for i := range keys {
		keys[i] = fakeprovider.Key{Key: fmt.Sprintf("shared-%s-key-%d", mode, i), Org: fmt.Sprintf("org-%d", i)}
		limits[keys[i].Org] = fakeprovider.Limits{RPM: sharedRPM}
		data = append(data, fmt.Sprintf("k%d: %s", i, keys[i].Key))
	}
	fake := fakeprovider.New(fakeprovider.Config{Keys: keys, Limits: limits, StartEmpty: true})
	fakeSrv := httptest.NewServer(fake)
	t.Cleanup(fakeSrv.Close)

	pool := "limited-" + mode
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

	flags := append([]string{"--allowed-upstreams=" + c.fakeURL + "," + fakeSrv.URL}, extra...)
	ms := make([]*manager, sharedReplicas)
	for i := range ms {
		ms[i] = c.startManager(t, fmt.Sprintf("manager-%s-%d", mode, i), flags...)
	}
	for _, m := range ms {
		waitPoolServed(t, m, pool)
	}

	// Demand: every proxy gets a third, open loop (a request starts on time
	// whether or not the previous ones have ended).
	var mu sync.Mutex
	var res sharedResult
	measuring := false
	stop := make(chan struct{})
	warmedUp, measured := make(chan struct{}), make(chan struct{})
	var sent atomic.Int64
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(sharedInterval)
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
					code := m.call(pool)
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
	for _, m := range ms {
		m.Stop(10 * time.Second)
		res.outages += strings.Count(m.Output(), "Redis unreachable")
	}
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
