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
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/keypool-dev/keypool-operator/bench/internal/scaledclock"
	"github.com/keypool-dev/keypool-operator/internal/fakeprovider"
	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/provider"
)

// The mixed-model scenario (-models): providers limit each key per model
// class, so one saturated model must not hold back another. Four keys,
// each its own organisation, limit two model classes apart: "big" at
// 40 requests per minute per key, "small" at 20. Demand is 50% of the
// big class's bound and 150% of the small one's; the pool knows no limit
// and learns them from the headers of each model's answers.
var modelClasses = []modelClass{
	{model: "model-big", class: "big", rpm: 40, demand: 0.5},
	{model: "model-small", class: "small", rpm: 20, demand: 1.5},
}

const modelKeys = 4

type modelClass struct {
	model, class string
	rpm          int64
	demand       float64
}

// modelResult is one class's measurement over the window.
type modelResult struct {
	Class, Model       string
	Demand             float64
	Offered, Served    int // client requests arriving in the window; of those, served (retries included)
	Upstream, Up429    int // upstream requests in the window; of those, answered 429
	UpstreamOK         int
	BoundPerMin, Bound float64
}

// modelCounter counts the fake provider's answers per model while counting
// is on.
type modelCounter struct {
	next     http.Handler
	mu       sync.Mutex
	counting bool
	total    map[string]int
	ok       map[string]int
	limited  map[string]int
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(s int) {
	if r.status == 0 {
		r.status = s
	}
	r.ResponseWriter.WriteHeader(s)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (c *modelCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	rec := &statusRecorder{ResponseWriter: w}
	c.next.ServeHTTP(rec, r)
	model := provider.RequestModel(b)
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.counting {
		return
	}
	c.total[model]++
	switch rec.status {
	case 0, http.StatusOK:
		c.ok[model]++
	case http.StatusTooManyRequests:
		c.limited[model]++
	}
}

func (c *modelCounter) setCounting(on bool) {
	c.mu.Lock()
	c.counting = on
	c.mu.Unlock()
}

// modelsWorld starts the fake provider (buckets empty), counted per model,
// and the real proxy over one pool of its keys, which knows no limit.
func modelsWorld(p params, clk *scaledclock.Clock) (*servers, *modelCounter, error) {
	keys := make([]fakeprovider.Key, 0, modelKeys)
	limits := map[string]fakeprovider.Limits{}
	classOf := map[string]string{}
	for _, mc := range modelClasses {
		classOf[mc.model] = mc.class
	}
	for i := range modelKeys {
		k := fakeprovider.Key{Key: fmt.Sprintf("sk-models-%d", i), Org: fmt.Sprintf("org-%d", i)}
		keys = append(keys, k)
		l := fakeprovider.Limits{RPM: 1000, ITPM: 1_000_000, OTPM: 1_000_000, Classes: map[string]fakeprovider.Limits{}}
		for _, mc := range modelClasses {
			l.Classes[mc.class] = fakeprovider.Limits{RPM: mc.rpm, ITPM: 1_000_000, OTPM: 1_000_000}
		}
		limits[k.Org] = l
	}
	fake := fakeprovider.New(fakeprovider.Config{Keys: keys, Limits: limits, ModelClasses: classOf,
		StartEmpty: true, Clock: clk})
	counter := &modelCounter{next: fake, total: map[string]int{}, ok: map[string]int{}, limited: map[string]int{}}
	w := &servers{fake: fake, fakeSrv: httptest.NewServer(counter)}
	cfg, err := w.poolConfig(keypool.StrategyLeastLoaded, p, clk)
	if err == nil {
		for _, k := range keys {
			cfg.Keys = append(cfg.Keys, keypool.KeyConfig{ID: "sim/" + k.Key, APIKey: k.Key})
		}
		err = w.servePool(cfg)
	}
	if err != nil {
		w.close()
		return nil, nil, err
	}
	return w, counter, nil
}

// pickModel is the class of an arrival: each with its share of rate.
func pickModel(rng *rand.Rand, rate float64) int {
	i, x := 0, rng.Float64()*rate
	for ; i < len(modelClasses)-1; i++ {
		if x -= modelClasses[i].demand * float64(modelClasses[i].rpm*modelKeys) / 60; x < 0 {
			break
		}
	}
	return i
}

// runModels runs the mixed-model scenario with seed and writes mdPath.
func runModels(ctx context.Context, p params, hc *http.Client, seed uint64, mdPath string) error {
	clk := scaledclock.New(p.scale)
	w, counter, err := modelsWorld(p, clk)
	if err != nil {
		return err
	}
	defer w.close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	cl := &client{http: hc, clock: clk, done: done}
	start := clk.Now()
	winStart, winEnd := start.Add(p.warm), start.Add(p.warm+p.measure)
	stop := winEnd.Add(p.drain)
	rng := rand.New(rand.NewPCG(seed, 28))
	results := make([]modelResult, len(modelClasses))
	bodies := make([][]byte, len(modelClasses))
	var rate float64 // all classes, per simulated second
	for i, mc := range modelClasses {
		bodies[i] = []byte(`{"model":"` + mc.model + `","max_tokens":64,"messages":[{"role":"user","content":"hello"}]}`)
		rate += mc.demand * float64(mc.rpm*modelKeys) / 60
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := start
	counting := false
	for {
		now := clk.Now()
		if !counting && !now.Before(winStart) && now.Before(winEnd) {
			counter.setCounting(true)
			counting = true
		}
		if counting && !now.Before(winEnd) {
			counter.setCounting(false)
			counting = false
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
			continue
		}
		next = next.Add(time.Duration(rng.ExpFloat64() / rate * float64(time.Second)))
		i := pickModel(rng, rate)
		target, h := w.target(rng)
		counted := !now.Before(winStart) && now.Before(winEnd)
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := cl.do(ctx, target, h, bodies[i], i)
			if counted {
				mu.Lock()
				results[i].Offered++
				if o.ok {
					results[i].Served++
				}
				mu.Unlock()
			}
		}()
	}
	close(done)
	grace := time.AfterFunc(clk.Real(p.queueTimeout)+time.Second, cancel)
	wg.Wait()
	grace.Stop()

	for i, mc := range modelClasses {
		r := &results[i]
		r.Class, r.Model, r.Demand = mc.class, mc.model, mc.demand
		r.Upstream, r.UpstreamOK, r.Up429 = counter.total[mc.model], counter.ok[mc.model], counter.limited[mc.model]
		r.BoundPerMin = float64(mc.rpm * modelKeys)
		r.Bound = r.BoundPerMin * p.measure.Minutes()
	}
	md := modelsMarkdown(results, p, seed)
	fmt.Print(md)
	if mdPath == "" {
		return nil
	}
	if err := os.WriteFile(mdPath, []byte(md), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", mdPath, err)
	}
	return nil
}

func modelsMarkdown(rs []modelResult, p params, seed uint64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Mixed-model scenario\n\n%d keys, one organisation each; measured %s after a %s warm-up "+
		"(simulated, scale %.0f), seed %d; the pool knows no limit.\n\n", modelKeys, p.measure, p.warm, p.scale, seed)
	b.WriteString("| class | RPM per key | demand | offered | served (of offered) | upstream 200 / bound | upstream 429 |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		served, limited := ratio(float64(r.Served), float64(r.Offered)), ratio(float64(r.Up429), float64(r.Upstream))
		fmt.Fprintf(&b, "| %s | %.0f | %.0f%% | %d | %d (%.1f%%) | %d / %.0f (%.1f%%) | %d of %d (%.1f%%) |\n",
			r.Class, r.BoundPerMin/modelKeys, r.Demand*100, r.Offered, r.Served, 100*served,
			r.UpstreamOK, r.Bound, 100*float64(r.UpstreamOK)/r.Bound, r.Up429, r.Upstream, 100*limited)
	}
	return b.String()
}
