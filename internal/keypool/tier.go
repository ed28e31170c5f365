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

package keypool

// tier is the keys of one priority.
type tier struct {
	priority int
	keys     []*keyMetadata // configuration order
	slots    []*slot
	sel      KeySelector

	// exhausted caches a failed search: no key of the tier can take a
	// request with est or more input tokens and expecting out or more
	// output tokens (see attempt.outTokens) before until. It is kept exact
	// enough by lowering until whenever a slot's capacity changes, and
	// dropped whenever a key becomes usable again.
	exhausted struct {
		valid bool
		until int64
		est   int64
		out   int64
	}
}

// skip reports whether the cache says the tier cannot serve a.
func (t *tier) skip(a *attempt) bool {
	e := &t.exhausted
	return e.valid && a.est >= e.est && atLeastOutput(a.outTokens(), e.out) && a.nowNs < e.until
}

// atLeastOutput reports whether a request expecting out output tokens
// needs at least as much room as one expecting than: the limiter's learned
// output (ratelimit.LearnedOutput) compares only with itself.
func atLeastOutput(out, than int64) bool {
	if than < 0 {
		return out < 0
	}
	return out >= than
}
