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

import (
	"sort"
	"sync"
	"time"
)

// Fake is a TimerClock whose time moves only when told to. Functions
// scheduled with At run, each in its own goroutine, when Advance or
// Set reaches their time. WaitTimers lets a test wait for code under test to
// arm (or stop) its timers, on an event rather than by polling.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*fakeTimer
	changed chan struct{} // closed and replaced whenever timers changes
}

type fakeTimer struct {
	at time.Time
	f  func()
}

// NewFake returns a clock standing at now.
func NewFake(now time.Time) *Fake {
	return &Fake{now: now, changed: make(chan struct{})}
}

// Now returns the clock's time.
func (c *Fake) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d and fires the timers that are due.
func (c *Fake) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.fireLocked()
}

// Set moves the clock to t (never backwards) and fires the timers that are
// due.
func (c *Fake) Set(t time.Time) {
	c.mu.Lock()
	if t.After(c.now) {
		c.now = t
	}
	c.fireLocked()
}

// At calls f once the clock reads at (at once if it does already).
func (c *Fake) At(at time.Time, f func()) func() bool {
	c.mu.Lock()
	t := &fakeTimer{at: at, f: f}
	c.timers = append(c.timers, t)
	c.fireLocked()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, x := range c.timers {
			if x == t {
				c.timers = append(c.timers[:i], c.timers[i+1:]...)
				c.notifyLocked()
				return true
			}
		}
		return false
	}
}

// Timers returns how many timers are pending.
func (c *Fake) Timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// WaitTimers blocks until ready(pending timers) holds or timeout passes, and
// reports whether it held. A test waits with it for a waiter to have armed
// its timer before advancing, or for cancelled waits to have stopped theirs.
func (c *Fake) WaitTimers(timeout time.Duration, ready func(pending int) bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		ok, changed := ready(len(c.timers)), c.changed
		c.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-changed:
		case <-deadline.C:
			return false
		}
	}
}

// notifyLocked wakes WaitTimers; c.mu is held.
func (c *Fake) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// fireLocked runs due timers in time order; c.mu is held and released.
func (c *Fake) fireLocked() {
	var due []*fakeTimer
	kept := c.timers[:0]
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			due = append(due, t)
		} else {
			kept = append(kept, t)
		}
	}
	for i := len(kept); i < len(c.timers); i++ {
		c.timers[i] = nil
	}
	c.timers = kept
	c.notifyLocked()
	c.mu.Unlock()
	sort.SliceStable(due, func(i, j int) bool { return due[i].at.Before(due[j].at) })
	for _, t := range due {
		go t.f()
	}
}
