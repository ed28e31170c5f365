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

package fakeprovider

import (
	"sync"
	"time"
)

// dim is one rate-limit dimension of an organisation.
type dim int

const (
	dimRequests dim = iota
	dimInput        // Anthropic input tokens
	dimOutput       // Anthropic output tokens
	dimTokens       // OpenAI total tokens
	numDims
)

// unitsPerToken is the bucket's fixed-point scale. A bucket holding limit
// tokens per minute refills limit/60e6 tokens per microsecond; counting in
// units of 1/60e6 token makes that exactly `limit` units per microsecond,
// so refill, retry-after and reset times are exact integer math with no
// float rounding to make retry-after off by one.
const unitsPerToken = 60_000_000

// maxLimit keeps limit*unitsPerToken well inside int64.
const maxLimit = 100_000_000_000

// bucket is a per-minute token bucket: capacity limit, refilled
// continuously at limit per minute. Its level may go negative, because
// output tokens are charged after the fact, as real providers do.
type bucket struct {
	limit int64 // tokens per minute; 0 = unlimited
	level int64 // in units
	last  time.Time
}

func (b *bucket) capacity() int64 { return b.limit * unitsPerToken }

// advance refills the bucket up to now.
func (b *bucket) advance(now time.Time) {
	elapsed := now.Sub(b.last)
	if elapsed <= 0 {
		return
	}
	deficit := b.capacity() - b.level
	us := int64(elapsed / time.Microsecond)
	if deficit <= 0 || us >= ceilDiv(deficit, b.limit) {
		b.level = b.capacity()
		b.last = now
		return
	}
	b.level += us * b.limit
	// Keep the sub-microsecond remainder so frequent calls do not lose refill.
	b.last = b.last.Add(time.Duration(us) * time.Microsecond)
}

// wait returns how long until the bucket holds n tokens. A request larger
// than the whole bucket never fits and is always refused, as real providers
// refuse it; it is told to wait until the bucket is full, at least a second.
func (b *bucket) wait(n int64) time.Duration {
	if n > b.limit {
		return max(b.wait(b.limit), time.Second)
	}
	deficit := n*unitsPerToken - b.level
	if deficit <= 0 {
		return 0
	}
	return time.Duration(ceilDiv(deficit, b.limit)) * time.Microsecond
}

// remaining is the whole number of tokens in the bucket, never negative.
func (b *bucket) remaining() int64 {
	if b.level <= 0 {
		return 0
	}
	return b.level / unitsPerToken
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// dimState is one dimension as reported in rate-limit headers.
type dimState struct {
	limit     int64         // 0 = unlimited: no headers
	remaining int64         // whole tokens left
	full      time.Duration // until the bucket is full again
}

// snapshot is an organisation's limits at one instant, for headers.
type snapshot struct {
	now  time.Time
	dims [numDims]dimState
}

// buckets is one set of per-minute buckets: an organisation's default set,
// or one model class's (see classes.go). Each set has its own mutex, so
// requests for different orgs or classes never contend.
type buckets struct {
	limited bool // any dimension limited; false skips the lock entirely
	mu      sync.Mutex
	b       [numDims]bucket
}

func newBuckets(l Limits, now time.Time, startEmpty bool) *buckets {
	s := &buckets{}
	tpm := l.TPM
	if tpm == 0 {
		tpm = l.ITPM + l.OTPM
	}
	limits := [numDims]int64{dimRequests: l.RPM, dimInput: l.ITPM, dimOutput: l.OTPM, dimTokens: tpm}
	for d, limit := range limits {
		limit = min(max(limit, 0), maxLimit)
		s.b[d] = bucket{limit: limit, last: now}
		if limit > 0 {
			s.limited = true
			if !startEmpty {
				s.b[d].level = s.b[d].capacity()
			}
		}
	}
	return s
}

// admission is what a request must find in the buckets to be let in.
type admission struct {
	inDim  dim   // charged with the input estimate
	input  int64 // input token estimate
	outDim dim   // charged with output: reserve now, the rest later
	// reserve is output reserved at the start (see reserve.go); zero keeps
	// the default rule, where outDim only has to be non-empty now and
	// output is charged after the fact.
	reserve int64
}

// admit lets a request in if every dimension it needs has capacity, and
// charges one request, the input estimate and any output reservation.
// Otherwise it charges nothing and returns how long until the request would
// fit and the dimension that takes longest. snap is filled either way, for
// the rate-limit headers.
func (s *buckets) admit(now time.Time, a admission, snap *snapshot) (ok bool, retry time.Duration, short dim) {
	if !s.limited {
		snap.now = now
		return true, 0, 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(now)
	var need [numDims]int64
	need[dimRequests] = 1
	need[a.outDim] = max(a.reserve, 1) // without a reservation it only has to be non-empty now
	need[a.inDim] += a.input
	if a.inDim == a.outDim {
		need[a.inDim] = max(a.input+a.reserve, 1)
	}
	for d, n := range need {
		b := &s.b[d]
		if b.limit == 0 || n == 0 {
			continue
		}
		if w := b.wait(n); w > 0 && (retry == 0 || w > retry) {
			retry, short = w, dim(d)
		}
	}
	if retry == 0 {
		s.b[dimRequests].level -= unitsPerToken
		s.b[a.inDim].level -= a.input * unitsPerToken
		s.b[a.outDim].level -= a.reserve * unitsPerToken
	}
	s.fill(now, snap)
	return retry == 0, retry, short
}

// advance refills every limited bucket up to now; the caller holds s.mu.
func (s *buckets) advance(now time.Time) {
	for d := range s.b {
		if s.b[d].limit > 0 {
			s.b[d].advance(now)
		}
	}
}

// charge takes n tokens from dimension d after the fact; the bucket may go
// negative, which later requests then wait out. A negative n is a refund
// (an output reservation that was not used): it never fills the bucket past
// its capacity, since the reserved tokens did stand idle while it refilled.
func (s *buckets) charge(now time.Time, d dim, n int64) {
	if !s.limited || n == 0 || s.b[d].limit == 0 {
		return
	}
	s.mu.Lock()
	b := &s.b[d]
	b.advance(now)
	b.level = min(b.level-n*unitsPerToken, max(b.level, b.capacity()))
	s.mu.Unlock()
}

// peek fills snap without charging anything.
func (s *buckets) peek(now time.Time, snap *snapshot) {
	if !s.limited {
		snap.now = now
		return
	}
	s.mu.Lock()
	s.advance(now)
	s.fill(now, snap)
	s.mu.Unlock()
}

// fill copies the buckets into snap; the caller holds s.mu and has advanced
// the buckets to now.
func (s *buckets) fill(now time.Time, snap *snapshot) {
	snap.now = now
	for d := range s.b {
		b := &s.b[d]
		if b.limit == 0 {
			snap.dims[d] = dimState{}
			continue
		}
		snap.dims[d] = dimState{limit: b.limit, remaining: b.remaining(), full: b.wait(b.limit)}
	}
}

// levels reads the set as Levels, in tokens with fractions.
func (s *buckets) levels(now time.Time) Levels {
	if !s.limited {
		return Levels{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	read := func(d dim) float64 {
		b := &s.b[d]
		if b.limit == 0 {
			return 0
		}
		b.advance(now)
		return float64(b.level) / unitsPerToken
	}
	return Levels{Requests: read(dimRequests), InputTokens: read(dimInput), OutputTokens: read(dimOutput)}
}
