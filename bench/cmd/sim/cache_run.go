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
	"strings"
	"sync"
	"time"

	"github.com/keypool-dev/keypool-operator/bench/internal/scaledclock"
	"github.com/keypool-dev/keypool-operator/internal/fakeprovider"
	"github.com/keypool-dev/keypool-operator/internal/keypool"
)

// cacheWarmMin is the least warm-up of a cache run: conversations last
// minutes, so the number in flight, and with it the request rate, only
// settles after about one conversation's length.
const cacheWarmMin = 3 * time.Minute

// cacheScenario is one prompt-cache run: the conversational workload at
// demand against one configuration.
type cacheScenario struct {
	pinned   bool             // one key per client, no proxy
	strategy keypool.Strategy // pool strategy (not pinned)
	affinity bool             // the pool's Affinity
	demand   float64
	seed     uint64
}

// config names the configuration, without demand and seed.
func (s cacheScenario) config() string {
	switch {
	case s.pinned:
		return "single-key"
	case s.affinity:
		return string(s.strategy) + "+affinity"
	}
	return string(s.strategy)
}

func (s cacheScenario) name() string {
	return fmt.Sprintf("%s/%.0f%%/seed%d", s.config(), s.demand*100, s.seed)
}

// cacheScenarios is every configuration at every demand, seed by seed.
func cacheScenarios(seeds int) []cacheScenario {
	configs := []cacheScenario{
		{pinned: true},
		{strategy: keypool.StrategyLeastLoaded},
		{strategy: keypool.StrategyLeastLoaded, affinity: true},
		{strategy: keypool.StrategyRoundRobin},
		{strategy: keypool.StrategyRoundRobin, affinity: true},
	}
	var out []cacheScenario
	for _, d := range []float64{0.5, 1.0, 1.5} {
		for seed := 1; seed <= seeds; seed++ {
			for _, c := range configs {
				c.demand, c.seed = d, uint64(seed)
				out = append(out, c)
			}
		}
	}
	return out
}

// newCacheWorld starts the fake provider (buckets empty, prompt cache on
// with its 5-minute default) and, for a pool, the proxy over the six keys
// with their limit groups known.
func newCacheWorld(sc cacheScenario, p params, clk *scaledclock.Clock) (*servers, error) {
	fake := fakeprovider.New(fakeprovider.Config{Keys: fakeKeys(), Limits: limits, StartEmpty: true, Clock: clk})
	w := &servers{fake: fake, fakeSrv: httptest.NewServer(fake)}
	if sc.pinned {
		return w, nil
	}
	cfg, err := w.poolConfig(sc.strategy, p, clk)
	if err != nil {
		w.close()
		return nil, err
	}
	cfg.Affinity = sc.affinity
	for _, k := range keys {
		cfg.Keys = append(cfg.Keys, keypool.KeyConfig{ID: "sim/" + k.value, APIKey: k.value, Weight: k.weight, LimitGroup: k.group})
	}
	if err := w.servePool(cfg); err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

// runCacheScenario starts conversations as a Poisson process whose request
// rate is sc.demand of convCapacity, for warm+measure+drain; the fake's
// counters at the window's edges give what was served and cached.
func runCacheScenario(ctx context.Context, sc cacheScenario, p params, hc *http.Client) (*cacheResult, error) {
	clk := scaledclock.New(p.scale)
	w, err := newCacheWorld(sc, p, clk)
	if err != nil {
		return nil, err
	}
	defer w.close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	cl := &client{http: hc, clock: clk, done: done}

	warm := max(p.warm, cacheWarmMin)
	start := clk.Now()
	winStart, winEnd := start.Add(warm), start.Add(warm+p.measure)
	stop := winEnd.Add(p.drain)
	turns, _, _, _ := convMeans()
	convRate := sc.demand * convCapacity() / turns / time.Minute.Seconds() // conversations per simulated second
	rng := rand.New(rand.NewPCG(sc.seed, uint64(sc.demand*1000)))
	// Keys are drawn from their own source, so that every configuration
	// of a seed sees the same conversations at the same times.
	keyRng := rand.New(rand.NewPCG(sc.seed, 1))

	var (
		wg            sync.WaitGroup
		before, after fakeprovider.Stats
		snapped       [2]bool
		mu            sync.Mutex
		turnsOK       int64 // turns served that were sent in the window
		turnsLost     int64 // turns that failed (the conversation ends)
	)
	next, id := start, 0
	for {
		now := clk.Now()
		if !snapped[0] && !now.Before(winStart) {
			before, snapped[0] = w.fake.Stats(), true
		}
		if !snapped[1] && !now.Before(winEnd) {
			after, snapped[1] = w.fake.Stats(), true
		}
		if !now.Before(stop) {
			break
		}
		if now.Before(next) {
			wait := next.Sub(now)
			for _, edge := range []time.Time{winStart, winEnd, stop} {
				if d := edge.Sub(now); d > 0 && d < wait {
					wait = d
				}
			}
			clk.Sleep(wait, nil)
			continue
		}
		next = next.Add(time.Duration(rng.ExpFloat64() / convRate * float64(time.Second)))
		id++
		plan := drawConversation(rng, id)
		target, h := w.target(keyRng)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, lost := converse(ctx, cl, &plan, target, h, winStart, winEnd)
			mu.Lock()
			turnsOK, turnsLost = turnsOK+ok, turnsLost+lost
			mu.Unlock()
		}()
	}
	close(done)
	grace := time.AfterFunc(clk.Real(p.queueTimeout)+time.Second, cancel)
	wg.Wait()
	grace.Stop()

	r := newCacheResult(sc, p.measure, totalDiff(before, after))
	r.TurnsOK, r.TurnsLost = turnsOK, turnsLost
	if w.pool != nil {
		st := w.pool.AffinityStats()
		r.AffinityHits, r.AffinityMoves, r.AffinityMisses = st.Hits, st.Moves, st.Misses
	}
	return r, nil
}

// converse sends plan's turns, each after its think time, until one fails
// (the conversation ends) or the run is over; it returns how many turns
// sent in [winStart, winEnd) succeeded and failed.
func converse(ctx context.Context, cl *client, plan *conversationPlan, target string, h http.Header,
	winStart, winEnd time.Time) (ok, lost int64) {
	for t := range plan.user {
		if t > 0 && !cl.clock.Sleep(plan.think[t], cl.done) {
			return ok, lost
		}
		sent := cl.clock.Now()
		o := cl.do(ctx, target, h, plan.turnBody(t), 0)
		if !sent.Before(winStart) && sent.Before(winEnd) {
			if o.ok {
				ok++
			} else {
				lost++
			}
		}
		if !o.ok {
			return ok, lost
		}
	}
	return ok, lost
}

// runCache runs the prompt-cache scenarios (those whose name contains only)
// and writes their report.
func runCache(ctx context.Context, p params, hc *http.Client, seeds int, only, jsonPath, mdPath string) error {
	turns, prompt, charged, _ := convMeans()
	rep := &cacheReport{
		Generated: time.Now(), Scale: p.scale, WarmSim: max(p.warm, cacheWarmMin).String(), MeasureSim: p.measure.String(),
		DrainSim: p.drain.String(), Capacity: convCapacity(), UncachedCapacity: convUncachedCapacity(),
		MeanTurns: turns, MeanPrompt: prompt, MeanCharged: charged,
	}
	for _, sc := range cacheScenarios(seeds) {
		if only != "" && !strings.Contains(sc.name(), only) {
			continue
		}
		began := time.Now()
		r, err := runCacheScenario(ctx, sc, p, hc)
		if err != nil {
			return fmt.Errorf("scenario %s: %w", sc.name(), err)
		}
		rep.Results = append(rep.Results, r)
		fmt.Printf("%-34s OK/min %6.1f  upstream 429 %5.1f%%  cache-read %5.1f%%  turns %4d ok %3d lost  (%s)\n",
			sc.name(), r.OKPerMin, r.Upstream429Share*100, r.CacheReadShare*100, r.TurnsOK, r.TurnsLost,
			time.Since(began).Round(time.Millisecond))
		if t, ok := hc.Transport.(*http.Transport); ok {
			t.CloseIdleConnections()
		}
	}
	if err := rep.write(jsonPath, mdPath); err != nil {
		return err
	}
	fmt.Printf("wrote %s and %s\n", mdPath, jsonPath)
	return nil
}
