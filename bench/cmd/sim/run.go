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

package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"time"

	"github.com/keypool-dev/keypool-operator/bench/internal/scaledclock"
	"github.com/keypool-dev/keypool-operator/internal/provider"
	"github.com/keypool-dev/keypool-operator/internal/proxytest"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/keypool-dev/keypool-operator/internal/fakeprovider"
	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/proxy"
)

// Pool configurations compared by the simulation.
const (
	modePinned  = "pinned"  // baseline: every client holds one key, no proxy
	modeLearned = "learned" // pool knows no limits and no groups
	modeGrouped = "grouped" // pool knows the limit groups, limits learned
	// modeHalved is modeGrouped with every limit configured at half its
	// true value: a setting that wastes half the capacity, which the
	// metric must show.
	modeHalved = "halved"
)

// scenario is one configuration to simulate.
type scenario struct {
	mode     string
	strategy keypool.Strategy // empty for modePinned
	demand   float64          // offered load as a share of the nominal mix bound
	seed     uint64           // workload seed
}

func (s scenario) name() string {
	if s.isFair() {
		return fmt.Sprintf("%s/%.0f%%/seed%d", s.mode, s.demand*100, s.seed)
	}
	if s.mode == modePinned {
		return fmt.Sprintf("pinned/%.0f%%/seed%d", s.demand*100, s.seed)
	}
	return fmt.Sprintf("%s/%s/%.0f%%/seed%d", s.mode, s.strategy, s.demand*100, s.seed)
}

// params are the run's timing, all in simulated time except scale.
type params struct {
	scale        float64       // simulated seconds per real second
	warm         time.Duration // discarded start (pool learning, buckets filling)
	measure      time.Duration // measured window
	drain        time.Duration // demand continues while retries finish
	queueTimeout time.Duration // pool's queueTimeout
}

// world is the fake provider and, unless pinned, the proxy in front of it.
type world struct {
	servers
	throttle *throttleCounter
	classes  *classCounter
}

// servers are a run's fake provider, served on fakeSrv, and, unless the
// clients hold keys themselves (pinned), the real proxy over one pool.
type servers struct {
	fake     *fakeprovider.Provider
	pool     *keypool.KeyPool // nil when pinned
	fakeSrv  *httptest.Server
	proxySrv *httptest.Server
}

func (w *servers) close() {
	if w.proxySrv != nil {
		w.proxySrv.Close()
	}
	w.fakeSrv.Close()
}

// poolConfig is the pool's configuration open to every client, with the
// fake as its upstream; the caller adds the keys.
func (w *servers) poolConfig(strategy keypool.Strategy, p params, clk *scaledclock.Clock) (keypool.PoolConfig, error) {
	upstream, err := url.Parse(w.fakeSrv.URL)
	if err != nil {
		return keypool.PoolConfig{}, fmt.Errorf("parse fake URL: %w", err)
	}
	return keypool.PoolConfig{
		Strategy:     strategy,
		QueueTimeout: p.queueTimeout,
		Access:       proxytest.Access(upstream, 3), // no tokens: open to every client
		Clock:        clk,
	}, nil
}

// servePool builds the pool of cfg and serves it through the real proxy.
func (w *servers) servePool(cfg keypool.PoolConfig) error {
	pool, err := keypool.NewKeyPool(provider.Anthropic, cfg)
	if err != nil {
		return fmt.Errorf("new pool: %w", err)
	}
	w.pool = pool
	reg := keypool.NewRegistry()
	reg.Set("sim", "pool", pool)
	w.proxySrv = httptest.NewServer(proxy.New(reg, proxy.Options{Logger: logr.Discard(), Metrics: prometheus.NewRegistry()}))
	return nil
}

// newWorld starts the fake provider (buckets empty) and, for a pool mode,
// the real proxy over one pool of the six keys, all on loopback.
func newWorld(sc scenario, p params, clk *scaledclock.Clock, bs bodies) (*world, error) {
	fake := fakeprovider.New(fakeprovider.Config{
		Keys: fakeKeys(), Limits: limits, StartEmpty: true, Clock: clk,
	})
	if admitOnMaxTokens {
		fake.SetAdmitOutputOnMaxTokens(true)
	}
	cc := newClassCounter(bs)
	tc := newThrottleCounter(fake, cc)
	w := &world{servers: servers{fake: fake, fakeSrv: httptest.NewServer(tc)}, throttle: tc, classes: cc}
	if sc.mode == modePinned {
		return w, nil
	}
	cfg, err := w.poolConfig(sc.strategy, p, clk)
	if err != nil {
		w.close()
		return nil, err
	}
	if sc.isFair() {
		fairAccess(&cfg.Access, sc.mode == modeFairNamed)
	}
	if sc.mode == modeNamed {
		namedAccess(&cfg.Access)
	}
	for _, k := range keys {
		kc := keypool.KeyConfig{ID: "sim/" + k.value, APIKey: k.value, Weight: k.weight}
		if sc.mode == modeGrouped || sc.mode == modeHalved || sc.isFair() {
			kc.LimitGroup = k.group
		}
		if sc.mode == modeHalved {
			l := limits[k.org]
			kc.RPMLimit, kc.ITPMLimit, kc.OTPMLimit = l.RPM/2, l.ITPM/2, l.OTPM/2
		}
		cfg.Keys = append(cfg.Keys, kc)
	}
	if err := w.servePool(cfg); err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

// run simulates one scenario: Poisson arrivals at sc.demand of the
// aggregate capacity for warm+measure+drain; outcomes of requests that
// arrive in the measured window are kept, and the fake's counters are read
// at the window's edges.
func run(ctx context.Context, sc scenario, p params, bs bodies, hc *http.Client) (*result, error) {
	clk := scaledclock.New(p.scale)
	w, err := newWorld(sc, p, clk, bs)
	if err != nil {
		return nil, err
	}
	defer w.close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	cl := &client{http: hc, clock: clk, done: done}

	start := clk.Now()
	winStart, winEnd := start.Add(p.warm), start.Add(p.warm+p.measure)
	stop := winEnd.Add(p.drain)
	rate := sc.demand * nominalCapacity() / time.Minute.Seconds() // requests per simulated second
	rng := rand.New(rand.NewPCG(sc.seed, uint64(sc.demand*1000)))

	var (
		mu       sync.Mutex
		outcomes []outcome
		wg       sync.WaitGroup
		before   fakeprovider.Stats
		after    fakeprovider.Stats
		levels   [2]map[string]fakeprovider.Levels
		offered  = make([]float64, len(mix))
		snapped  [2]bool
		maxLag   time.Duration
		poolRPM  int64
	)
	next := start
	for {
		now := clk.Now()
		if !snapped[0] && !now.Before(winStart) {
			before, snapped[0] = w.fake.Stats(), true
			levels[0] = w.fake.Levels()
			w.throttle.setCounting(true)
		}
		if !snapped[1] && !now.Before(winEnd) {
			after, snapped[1] = w.fake.Stats(), true
			levels[1] = w.fake.Levels()
			w.throttle.setCounting(false)
			if w.pool != nil {
				poolRPM = w.pool.GetStats().TotalRPM
			}
		}
		if !now.Before(stop) {
			break
		}
		if now.Before(next) {
			wait := next.Sub(now)
			for _, edge := range []time.Time{winStart, winEnd} {
				if d := edge.Sub(now); d > 0 && d < wait {
					wait = d
				}
			}
			clk.Sleep(wait, nil)
			maxLag = max(maxLag, clk.Now().Sub(now)-wait)
			continue
		}
		next = next.Add(time.Duration(rng.ExpFloat64() / rate * float64(time.Second)))
		class := pickClass(rng)
		target, h := w.target(rng)
		who := 0
		if sc.isFair() {
			who = pickClient(rng)
			withClient(h, who)
		}
		if sc.mode == modeNamed {
			withNamedClient(h)
		}
		counted := !now.Before(winStart) && now.Before(winEnd)
		if counted {
			offered[class]++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := cl.do(ctx, target, h, bs[class], class)
			o.client = who
			if counted {
				mu.Lock()
				outcomes = append(outcomes, o)
				mu.Unlock()
			}
		}()
	}
	close(done)
	// Requests still queued in the pool are cut off after a short grace.
	grace := time.AfterFunc(clk.Real(p.queueTimeout)+time.Second, cancel)
	wg.Wait()
	grace.Stop()
	upstream := diffStats(before, after)
	r := summarise(sc, p, outcomes, upstream)
	if err := r.measureAgainstBound(levels, offered, w.classes.counts(), p.measure.Minutes()); err != nil {
		return nil, err
	}
	if sc.isFair() {
		r.Clients = summariseClients(outcomes, p.measure.Minutes())
	}
	r.Upstream429By = w.throttle.counts()
	r.MaxLag = maxLag
	r.PoolRPM = poolRPM
	return r, nil
}

// target returns where a new client request goes: the pool's proxy
// endpoint, or, pinned, the fake directly with one of the keys (each client
// holds one key; the clients share the demand equally).
func (w *servers) target(rng *rand.Rand) (string, http.Header) {
	h := http.Header{"Content-Type": {"application/json"}, "Anthropic-Version": {"2023-06-01"}}
	if w.proxySrv != nil {
		return w.proxySrv.URL + "/pools/sim/pool/v1/messages", h
	}
	h.Set("X-Api-Key", keys[rng.IntN(len(keys))].value)
	return w.fakeSrv.URL + "/v1/messages", h
}
