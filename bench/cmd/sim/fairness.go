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
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/keypool"
)

// Fairness modes: three clients share the pool, one greedy.
const (
	modeFairUnnamed = "fair-unnamed" // the clients' tokens carry no names: one queue, no fair share
	modeFairNamed   = "fair-named"   // named tokens: per-client queues, weighted fair share
)

// simClient is one team sharing the pool in a fairness scenario.
type simClient struct {
	name   string
	token  string
	demand float64 // offered load as a share of aggregate capacity
}

// fairClients: one greedy team at three times the pool's capacity, two
// polite teams at 15% each.
var fairClients = []simClient{
	{name: "greedy", token: "tok-greedy", demand: 3.0},
	{name: "polite-1", token: "tok-polite-1", demand: 0.15},
	{name: "polite-2", token: "tok-polite-2", demand: 0.15},
}

// isFair reports whether the scenario is a fairness one.
func (s scenario) isFair() bool { return s.mode == modeFairUnnamed || s.mode == modeFairNamed }

// fairScenarios are the fairness runs: the same three clients without and
// with names, on the grouped least-loaded pool.
func fairScenarios() []scenario {
	var total float64
	for _, c := range fairClients {
		total += c.demand
	}
	out := make([]scenario, 0, 2)
	for _, mode := range []string{modeFairUnnamed, modeFairNamed} {
		out = append(out, scenario{mode: mode, strategy: keypool.StrategyLeastLoaded, demand: total, seed: 1})
	}
	return out
}

// fairAccess lets the fairness clients in, naming their tokens in the
// named mode.
func fairAccess(a *keypool.Access, named bool) {
	a.AllowUnauthenticated = false
	for _, c := range fairClients {
		a.ClientTokenHashes = append(a.ClientTokenHashes, sha256.Sum256([]byte(c.token)))
		if named {
			a.ClientNames = append(a.ClientNames, c.name)
		}
	}
}

// pickClient draws the client of the next arrival in proportion to the
// clients' demands: the sum of their Poisson processes.
func pickClient(rng *rand.Rand) int {
	var total float64
	for _, c := range fairClients {
		total += c.demand
	}
	x := rng.Float64() * total
	for i, c := range fairClients {
		if x < c.demand {
			return i
		}
		x -= c.demand
	}
	return len(fairClients) - 1
}

// withClient sets the client's token on a request header.
func withClient(h http.Header, i int) { h.Set("X-Api-Key", fairClients[i].token) }

// clientResult is one fairness client's numbers in the measured window.
type clientResult struct {
	Name     string  `json:"name"`
	Demand   float64 `json:"demand"`
	Requests int     `json:"requests"`
	// FirstOK is the share of requests whose first attempt succeeded;
	// Served the share that succeeded at all (after 429s and retries).
	FirstOK float64 `json:"first_attempt_ok"`
	Served  float64 `json:"served"`
	// OKPerMinute is the client's successful requests per simulated minute.
	OKPerMinute float64 `json:"ok_per_minute"`
	// WaitP50/P99: simulated time from sending the first attempt to its
	// response headers (queue wait plus the fake's answer, which is immediate).
	WaitP50    time.Duration `json:"first_attempt_wait_p50_ns"`
	WaitP99    time.Duration `json:"first_attempt_wait_p99_ns"`
	Client429s int           `json:"client_429s"`
}

// summariseClients splits a fairness run's outcomes by client.
func summariseClients(outcomes []outcome, minutes float64) []clientResult {
	out := make([]clientResult, len(fairClients))
	waits := make([][]time.Duration, len(fairClients))
	for i, c := range fairClients {
		out[i] = clientResult{Name: c.name, Demand: c.demand}
	}
	for _, o := range outcomes {
		r := &out[o.client]
		r.Requests++
		r.Client429s += o.throttled
		if o.ok {
			r.Served++
			r.OKPerMinute++
		}
		if o.firstOK {
			r.FirstOK++
		}
		if o.hasFirstWait {
			waits[o.client] = append(waits[o.client], o.firstWait)
		}
	}
	for i := range out {
		r := &out[i]
		if r.Requests > 0 {
			r.FirstOK /= float64(r.Requests)
			r.Served /= float64(r.Requests)
		}
		r.OKPerMinute /= minutes
		if w := waits[i]; len(w) > 0 {
			slices.Sort(w)
			r.WaitP50 = w[len(w)/2]
			r.WaitP99 = w[min(len(w)-1, (len(w)*99)/100)]
		}
	}
	return out
}

// fairnessSection is the fairness runs' table and what they measured, each
// sentence computed from the results; empty when none ran.
func (r *report) fairnessSection() string {
	var unnamed, named *result
	var b strings.Builder
	for _, x := range r.Results {
		if x.Clients == nil {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("## Fair share of a saturated pool\n\n")
			b.WriteString("Three clients share the grouped least-loaded pool, each with its own token: " + clientMix() +
				". Without names the tokens are one anonymous client (one queue); with names each is a client of " +
				"weight 1 (a queue each, weighted deficit round-robin). Wait: simulated time from sending a " +
				"request's first attempt to its response headers (queue wait plus the fake's immediate answer).\n\n")
			b.WriteString("| configuration | client | demand | requests | 1st attempt ok | served (with retries) | " +
				"ok req/min | wait p50 / p99 | client 429s |\n|---|---|---:|---:|---:|---:|---:|---|---:|\n")
		}
		for _, c := range x.Clients {
			fmt.Fprintf(&b, "| %s | %s | %.0f%% | %d | %s | %s | %.1f | %s / %s | %d |\n", x.Mode, c.Name, c.Demand*100,
				c.Requests, pct(c.FirstOK), pct(c.Served), c.OKPerMinute, secs(c.WaitP50), secs(c.WaitP99), c.Client429s)
		}
		switch x.Mode {
		case modeFairUnnamed:
			unnamed = x
		case modeFairNamed:
			named = x
		}
	}
	if b.Len() == 0 {
		return ""
	}
	b.WriteString("\nIn this run:\n\n")
	for _, x := range []*result{unnamed, named} {
		if x == nil {
			continue
		}
		ok, wait := politeWorst(x)
		fmt.Fprintf(&b, "- %s: the polite clients' first attempts succeeded %s (the worse of the two), their p99 wait "+
			"was %s at worst; the pool served %s of the mix bound in requests, with %s of upstream requests answered 429.\n",
			x.Mode, pct(ok), secs(wait), pct(x.Metric.RequestsOverBound), pct(x.Upstream429Share))
	}
	if unnamed != nil && named != nil {
		fmt.Fprintf(&b, "- Requests served with names are %s of those without.\n",
			pct(named.Metric.ServedRequests/unnamed.Metric.ServedRequests))
	}
	b.WriteString("\n")
	return b.String()
}

// politeWorst is the lowest first-attempt success share and the highest
// p99 wait among the polite clients (every client but the first).
func politeWorst(x *result) (ok float64, wait time.Duration) {
	ok = 1
	for _, c := range x.Clients[1:] {
		ok = min(ok, c.FirstOK)
		wait = max(wait, c.WaitP99)
	}
	return ok, wait
}

// clientMix describes fairClients from their values.
func clientMix() string {
	parts := make([]string, len(fairClients))
	for i, c := range fairClients {
		parts[i] = fmt.Sprintf("%s at %.0f%% of capacity", c.name, c.demand*100)
	}
	return strings.Join(parts, ", ")
}
