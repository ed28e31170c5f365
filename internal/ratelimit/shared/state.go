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

package shared

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
)

// sharedState is what the script last returned about one limiter: the
// shared levels as of the moment Redis ran it. Times derived from it are
// expressed on the caller's clock by anchoring the levels at the caller's
// time of the call (at): only durations cross between the clocks, so the
// replicas' clock skew does not matter.
type sharedState struct {
	at      time.Time // the caller's time of the call
	valid   bool      // a script answer was seen
	window  time.Duration
	result  int64
	taken   ratelimit.Amounts
	output  [2]int64 // held output of dims OutputTokens and Tokens
	expect  int64
	blocked time.Time // cooling down until; zero when not

	limit, configured, learned ratelimit.Amounts
	level                      [ratelimit.NumDimensions]float64
	held                       [2]int64
	resetAt                    [ratelimit.NumDimensions]time.Time
}

// scriptResultLen is the number of values the script returns.
const scriptResultLen = 9 + 4*ratelimit.NumDimensions + 2 + ratelimit.NumDimensions

// parseState reads a script answer received for a call made at at.
func parseState(v any, at time.Time, window time.Duration) (sharedState, error) {
	vals, ok := v.([]any)
	if !ok || len(vals) != scriptResultLen {
		return sharedState{}, fmt.Errorf("unexpected shared limiter answer %T (%d values)", v, len(vals))
	}
	st := sharedState{at: at, valid: true, window: window}
	var err error
	ints := func(i int) int64 {
		n, ok := vals[i].(int64)
		if !ok && err == nil {
			err = fmt.Errorf("shared limiter answer %d is %T, not an integer", i, vals[i])
		}
		return n
	}
	st.result = ints(0)
	for d := range ratelimit.NumDimensions {
		st.taken[d] = ints(1 + d)
	}
	st.output = [2]int64{ints(5), ints(6)}
	st.expect = ints(7)
	if b := ints(8); b > 0 {
		st.blocked = at.Add(time.Duration(b) * time.Microsecond)
	}
	for d := range ratelimit.NumDimensions {
		i := 9 + 4*d
		st.limit[d], st.configured[d], st.learned[d] = ints(i), ints(i+1), ints(i+2)
		s, _ := vals[i+3].(string)
		f, perr := strconv.ParseFloat(s, 64)
		if perr != nil && err == nil {
			err = fmt.Errorf("shared limiter level %q: %w", s, perr)
		}
		st.level[d] = f
	}
	i := 9 + 4*ratelimit.NumDimensions
	st.held = [2]int64{ints(i), ints(i + 1)}
	for d := range ratelimit.NumDimensions {
		s, _ := vals[i+2+d].(string)
		if ns, perr := strconv.ParseInt(s, 10, 64); perr == nil && s != "" {
			st.resetAt[d] = time.Unix(0, ns)
		}
	}
	return st, err
}

// known reports whether dimension d has a limit.
func (st *sharedState) known(d int) bool { return st.limit[d] > 0 }

// unitNanos is how many nanoseconds one unit of d takes to refill.
func (st *sharedState) unitNanos(d int) float64 {
	return float64(st.window.Nanoseconds()) / float64(st.limit[d])
}

// levelAt is d's level at t (on the caller's clock), refilled since the call.
func (st *sharedState) levelAt(d int, t time.Time) float64 {
	el := max(t.Sub(st.at), 0)
	return min(st.level[d]+float64(el)/st.unitNanos(d), float64(st.limit[d]))
}

// need is what a demand of n units must find in d (see bucket.need).
func (st *sharedState) need(d int, n int64) float64 {
	return float64(min(max(n, 1), st.limit[d]))
}

// floor is what the smallest request takes from d: the expected output in
// the output dimensions, one unit elsewhere.
func (st *sharedState) floor(d int) int64 {
	if ratelimit.Dimension(d) == ratelimit.OutputTokens || ratelimit.Dimension(d) == ratelimit.Tokens {
		return st.expect
	}
	return 1
}

// wait is how long after t until d holds need units.
func (st *sharedState) wait(d int, t time.Time, need float64) time.Duration {
	l := st.levelAt(d, t)
	if l+ratelimit.Epsilon >= need {
		return 0
	}
	return time.Duration(math.Ceil((need - l) * st.unitNanos(d)))
}

// outlook derives the Outlook: the times are those of a bucket left alone
// since the call, plus the cooldown.
func (st *sharedState) outlook() ratelimit.Outlook {
	var o ratelimit.Outlook
	if !st.valid {
		return o
	}
	full, ready := int64(ratelimit.Always), int64(ratelimit.Always)
	for d := range ratelimit.NumDimensions {
		if !st.known(d) {
			continue
		}
		at := st.at.UnixNano()
		l := st.level[d]
		u := st.unitNanos(d)
		f := at
		if l < float64(st.limit[d])-ratelimit.Epsilon {
			f = at + int64(math.Ceil((float64(st.limit[d])-l)*u))
		}
		need := st.need(d, st.floor(d))
		r := at - int64((l-need)*u)
		if l+ratelimit.Epsilon < need {
			r = at + int64(math.Ceil((need-l)*u))
		}
		full, ready = max(full, f), max(ready, r)
	}
	if !st.blocked.IsZero() {
		ready = max(ready, st.blocked.UnixNano())
	}
	return ratelimit.Outlook{FullAt: ratelimit.FromNanos(full), ReadyAt: ratelimit.FromNanos(ready)}
}

// timeToCapacity is TimeToCapacity from the cached state.
func (st *sharedState) timeToCapacity(now time.Time, inputTokens, outputTokens int64) (time.Duration, ratelimit.Dimension) {
	take := ratelimit.Takes(inputTokens, ratelimit.OutputOr(outputTokens, st.expect))
	var longest time.Duration
	dim := ratelimit.Dimension(-1)
	for d := range ratelimit.NumDimensions {
		if !st.known(d) {
			continue
		}
		if w := st.wait(d, now, st.need(d, take[d])); w > longest {
			longest, dim = w, ratelimit.Dimension(d)
		}
	}
	if w := st.blocked.Sub(now); !st.blocked.IsZero() && w > longest {
		longest, dim = w, ratelimit.Requests
	}
	return longest, dim
}

// snapshot is Snapshot from the cached state.
func (st *sharedState) snapshot(now time.Time) ratelimit.Snapshot {
	var s ratelimit.Snapshot
	for d := range ratelimit.NumDimensions {
		ds := &s.Dimensions[d]
		ds.Limit, ds.Configured, ds.Learned, ds.ResetAt = st.limit[d], st.configured[d], st.learned[d], st.resetAt[d]
		ds.Remaining = -1
		if !st.known(d) {
			continue
		}
		l := st.levelAt(d, now)
		ds.Remaining = max(int64(l+ratelimit.Epsilon), 0)
		ds.Wait = st.wait(d, now, 1)
		f := now
		if l < float64(st.limit[d])-ratelimit.Epsilon {
			f = now.Add(time.Duration(math.Ceil((float64(st.limit[d]) - l) * st.unitNanos(d))))
		}
		ds.FullAt = f
	}
	return s
}

// advance re-anchors the cached levels at t.
func (st *sharedState) advance(t time.Time) {
	if !st.valid || !t.After(st.at) {
		return
	}
	for d := range ratelimit.NumDimensions {
		if st.known(d) {
			st.level[d] = st.levelAt(d, t)
		}
	}
	st.at = t
}

// heldOf is the output held in flight in d, which a provider's remaining
// count does not include yet.
func (st *sharedState) heldOf(d int) float64 {
	switch ratelimit.Dimension(d) {
	case ratelimit.OutputTokens:
		return float64(st.held[0])
	case ratelimit.Tokens:
		return float64(st.held[1])
	}
	return 0
}

// observe applies obs to the cached state as the script will apply it to
// the shared one, and returns the dimensions it lowered.
func (st *sharedState) observe(now time.Time, obs ratelimit.Observations) uint8 {
	if !st.valid {
		return 0
	}
	st.advance(now)
	var lowered uint8
	for d, o := range obs {
		if !o.Reported() {
			continue
		}
		if o.Limit > 0 {
			st.learned[d] = o.Limit
			eff := st.configured[d]
			if eff == 0 || o.Limit < eff {
				eff = o.Limit
			}
			if st.limit[d] == 0 {
				st.level[d] = float64(eff)
			}
			st.limit[d] = eff
			st.level[d] = min(st.level[d], float64(eff))
		}
		if !o.Reset.IsZero() {
			st.resetAt[d] = o.Reset
		}
		if !st.known(d) {
			continue
		}
		ceilings := [2]float64{math.Inf(1), math.Inf(1)}
		if o.Remaining >= 0 {
			ceilings[0] = float64(o.Remaining) - st.heldOf(d)
		}
		if ahead := o.Reset.Sub(now) - ratelimit.ResetSlack; !o.Reset.IsZero() && ahead > 0 {
			ceilings[1] = float64(st.limit[d]) - float64(ahead)/st.unitNanos(d) - st.heldOf(d)
		}
		for _, c := range ceilings {
			if st.level[d]-c > ratelimit.Epsilon {
				st.level[d] = c
				lowered |= 1 << d
			}
		}
	}
	return lowered
}
