package fakeprovider

import (
	"sync"
	"time"
)

// Clock tells the provider what time it is. All rate-limit math (refill,
// reset headers, retry-after) uses it, so tests can move time explicitly and
// simulations can run faster than real time.
type Clock interface {
	Now() time.Time
}

// realClock is the wall clock, used when Config.Clock is nil.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// ManualClock is a Clock that only moves when told to. It is meant for tests:
// advancing it refills buckets deterministically, without sleeping.
type ManualClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewManualClock returns a ManualClock set to t.
func NewManualClock(t time.Time) *ManualClock {
	return &ManualClock{now: t}
}

// Now returns the clock's current time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Set moves the clock to t.
func (c *ManualClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// ScaledClock is a Clock on which time passes Scale times faster than real
// time, starting from the real time at which it was created. A simulation
// with Scale 60 sees a minute of rate-limit refill per real second.
//
// The provider lives entirely in this clock's time: retry-after, reset
// headers and bucket refill are all expressed in scaled time, so the client
// side of a simulation must use the same scale to read them correctly.
type ScaledClock struct {
	// Scale is how many seconds pass on this clock per real second.
	Scale float64
	start time.Time
}

// NewScaledClock returns a ScaledClock running scale times faster than real
// time. A scale <= 0 is treated as 1.
func NewScaledClock(scale float64) *ScaledClock {
	if scale <= 0 {
		scale = 1
	}
	return &ScaledClock{Scale: scale, start: time.Now()}
}

// Now returns the scaled time. It uses the monotonic clock, so wall-clock
// jumps on the host do not distort it.
func (c *ScaledClock) Now() time.Time {
	elapsed := time.Since(c.start)
	return c.start.Add(time.Duration(float64(elapsed) * c.Scale))
}
