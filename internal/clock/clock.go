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

package clock

import "time"

// Clock tells the time. Everything that computes with rate-limit time
// (refill, reset headers, retry-after) reads one, so tests can move time
// instead of sleeping.
type Clock interface {
	Now() time.Time
}

// TimerClock is a Clock that can also call a function once its own time
// reaches a given time, so a fake or scaled clock drives waits too. The time
// is absolute: a wait computed from a reading of the clock is not lengthened
// by the time that passes (or that a test's clock jumps) before it is armed.
type TimerClock interface {
	Clock
	// At calls f in its own goroutine once the clock reads t or later (at
	// once if it does already); stop cancels the call and reports whether
	// it did.
	At(t time.Time, f func()) (stop func() bool)
}

// Or returns c, or the wall clock when c is nil.
func Or(c Clock) Clock {
	if c == nil {
		return Real{}
	}
	return c
}

// Timers returns c's timers when c is a TimerClock, and real timers
// otherwise (a plain Clock has no way to wait on its own time).
func Timers(c Clock) TimerClock {
	if tc, ok := c.(TimerClock); ok {
		return tc
	}
	return Real{}
}
