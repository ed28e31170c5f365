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

// Package scaledclock is the simulations' faster time: a clock.TimerClock
// that the fake provider, the pool and the simulated clients share so that
// minutes of rate-limit refill pass in seconds. It lives with the measuring
// programs because nothing in the product runs on it.
package scaledclock

import (
	"time"

	"github.com/keypool-dev/keypool-operator/internal/clock"
)

// The pool and the fake provider take a clock.TimerClock; a Clock must be
// one.
var _ clock.TimerClock = (*Clock)(nil)

// Clock is a TimerClock on which time passes Scale times faster than real
// time, starting from the real time at which it was created. A simulation
// with Scale 60 sees a minute of rate-limit refill per real second; every
// party of the simulation must read the same Clock for headers, Retry-After
// values and refills to agree.
type Clock struct {
	// Scale is how many seconds pass on this clock per real second.
	Scale float64
	start time.Time
}

// New returns a clock running scale times faster than real time. A scale
// <= 0 is treated as 1.
func New(scale float64) *Clock {
	if scale <= 0 {
		scale = 1
	}
	return &Clock{Scale: scale, start: time.Now()}
}

// Now returns the scaled time. It uses the monotonic clock, so wall-clock
// jumps on the host do not distort it.
func (c *Clock) Now() time.Time {
	return c.start.Add(time.Duration(float64(time.Since(c.start)) * c.Scale))
}

// At calls f once the scaled time reads t: after 1/Scale of the scaled
// time until then, in real time.
func (c *Clock) At(t time.Time, f func()) func() bool {
	return time.AfterFunc(c.Real(t.Sub(c.Now())), f).Stop
}

// Real converts a scaled duration to the real one it takes.
func (c *Clock) Real(d time.Duration) time.Duration {
	return time.Duration(float64(d) / c.Scale)
}

// Sleep waits d of scaled time, or until done is closed (nil: never); it
// reports whether the full time passed.
func (c *Clock) Sleep(d time.Duration, done <-chan struct{}) bool {
	t := time.NewTimer(c.Real(d))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-done:
		return false
	}
}
