package main

import (
	"time"

	"github.com/keypool-dev/keypool-operator/internal/fakeprovider"
)

// simClock is the one clock of a run: the fake provider's buckets, the
// pool's limiters and the pool's queued waits all read it, so that rate-limit
// headers, Retry-After values and refills agree. It runs scale times faster
// than real time.
type simClock struct {
	*fakeprovider.ScaledClock
}

// newSimClock returns a clock running scale times faster than real time.
func newSimClock(scale float64) simClock {
	return simClock{fakeprovider.NewScaledClock(scale)}
}

// AfterFunc implements keypool.TimerClock: d of simulated time is d/scale of
// real time.
func (c simClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(c.real(d), f).Stop
}

// real converts a simulated duration to a real one.
func (c simClock) real(d time.Duration) time.Duration {
	return time.Duration(float64(d) / c.Scale)
}

// sleep waits d of simulated time, or until done is closed; it reports
// whether the full time passed.
func (c simClock) sleep(d time.Duration, done <-chan struct{}) bool {
	t := time.NewTimer(c.real(d))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-done:
		return false
	}
}
