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

package redistest

import (
	"sync"
	"time"
)

// StallThreshold is the shortest pause between two attempts that counts as
// a stall: far longer than a loopback round trip, far shorter than a window.
const StallThreshold = 20 * time.Millisecond

// Stalls measures how long a load generator made no attempt at all. An
// exactness test needs it on a shared machine: while no attempt is made, a
// token bucket refills (up to one window's worth), and a limiter is right to
// admit those tokens later; and time in which nobody asks cannot be
// admitted in. So a stall in the window before the measured span [from, to]
// or inside it may raise what is admitted in the span by up to rate x
// stalled time, and a stall inside it may lower it by as much. The test
// widens its bounds by exactly that; on a quiet machine they stay strict.
type Stalls struct {
	from, to, window time.Time
	mu               sync.Mutex
	last             time.Time
	before, inside   time.Duration
}

// NewStalls measures stalls in [from-window, from] and in [from, to]; the
// generator's first attempt should come before from-window.
func NewStalls(from, to time.Time, window time.Duration) *Stalls {
	return &Stalls{from: from, to: to, window: from.Add(-window)}
}

// Attempt records an attempt at now by any of the generator's goroutines.
func (s *Stalls) Attempt(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.last.IsZero() && now.Sub(s.last) > StallThreshold {
		s.before += overlap(s.last, now, s.window, s.from)
		s.inside += overlap(s.last, now, s.from, s.to)
	}
	if now.After(s.last) {
		s.last = now
	}
}

// overlap is the length of [a, b] inside [lo, hi].
func overlap(a, b, lo, hi time.Time) time.Duration {
	if a.Before(lo) {
		a = lo
	}
	if b.After(hi) {
		b = hi
	}
	if b.After(a) {
		return b.Sub(a)
	}
	return 0
}

// Allowance is how far stalls may move what is admitted in [from, to], as
// fractions of one window's worth: up (a stall before or inside the span)
// and down (a stall inside it).
func (s *Stalls) Allowance(window time.Duration) (up, down float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return float64(s.before+s.inside) / float64(window), float64(s.inside) / float64(window)
}
