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
	"github.com/keypool-dev/keypool-operator/internal/fakeprovider"
)

// againstBound is one run's service measured against the window's mix
// bound: what the fake admitted and charged in the window, per minute,
// and as a share of what the limits allowed for the offered mix.
type againstBound struct {
	Bound   bound             `json:"bound"`
	Budgets map[string]budget `json:"budgets"`
	// Offered counts the requests of each class that arrived in the window.
	Offered []float64 `json:"offered_by_class"`

	// Served* are per minute of the window: requests the fake admitted
	// (charged a request), input and output tokens it charged.
	ServedRequests float64 `json:"served_requests_per_minute"`
	ServedInput    float64 `json:"served_input_tokens_per_minute"`
	ServedOutput   float64 `json:"served_output_tokens_per_minute"`
	// *OverBound divide the served figures by the bound's.
	RequestsOverBound float64 `json:"requests_over_bound"`
	InputOverBound    float64 `json:"input_over_bound"`
	OutputOverBound   float64 `json:"output_over_bound"`
	// ClassServed is each class's requests answered 200 per minute;
	// ClassOverBound divides it by the class's part of the bound.
	ClassServed    []float64 `json:"class_served_per_minute"`
	ClassOverBound []float64 `json:"class_over_bound"`
}

// measureAgainstBound computes r.Metric from the fake's bucket levels at
// the window's edges, the classes offered and served in it and the
// upstream counters summarise already read.
func (r *result) measureAgainstBound(levels [2]map[string]fakeprovider.Levels, offered []float64,
	served []int64, minutes float64) error {
	m := &againstBound{Budgets: windowBudgets(levels[0], levels[1], minutes), Offered: offered}
	b, err := mixBound(m.Budgets, offered, minutes)
	if err != nil {
		return err
	}
	m.Bound = b
	m.ServedRequests = float64(r.UpstreamRequests-r.Upstream429) / minutes
	m.ServedInput, m.ServedOutput = r.InputPerMinute, r.OutputPerMinute
	m.RequestsOverBound = ratio(m.ServedRequests, b.RequestsPerMin)
	m.InputOverBound = ratio(m.ServedInput, b.InputPerMin)
	m.OutputOverBound = ratio(m.ServedOutput, b.OutputPerMin)
	m.ClassServed = make([]float64, len(mix))
	m.ClassOverBound = make([]float64, len(mix))
	for c := range mix {
		m.ClassServed[c] = float64(served[c]) / minutes
		m.ClassOverBound[c] = ratio(m.ClassServed[c], b.Class[c])
	}
	r.Metric = m
	return nil
}

func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}
