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
)

// lpEps is the simplex's tolerance for zero.
const lpEps = 1e-9

// errUnbounded is returned for a linear programme without a finite optimum.
var errUnbounded = errors.New("linear programme is unbounded")

// maximize solves: maximise c·x subject to A·x <= b and x >= 0, for b >= 0
// (so x = 0 is feasible), by the tableau simplex method with Bland's rule,
// which cannot cycle. The programmes here are tiny (a few dozen variables),
// so a dense tableau is plenty.
func maximize(c []float64, a [][]float64, b []float64) (x []float64, value float64, err error) {
	m, n := len(a), len(c)
	// Tableau rows: constraints with one slack column each, then the
	// objective row (reduced costs, negated); the last column is the
	// right-hand side.
	cols := n + m + 1
	t := make([][]float64, m+1)
	basis := make([]int, m)
	for i := range m {
		t[i] = make([]float64, cols)
		copy(t[i], a[i])
		t[i][n+i] = 1
		t[i][cols-1] = b[i]
		basis[i] = n + i
	}
	t[m] = make([]float64, cols)
	for j := range n {
		t[m][j] = -c[j]
	}
	for {
		enter := -1
		for j := range n + m {
			if t[m][j] < -lpEps {
				enter = j // Bland: the lowest index that improves
				break
			}
		}
		if enter < 0 {
			break
		}
		leave, best := -1, math.Inf(1)
		for i := range m {
			if t[i][enter] > lpEps {
				r := t[i][cols-1] / t[i][enter]
				if r < best-lpEps || (r < best+lpEps && leave >= 0 && basis[i] < basis[leave]) {
					leave, best = i, r
				}
			}
		}
		if leave < 0 {
			return nil, 0, errUnbounded
		}
		pivot(t, leave, enter)
		basis[leave] = enter
	}
	x = make([]float64, n)
	for i, v := range basis {
		if v < n {
			x[v] = t[i][cols-1]
		}
	}
	return x, t[m][cols-1], nil
}

// pivot makes column col a unit column with its 1 in row row.
func pivot(t [][]float64, row, col int) {
	p := t[row][col]
	for j := range t[row] {
		t[row][j] /= p
	}
	for i := range t {
		if i == row || t[i][col] == 0 {
			continue
		}
		f := t[i][col]
		for j := range t[i] {
			t[i][j] -= f * t[row][j]
		}
	}
}
