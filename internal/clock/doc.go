// Package clock is the project's one notion of time: the Clock the pool's
// limiters and the fake provider's buckets read, the TimerClock a pool times
// queued waits with, and three implementations — Real (the wall clock),
// Scaled (a simulation's faster time) and Fake (a test's time that moves
// only when told to). It imports only the standard library, so the pure
// domain packages can use it.
package clock
