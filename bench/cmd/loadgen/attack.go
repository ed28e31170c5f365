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
	"net/http"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Step is the outcome of one fixed-rate run against one endpoint.
type Step struct {
	Target   string  `json:"target"` // direct or proxy
	Mode     string  `json:"mode"`   // json or sse
	Rate     int     `json:"rate"`   // requested requests per second
	Seconds  float64 `json:"seconds"`
	Requests uint64  `json:"requests"`
	// Achieved is the rate the attacker actually sent at; Throughput the
	// rate of successful responses.
	Achieved   float64 `json:"achieved_rate"`
	Throughput float64 `json:"throughput"`
	Errors     uint64  `json:"errors"` // transport errors and non-200 responses
	// Latencies in microseconds, from sending the request to the end of the
	// response body (the whole stream, for sse).
	P50  float64 `json:"p50_us"`
	P90  float64 `json:"p90_us"`
	P99  float64 `json:"p99_us"`
	Max  float64 `json:"max_us"`
	Mean float64 `json:"mean_us"`
	// ProxyRSSPeak is the proxy process's peak VmRSS during the step, in MiB
	// (proxy steps only).
	ProxyRSSPeak float64 `json:"proxy_rss_peak_mib,omitempty"`
	// Handshakes is the fake provider's TLS handshakes during the step
	// (-tls only): after the warm-up, reused connections make none.
	Handshakes   uint64   `json:"tls_handshakes,omitempty"`
	Load         string   `json:"loadavg"` // /proc/loadavg when the step began
	ErrorSamples []string `json:"error_samples,omitempty"`
}

// maxWorkers bounds the attacker's concurrency, so a stalled target cannot
// make it spawn goroutines without limit.
const maxWorkers = 4096

// attacker runs fixed-rate vegeta attacks against one endpoint. A vegeta
// Attacker stops for good after one attack, so each step gets a new one; they
// share one HTTP client, which keeps the connections warm across steps.
type attacker struct {
	ep     endpoint
	client *http.Client
	rssPID int // sample this process's RSS during steps; 0: none
}

func newAttacker(ep endpoint, rssPID int) *attacker {
	return &attacker{
		ep:     ep,
		client: &http.Client{Transport: ep.transport(maxWorkers), Timeout: 10 * time.Second},
		rssPID: rssPID,
	}
}

// run sends mode requests at rate per second for d and summarises them.
func (a *attacker) run(ctx context.Context, mode string, rate int, d time.Duration) Step {
	target := vegeta.Target{
		Method: http.MethodPost,
		URL:    a.ep.url,
		Body:   requestBody(modeStream(mode)),
		Header: a.ep.header.Clone(),
	}
	step := Step{Target: a.ep.name, Mode: mode, Rate: rate, Load: loadavg()}
	var sampler *rssSampler
	if a.rssPID != 0 {
		sampler = sampleRSS(a.rssPID)
	}
	atk := vegeta.NewAttacker(vegeta.Client(a.client), vegeta.MaxWorkers(maxWorkers))
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()

	var m vegeta.Metrics
	results := atk.Attack(vegeta.NewStaticTargeter(target), vegeta.Rate{Freq: rate, Per: time.Second}, d, a.ep.name)
	for res := range results {
		m.Add(res)
		if res.Code != http.StatusOK || res.Error != "" {
			step.Errors++
		}
	}
	m.Close()
	if sampler != nil {
		step.ProxyRSSPeak = sampler.stop()
	}
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	step.Seconds = m.Duration.Seconds()
	step.Requests = m.Requests
	step.Achieved = m.Rate
	step.Throughput = m.Throughput
	step.P50, step.P90, step.P99 = us(m.Latencies.P50), us(m.Latencies.P90), us(m.Latencies.P99)
	step.Max, step.Mean = us(m.Latencies.Max), us(m.Latencies.Mean)
	if len(m.Errors) > 3 {
		m.Errors = m.Errors[:3]
	}
	step.ErrorSamples = m.Errors
	return step
}

// sustains reports whether a step held its rate with no errors and a p99
// under the given bound.
func (s Step) sustains(p99Bound time.Duration) bool {
	return s.Errors == 0 && s.Requests > 0 &&
		s.P99 < float64(p99Bound.Microseconds()) &&
		s.Throughput >= 0.95*float64(s.Rate)
}
