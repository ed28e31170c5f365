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
	"fmt"
	"strings"
)

// methodology is the explanation printed under the results table. The
// accounts, the workload, what binds each organisation and the scale come
// from the values the run used.
func methodology(scale float64) string {
	r := strings.NewReplacer("{accounts}", accounts(), "{workload}", workload(), "{binding}", binding(),
		"{scale}", fmt.Sprintf("%gx", scale),
		"{cpu}", fmt.Sprintf("%.0f ms", 5*scale), "{timer}", fmt.Sprintf("%.0f ms", scale))
	return r.Replace(methodologyText)
}

// accounts describes the fake provider's organisations, their keys and limits.
func accounts() string {
	parts := make([]string, 0, len(orgs))
	for _, o := range orgs {
		var vals []string
		for _, k := range keys {
			if k.org == o {
				vals = append(vals, k.value)
			}
		}
		l := limits[o]
		share := "alone,"
		if len(vals) > 1 {
			share = "sharing"
		}
		parts = append(parts, fmt.Sprintf("%s = %s %s RPM %s / ITPM %s / OTPM %s", o, strings.Join(vals, " + "), share,
			thousands(l.RPM), thousands(l.ITPM), thousands(l.OTPM)))
	}
	return strings.Join(parts, "; ")
}

// workload describes the request mix.
func workload() string {
	parts := make([]string, len(mix))
	for i, c := range mix {
		parts[i] = fmt.Sprintf("%.0f%% %s (%s in / %s out)", c.share*100, strings.ReplaceAll(c.name, "-stream", " streamed"),
			thousands(c.input), thousands(c.output))
	}
	return strings.Join(parts, ", ")
}

// binding names the limit that binds each organisation under the mix.
func binding() string {
	in, out := meanRequest()
	parts := make([]string, len(orgs))
	for i, o := range orgs {
		l := limits[o]
		dim, c := "requests", float64(l.RPM)
		if v := float64(l.ITPM) / in; l.ITPM > 0 && v < c {
			dim, c = "input tokens", v
		}
		if v := float64(l.OTPM) / out; l.OTPM > 0 && v < c {
			dim, c = "output tokens", v
		}
		parts[i] = fmt.Sprintf("%s %s (%.1f requests/min)", o, dim, c)
	}
	return strings.Join(parts, ", ")
}

// thousands renders n with comma separators.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// trueTotalRPM is the organisations' request limits, each counted once.
func trueTotalRPM() int64 {
	var t int64
	for _, o := range orgs {
		t += limits[o].RPM
	}
	return t
}

const methodologyText = `## How to read it

- **Accounts** (fake provider, buckets start empty): {accounts}.
- **Workload** (Poisson arrivals): {workload}; output sizes set with the fake's
  ` + "`[[output_tokens=N]]`" + ` directive. Demand is a share of the *nominal mix bound* (below, for a one-minute
  window with empty buckets and unlimited demand). Each organisation alone serving the mix would be bound by:
  {binding}; a pool that routes each class to where it fits best can do more, which the bound allows for.
- **The window.** The measured window opens when the warm-up ends. At that instant, and again when the
  window closes, the harness reads the fake's counters and every organisation's bucket levels (` + "`Levels`" + `).
  Served figures are the fake's own counts inside the window: requests admitted (charged a request), input
  and output tokens charged, and, per class, requests answered 200 (counted by body length as the fake
  writes the status). Nothing before the window counts as served; what the warm-up left in the buckets is
  counted in the bound instead, so a bank cannot push a score over 100%.
- **The bound.** For each organisation and dimension the window's *budget* is the bucket level when the
  window opened plus one window of refill at the limit (the bucket cannot admit more), plus, for output
  tokens only, the debt the bucket was in when the window closed (output is charged after admission, so a
  window can be charged more than it refilled). The bound is the largest rate t (requests/min) such that
  some split of every class over the organisations serves each class at t times its share of the requests
  offered in the window, keeps every organisation within every budget, and serves no more than was
  offered: a linear programme of 17 variables (` + "`cmd/sim/bound.go`" + `, solved by a small simplex in
  ` + "`lp.go`" + `). Any engine serving the offered mix is a feasible point, so none can exceed it; an engine
  that starves a class may exceed it in requests, which the token and per-class columns then show below
  100%. Input and output token bounds are t times the mix's mean input and output. Where demand, not the
  limits, bounds t (below capacity), the served count includes requests that arrived before the window and
  were admitted in it (queued or retried) and leaves out those that arrived in it and were admitted after: the
  ratio then sits near 100% and may pass it by that carry-over, most for the pinned clients, whose
  throttled requests retry into the window.
- **Old figure** (*binding share*, last column of every run): the figure reported before issue 16, kept
  only for comparison: each organisation's largest share of any of its three limits consumed, weighted by
  its capacity under the mix. It tops out by construction (the maximum of three noisy shares, a
  denominator below what the limits allow, warm-up surplus spilling into the window).
- **Configurations**: *pinned* is today's baseline: six clients, each holding one key and calling
  the provider directly, sharing the demand equally. *learned*: one pool of the six keys with no
  limits and no limit groups configured (everything learned from headers). *grouped*: the same
  with ` + "`limitGroup`" + ` set for the two organisations' keys. *halved*: grouped with every limit configured at
  half its true value, a setting that wastes capacity, to show the metric can score low. Each pool sits
  behind the real proxy (` + "`proxy.New`" + `) on loopback, with failover maxAttempts 3.
- **Clients**: on a 429 a client waits exactly the Retry-After it was given and retries (up to 8
  times), while new demand keeps arriving; every attempt carries ` + "`X-Stainless-Retry-Count`" + ` as the
  official SDKs send it. *1st retry at RA ok* is the share of throttled requests whose first retry, sent at
  the advised time, succeeded; requests whose advised time fell after the run (demand stops at the end of the
  drain) sent no retry: this share leaves them out, the column *retry after the run* counts them, and the
  findings also give the share with them counted as failures. *Advised RA* is the first Retry-After
  throttled requests got; *RA lateness* is the time from the first advised retry time to the eventual
  success (includes time queued in the pool and the response itself).
- **Time**: the fake provider and the pool share one scaled clock (the pool's clock also drives its
  queued waits). Every duration in the table, every Retry-After and every reset header is in
  simulated time; the proxy's Retry-After header is whole *simulated* seconds, which the clients
  convert back to real time by dividing by the scale. What scaling cannot compress: real CPU and
  loopback latency (5 ms real = {cpu} simulated at {scale}) and Go timer granularity
  (about 1 ms real = {timer} simulated at {scale}), which make the clients' retries slightly late and responses
  slow by simulated standards; on a real clock those effects are {scale} smaller.
  *max lag* is the longest the workload generator overslept, in simulated time: on a busy host
  (other jobs on the same 2 cores) the processes stall while the scaled clock runs on, which costs
  a little capacity and delays retries; compare it with the 1 s Retry-After granularity.
`
