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
	"errors"
	"math"
	"testing"
)

// TestMaximizeTextbook solves a programme whose optimum is known:
// max 3x + 5y, x <= 4, 2y <= 12, 3x + 2y <= 18 -> x=2, y=6, value 36.
func TestMaximizeTextbook(t *testing.T) {
	x, v, err := maximize([]float64{3, 5}, [][]float64{{1, 0}, {0, 2}, {3, 2}}, []float64{4, 12, 18})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(v-36) > 1e-9 || math.Abs(x[0]-2) > 1e-9 || math.Abs(x[1]-6) > 1e-9 {
		t.Fatalf("got x=%v value %v, want x=[2 6] value 36", x, v)
	}
}

// TestMaximizeUnbounded reports a programme without a finite optimum.
func TestMaximizeUnbounded(t *testing.T) {
	if _, _, err := maximize([]float64{1, 1}, [][]float64{{1, -1}}, []float64{1}); !errors.Is(err, errUnbounded) {
		t.Fatalf("err = %v, want errUnbounded", err)
	}
}

// TestMaximizeDegenerate terminates on a degenerate programme (a zero
// right-hand side), where a simplex without an anti-cycling rule may loop.
func TestMaximizeDegenerate(t *testing.T) {
	_, v, err := maximize([]float64{10, -57, -9, -24},
		[][]float64{{0.5, -5.5, -2.5, 9}, {0.5, -1.5, -0.5, 1}, {1, 0, 0, 0}}, []float64{0, 0, 1})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(v-1) > 1e-9 {
		t.Fatalf("value %v, want 1", v)
	}
}

// TestMixBoundNominal checks the bound of the scenario's limits against
// figures worked out by hand: it is at least the sum of the organisations'
// binding capacities (each serving the mix on its own), at most the sum of
// the request limits, and bounded by demand when demand is low.
func TestMixBoundNominal(t *testing.T) {
	shares := make([]float64, len(mix))
	for i, c := range mix {
		shares[i] = c.share * 1e6 // plenty offered
	}
	b, err := mixBound(nominalBudgets(1), shares, 1)
	if err != nil {
		t.Fatal(err)
	}
	if b.RequestsPerMin < aggregateCapacity()-1e-6 || b.RequestsPerMin > float64(trueTotalRPM()) {
		t.Fatalf("bound %.2f req/min outside [%.2f, %d]", b.RequestsPerMin, aggregateCapacity(), trueTotalRPM())
	}
	if b.DemandBound {
		t.Fatal("a million offered requests cannot bound the rate")
	}
	for i := range shares {
		shares[i] = mix[i].share * 10 // ten requests in the window
	}
	low, err := mixBound(nominalBudgets(1), shares, 1)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(low.RequestsPerMin-10) > 1e-6 || !low.DemandBound {
		t.Fatalf("bound with 10 offered = %.4f (demand bound %v), want 10", low.RequestsPerMin, low.DemandBound)
	}
}
