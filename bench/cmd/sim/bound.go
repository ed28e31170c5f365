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

	"github.com/keypool-dev/keypool-operator/internal/fakeprovider"
)

// budget is what one organisation's limits let it admit during the measured
// window, per dimension: the bucket's level when the window opened (what
// the warm-up left in it, possibly negative for output in debt) plus one
// window of refill at the limit, plus, for output, the debt the bucket was
// in when the window closed (output is charged after admission, so the
// tokens charged in a window can exceed the bucket by the debt left at its
// end). A dimension without a limit has a negative budget: no constraint.
type budget struct {
	Requests float64 `json:"requests"`
	Input    float64 `json:"input_tokens"`
	Output   float64 `json:"output_tokens"`
}

// windowBudgets computes every organisation's budget from the fake's bucket
// levels at the window's edges.
func windowBudgets(start, end map[string]fakeprovider.Levels, minutes float64) map[string]budget {
	out := make(map[string]budget, len(orgs))
	for _, o := range orgs {
		l := limits[o]
		s, e := start[o], end[o]
		dim := func(limit int64, level, debt float64) float64 {
			if limit <= 0 {
				return -1
			}
			return max(level+float64(limit)*minutes+debt, 0)
		}
		out[o] = budget{
			Requests: dim(l.RPM, s.Requests, 0),
			Input:    dim(l.ITPM, s.InputTokens, 0),
			Output:   dim(l.OTPM, s.OutputTokens, max(-e.OutputTokens, 0)),
		}
	}
	return out
}

// nominalBudgets are the budgets of a window of the given minutes that
// opens with empty buckets and closes without debt: the limits alone.
func nominalBudgets(minutes float64) map[string]budget {
	return windowBudgets(nil, nil, minutes)
}

// bound is the most the keys' limits allow for the offered mix in the
// window: the largest rate t (requests per minute) at which every class is
// served in its offered share, with some split of each class over the
// organisations that keeps every organisation within every budget, and no
// more than was offered. It is a linear programme (see mixBound).
type bound struct {
	RequestsPerMin float64 `json:"requests_per_minute"`
	InputPerMin    float64 `json:"input_tokens_per_minute"`
	OutputPerMin   float64 `json:"output_tokens_per_minute"`
	// Class is each class's part of RequestsPerMin, in mix order.
	Class []float64 `json:"class_requests_per_minute"`
	// DemandBound is true when the offered load, not the limits, is what
	// bounds t.
	DemandBound bool `json:"demand_bound"`
}

// mixBound solves, over the window of the given minutes, with x[o][c] the
// requests per minute of class c served by organisation o:
//
//	maximise t subject to
//	  sum_o x[o][c] >= share[c] * t           for every class c
//	  sum_c x[o][c]            <= R[o] / minutes  (requests budget)
//	  sum_c in[c]  * x[o][c]   <= I[o] / minutes  (input tokens budget)
//	  sum_c out[c] * x[o][c]   <= O[o] / minutes  (output tokens budget)
//	  t <= offered / minutes,  x, t >= 0
//
// share[c] is class c's part of the offered requests. Every served mix
// that keeps the offered shares is a feasible point, so no engine serving
// the offered mix can exceed t in any window with these budgets.
func mixBound(budgets map[string]budget, offered []float64, minutes float64) (bound, error) {
	var total float64
	for _, n := range offered {
		total += n
	}
	if total <= 0 || minutes <= 0 {
		return bound{Class: make([]float64, len(mix))}, nil
	}
	nc, no := len(mix), len(orgs)
	tIdx := no * nc
	nv := tIdx + 1
	var a [][]float64
	var b []float64
	row := func() []float64 { return make([]float64, nv) }
	for c := range mix {
		r := row()
		r[tIdx] = offered[c] / total
		for o := range orgs {
			r[o*nc+c] = -1
		}
		a, b = append(a, r), append(b, 0)
	}
	for o, name := range orgs {
		bu := budgets[name]
		for _, d := range []struct {
			cap  float64
			cost func(requestClass) float64
		}{
			{bu.Requests, func(requestClass) float64 { return 1 }},
			{bu.Input, func(c requestClass) float64 { return float64(c.input) }},
			{bu.Output, func(c requestClass) float64 { return float64(c.output) }},
		} {
			if d.cap < 0 {
				continue // no limit in this dimension
			}
			r := row()
			for c, cl := range mix {
				r[o*nc+c] = d.cost(cl)
			}
			a, b = append(a, r), append(b, d.cap/minutes)
		}
	}
	r := row()
	r[tIdx] = 1
	a, b = append(a, r), append(b, total/minutes)
	obj := row()
	obj[tIdx] = 1
	_, t, err := maximize(obj, a, b)
	if err != nil {
		return bound{}, fmt.Errorf("mix bound: %w", err)
	}
	out := bound{RequestsPerMin: t, Class: make([]float64, nc), DemandBound: t >= total/minutes*(1-1e-9)}
	for c, cl := range mix {
		share := offered[c] / total
		out.Class[c] = t * share
		out.InputPerMin += t * share * float64(cl.input)
		out.OutputPerMin += t * share * float64(cl.output)
	}
	return out, nil
}

// nominalCapacity is the mix bound of one minute with the limits alone
// (buckets empty at the start, no debt at the end) and unlimited demand, in
// requests per minute: what demand levels are a share of.
func nominalCapacity() float64 {
	offered := make([]float64, len(mix))
	for i, c := range mix {
		offered[i] = c.share * 1e9
	}
	b, err := mixBound(nominalBudgets(1), offered, 1)
	if err != nil {
		panic(err) // the scenario's own constants: a programming error
	}
	return b.RequestsPerMin
}
