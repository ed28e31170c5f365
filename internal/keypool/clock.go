package keypool

import "time"

// Clock lets tests move time instead of sleeping.
type Clock interface {
	Now() time.Time
}

// TimerClock is a Clock that can also call a function once its own time has
// advanced by d. A pool whose clock implements it times queued waits with
// it, so a fake clock drives waits too; with a plain Clock the pool uses real
// timers.
type TimerClock interface {
	Clock
	// AfterFunc calls f in its own goroutine after d; stop cancels the call
	// and reports whether it did.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// wallClock is the real clock.
type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

func (wallClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// timerClock returns c's timers, or real ones.
func timerClock(c Clock) TimerClock {
	if tc, ok := c.(TimerClock); ok {
		return tc
	}
	return wallClock{}
}
