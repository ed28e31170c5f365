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
	"math"

	"github.com/keypool-dev/keypool-operator/internal/fakeprovider"
)

// simKey is one provider key of the simulated account set.
type simKey struct {
	value  string // API key value the fake accepts
	org    string // organisation whose limits it draws on
	group  string // limitGroup in the "grouped" pool configuration
	weight int    // for the weighted strategy
}

// The simulated organisations.
const (
	orgA = "org-a"
	orgB = "org-b"
	orgC = "org-c"
	orgD = "org-d"
)

// keys: two organisations of two keys that share one limit, and two keys
// that are their own organisation.
var keys = []simKey{
	{value: "sk-a1", org: orgA, group: orgA, weight: 2},
	{value: "sk-a2", org: orgA, group: orgA, weight: 2},
	{value: "sk-b1", org: orgB, group: orgB, weight: 1},
	{value: "sk-b2", org: orgB, group: orgB, weight: 1},
	{value: "sk-c", org: orgC, weight: 3},
	{value: "sk-d", org: orgD, weight: 2},
}

// limits differ per organisation so that, under the workload mix, a
// different dimension binds each: org-a input tokens, org-b and org-d
// requests, org-c output tokens.
var limits = map[string]fakeprovider.Limits{
	orgA: {RPM: 50, ITPM: 40_000, OTPM: 16_000},
	orgB: {RPM: 30, ITPM: 50_000, OTPM: 12_000},
	orgC: {RPM: 60, ITPM: 60_000, OTPM: 8_000},
	orgD: {RPM: 20, ITPM: 30_000, OTPM: 10_000},
}

// orgs lists the organisations in report order.
var orgs = []string{orgA, orgB, orgC, orgD}

// requestClass is one kind of request in the workload mix.
type requestClass struct {
	name   string
	share  float64 // probability of this class
	input  int64   // input tokens (the fake counts text bytes / 4)
	output int64   // output tokens, via [[output_tokens=N]]
	stream bool
	// maxTokens is the request's max_tokens; 0: twice output.
	maxTokens int64
}

// mix is the workload: mostly short prompts, some long ones, half of them
// streamed, with varying output sizes.
var mix = []requestClass{
	{name: "short", share: 0.40, input: 200, output: 100},
	{name: "short-stream", share: 0.30, input: 300, output: 300, stream: true},
	{name: "long", share: 0.15, input: 4_000, output: 200},
	{name: "long-stream", share: 0.15, input: 2_000, output: 800, stream: true},
}

// meanRequest is the mix's average request: 1 request, its mean input and
// output tokens.
func meanRequest() (input, output float64) {
	for _, c := range mix {
		input += c.share * float64(c.input)
		output += c.share * float64(c.output)
	}
	return input, output
}

// orgCapacity is how many average requests per minute org o can serve: its
// binding limit under the mix.
func orgCapacity(o string) float64 {
	l := limits[o]
	in, out := meanRequest()
	c := math.Inf(1)
	if l.RPM > 0 {
		c = min(c, float64(l.RPM))
	}
	if l.ITPM > 0 {
		c = min(c, float64(l.ITPM)/in)
	}
	if l.OTPM > 0 {
		c = min(c, float64(l.OTPM)/out)
	}
	return c
}

// aggregateCapacity is the pool's capacity in average requests per minute:
// the sum of every organisation's binding capacity (keys of one organisation
// count once).
func aggregateCapacity() float64 {
	var c float64
	for _, o := range orgs {
		c += orgCapacity(o)
	}
	return c
}

// fakeKeys is the key set in the fake provider's form.
func fakeKeys() []fakeprovider.Key {
	out := make([]fakeprovider.Key, len(keys))
	for i, k := range keys {
		out[i] = fakeprovider.Key{Key: k.value, Org: k.org}
	}
	return out
}
