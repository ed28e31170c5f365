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
	"slices"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/fakeprovider"
)

// orgUsage is what one organisation consumed in the measured window, per
// dimension, as a share of its limit over the window.
type orgUsage struct {
	Requests    float64 `json:"requests"`
	InputTokens float64 `json:"input_tokens"`
	OutputTok   float64 `json:"output_tokens"`
	Binding     float64 `json:"binding"` // the largest of the three
}

// result is one scenario's numbers.
type result struct {
	Scenario string  `json:"scenario"`
	Mode     string  `json:"mode"`
	Strategy string  `json:"strategy,omitempty"`
	Demand   float64 `json:"demand"`

	Seed uint64 `json:"seed"`

	// Metric is the run measured against the window's mix bound.
	Metric *againstBound `json:"metric"`

	// Capacity is the figure of the simulation before issue 16, kept for
	// comparison only: each organisation's largest share of any of its
	// limits consumed in the window, weighted by its capacity under the
	// mix. It tops out by construction (see methodology.go).
	Capacity float64             `json:"old_binding_share"`
	Orgs     map[string]orgUsage `json:"orgs"`
	// PoolRPM is the pool's own total of request limits at the end of the
	// window (GetStats().TotalRPM): the true total is 160; more means the
	// pool counts an organisation's limit once per key.
	PoolRPM int64 `json:"pool_total_rpm"`

	UpstreamRequests int64   `json:"upstream_requests"`
	Upstream429      int64   `json:"upstream_429"`
	Upstream429Share float64 `json:"upstream_429_share"`
	// Upstream429By counts the window's upstream 429s by organisation and
	// the dimension that was short.
	Upstream429By   map[string]map[string]int64 `json:"upstream_429_by_org_dimension"`
	OKPerMinute     float64                     `json:"ok_per_minute"`
	InputPerMinute  float64                     `json:"input_tokens_per_minute"`
	OutputPerMinute float64                     `json:"output_tokens_per_minute"`

	ClientRequests int     `json:"client_requests"` // arrived in the window
	ClientOK       int     `json:"client_ok"`
	Served         float64 `json:"served"` // ClientOK / ClientRequests
	Client429s     int     `json:"client_429s"`
	Client429NoRA  int     `json:"client_429_without_retry_after"`
	ClientErrors   int     `json:"client_errors"` // non-429 failures
	// ErrorStatuses counts ClientErrors by HTTP status (-1: transport error).
	ErrorStatuses map[int]int `json:"error_statuses,omitempty"`
	ErrorSample   string      `json:"error_sample,omitempty"` // one transport error
	// MaxLag is the longest the workload generator overslept (simulated
	// time): how far the host's scheduling distorted the run.
	MaxLag time.Duration `json:"max_lag_ns"`
	GaveUp int           `json:"gave_up"`

	// FirstRetryOK is the share of requests throttled at least once whose
	// first retry, at the advised time, succeeded.
	FirstRetries int     `json:"first_retries"`
	FirstRetryOK float64 `json:"first_retry_ok"`
	// NotRetried counts throttled requests whose first retry, at the
	// advised time, fell after the run ended: neither a success nor a
	// failure of the advice.
	NotRetried int `json:"not_retried"`
	// AdvisedBooked counts throttled requests whose first Retry-After the
	// proxy said it booked for their retry (X-Keypool-Retry-Booked: true);
	// the others were given an estimate.
	AdvisedBooked int `json:"advised_booked"`
	// AdvisedP50/P95/Max: the first Retry-After throttled requests got.
	AdvisedP50 time.Duration `json:"advised_retry_after_p50_ns"`
	AdvisedP95 time.Duration `json:"advised_retry_after_p95_ns"`
	AdvisedMax time.Duration `json:"advised_retry_after_max_ns"`
	// Lateness: for requests that were throttled and then succeeded, the
	// simulated time from the first advised retry time to success.
	LatenessP50 time.Duration `json:"lateness_p50_ns"`
	LatenessP95 time.Duration `json:"lateness_p95_ns"`
	LatenessMax time.Duration `json:"lateness_max_ns"`

	// Clients are the per-client numbers of a fairness run; nil otherwise.
	Clients []clientResult `json:"clients,omitempty"`
}

// diffStats is after - before, per key.
func diffStats(before, after fakeprovider.Stats) map[string]fakeprovider.KeyStats {
	out := make(map[string]fakeprovider.KeyStats, len(after.Keys))
	for k, a := range after.Keys {
		b := before.Keys[k]
		out[k] = fakeprovider.KeyStats{
			Org:          a.Org,
			Requests:     a.Requests - b.Requests,
			OK:           a.OK - b.OK,
			RateLimited:  a.RateLimited - b.RateLimited,
			Errors:       a.Errors - b.Errors,
			InputTokens:  a.InputTokens - b.InputTokens,
			OutputTokens: a.OutputTokens - b.OutputTokens,
		}
	}
	return out
}

// summarise turns a run's outcomes and upstream counters into a result.
func summarise(sc scenario, p params, outcomes []outcome, upstream map[string]fakeprovider.KeyStats) *result {
	r := &result{
		Scenario: sc.name(), Mode: sc.mode, Strategy: string(sc.strategy), Demand: sc.demand, Seed: sc.seed,
		Orgs: map[string]orgUsage{},
	}
	minutes := p.measure.Minutes()
	admitted, in, out := map[string]int64{}, map[string]int64{}, map[string]int64{}
	for _, s := range upstream {
		r.UpstreamRequests += s.Requests
		r.Upstream429 += s.RateLimited
		admitted[s.Org] += s.Requests - s.RateLimited
		in[s.Org] += s.InputTokens
		out[s.Org] += s.OutputTokens
		r.OKPerMinute += float64(s.OK) / minutes
		r.InputPerMinute += float64(s.InputTokens) / minutes
		r.OutputPerMinute += float64(s.OutputTokens) / minutes
	}
	if r.UpstreamRequests > 0 {
		r.Upstream429Share = float64(r.Upstream429) / float64(r.UpstreamRequests)
	}
	var weighted, total float64
	for _, o := range orgs {
		l := limits[o]
		u := orgUsage{
			Requests:    share(admitted[o], l.RPM, minutes),
			InputTokens: share(in[o], l.ITPM, minutes),
			OutputTok:   share(out[o], l.OTPM, minutes),
		}
		u.Binding = max(u.Requests, u.InputTokens, u.OutputTok)
		r.Orgs[o] = u
		c := orgCapacity(o)
		weighted += u.Binding * c
		total += c
	}
	r.Capacity = weighted / total

	var late, advised []time.Duration
	for _, o := range outcomes {
		if o.advised >= 0 {
			advised = append(advised, o.advised)
			if o.firstRetry < 0 {
				r.NotRetried++
			}
			if o.booked {
				r.AdvisedBooked++
			}
		}
		r.ClientRequests++
		switch {
		case o.ok:
			r.ClientOK++
		case o.gaveUp:
			r.GaveUp++
		default:
			r.ClientErrors++
			if r.ErrorStatuses == nil {
				r.ErrorStatuses = map[int]int{}
			}
			r.ErrorStatuses[o.errStatus]++
			if o.err != "" {
				r.ErrorSample = o.err
			}
		}
		r.Client429s += o.throttled
		r.Client429NoRA += o.withoutRA
		if o.firstRetry >= 0 {
			r.FirstRetries++
			r.FirstRetryOK += float64(o.firstRetry)
		}
		if o.hasLateness {
			late = append(late, o.lateness)
		}
	}
	if r.ClientRequests > 0 {
		r.Served = float64(r.ClientOK) / float64(r.ClientRequests)
	}
	if r.FirstRetries > 0 {
		r.FirstRetryOK /= float64(r.FirstRetries)
	}
	if len(advised) > 0 {
		slices.Sort(advised)
		r.AdvisedP50 = advised[len(advised)/2]
		r.AdvisedP95 = advised[(len(advised)*95)/100]
		r.AdvisedMax = advised[len(advised)-1]
	}
	if len(late) > 0 {
		slices.Sort(late)
		r.LatenessP50 = late[len(late)/2]
		r.LatenessP95 = late[(len(late)*95)/100]
		r.LatenessMax = late[len(late)-1]
	}
	return r
}

// share is used over a window of the given minutes at limit per minute.
func share(used, limit int64, minutes float64) float64 {
	if limit <= 0 {
		return 0
	}
	return float64(used) / (float64(limit) * minutes)
}
