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

package ratelimit

import "math"

// outputAlpha is the weight of the newest request in the moving average of
// output tokens per request.
const outputAlpha = 0.1

// outputEstimate learns how many output tokens a request produces, as an
// exponentially weighted moving average of settled requests. Output tokens
// are only known once a response is complete, but providers refuse a
// request while the output bucket is empty: a limiter that charged output
// only after the fact would let every request through until the charges of
// the requests in flight land, and the provider answers the next ones 429.
// Holding the expected output at Reserve keeps the local level at or below
// the provider's.
type outputEstimate struct {
	avg float64 // average output tokens per request; 0 until the first
	n   int64   // requests averaged
}

// add records one settled request's output tokens; zero output (a failed
// request) teaches nothing.
func (e *outputEstimate) add(out int64) {
	if out <= 0 {
		return
	}
	if e.n == 0 {
		e.avg = float64(out)
	} else {
		e.avg += outputAlpha * (float64(out) - e.avg)
	}
	e.n++
}

// expect is the output tokens to hold for the next request.
func (e *outputEstimate) expect() int64 {
	return int64(math.Ceil(e.avg))
}

// OutputOr is the output a request holds: outputTokens, or learned for
// LearnedOutput (any negative value).
func OutputOr(outputTokens, learned int64) int64 {
	if outputTokens < 0 {
		return learned
	}
	return outputTokens
}

// outputDims are the dimensions output tokens are charged to.
var outputDims = [...]Dimension{OutputTokens, Tokens}
