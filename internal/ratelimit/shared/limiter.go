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
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
)

// snapshotMaxAge is how old the cached state may be before Snapshot asks
// Redis for a fresh one (in the background: Snapshot answers from the cache).
const snapshotMaxAge = time.Second

// Limiter is a Limiter whose state lives in Redis, shared by every replica
// that names it alike. Reserve is one script call (one round trip, bounded
// by the backend's timeout); Settle, Observe and SetLimits are sent in the
// background; Outlook, TimeToCapacity and Snapshot answer from the state the
// last script call returned.
//
// While Redis is unavailable it never fails and never waits: it serves from
// a Local fallback holding limit / replicas, started from the last shared
// level seen (divided likewise), and returns to Redis when the backend sees
// it again.
type Limiter struct {
	b   *Backend
	key string

	mu         sync.Mutex
	configured ratelimit.Amounts
	st         sharedState
	fb         *ratelimit.Local  // the local fallback, made at the first outage
	fbSince    time.Time         // when the current (or last) outage began here
	fbHanded   ratelimit.Amounts // what the fallback held when outages began, summed (for tests)
	fbUsed     ratelimit.Amounts // what the fallback admitted since the outage began, not yet charged in Redis
	useFb      bool              // fb serves now (the outlook is its)
	localUntil time.Time         // a failed call keeps this limiter on fb until then
	errLogged  time.Time         // when a call error of this limiter was last reported

	fullAt  atomic.Int64 // Unix ns; see Local
	readyAt atomic.Int64
}

var _ ratelimit.Limiter = (*Limiter)(nil)

// args builds a script call's arguments: op, the constant ones, the
// configured limits, then extra.
func (s *Limiter) args(op string, extra ...any) []any {
	a := make([]any, 0, 7+len(extra))
	a = append(a, op, s.b.windowArg, s.b.ttlArg)
	for _, v := range s.configured {
		a = append(a, v)
	}
	return append(a, extra...)
}

// Reserve implements Limiter. The round trip runs without the limiter's
// lock, so that background answers are not held up behind it.
func (s *Limiter) Reserve(now time.Time, inputTokens, outputTokens int64) (ratelimit.Reservation, bool) {
	return s.reserve(now, inputTokens, outputTokens, false)
}

// ReserveAdmitted implements Limiter, as Reserve does.
func (s *Limiter) ReserveAdmitted(now time.Time, inputTokens, outputTokens int64) (ratelimit.Reservation, bool) {
	return s.reserve(now, inputTokens, outputTokens, true)
}

// reserveLocal reserves on the local fallback, as Reserve or ReserveAdmitted.
func reserveLocal(fb *ratelimit.Local, now time.Time, in, out int64, admitted bool) (ratelimit.Reservation, bool) {
	if admitted {
		return fb.ReserveAdmitted(now, in, out)
	}
	return fb.Reserve(now, in, out)
}

func (s *Limiter) reserve(now time.Time, inputTokens, outputTokens int64, admitted bool) (ratelimit.Reservation, bool) {
	s.mu.Lock()
	if fb := s.fallback(now); fb != nil {
		r, ok := reserveLocal(fb, now, inputTokens, outputTokens, admitted)
		s.usedLocally(r.Taken)
		s.publish()
		s.mu.Unlock()
		return r, ok
	}
	if s.clearlyFull(now, inputTokens, outputTokens) {
		s.mu.Unlock()
		return ratelimit.Reservation{}, false
	}
	held := 1
	if admitted {
		held = 0
	}
	args := s.args("r", max(inputTokens, 0), max(outputTokens, ratelimit.LearnedOutput), held)
	s.mu.Unlock()

	start := time.Now()
	v, err := s.b.call(s.key, args)
	callErr := isCallError(err)
	var st sharedState
	if err == nil {
		st, err = parseState(v, now, s.b.window)
		callErr = err != nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if !callErr {
			s.b.fail(err)
		}
		// The fallback starts when the failure is known, up to a timeout
		// after now: refill before that may have gone to other replicas.
		at := now.Add(time.Since(start))
		s.failedLocked(at, err, callErr)
		fb := s.fallback(at)
		r, ok := reserveLocal(fb, at, inputTokens, outputTokens, admitted)
		s.usedLocally(r.Taken)
		s.publish()
		return r, ok
	}
	s.storeLocked(st)
	if st.result != 1 {
		return ratelimit.Reservation{}, false
	}
	r := ratelimit.Reservation{Taken: st.taken, Remote: true, Admitted: admitted}
	r.Output[ratelimit.OutputTokens], r.Output[ratelimit.Tokens] = st.output[0], st.output[1]
	return r, true
}

// MayReserve implements Remote: false when the cached state shows that
// Reserve cannot succeed, or, while Redis is unavailable, when the local
// fallback has no room.
func (s *Limiter) MayReserve(now time.Time, inputTokens, outputTokens int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if fb := s.fallback(now); fb != nil {
		w, _ := fb.TimeToCapacity(now, inputTokens, outputTokens)
		return w <= 0
	}
	return !s.clearlyFull(now, inputTokens, outputTokens)
}

// clearlyFull reports whether a Reserve is bound to fail without asking
// Redis: when even a bucket nobody else touched since the cached state was
// read (under a second ago) could not take the request yet, no other
// replica can have made room (except by refunds, which are small), so the
// round trip is saved. s.mu is held.
func (s *Limiter) clearlyFull(now time.Time, inputTokens, outputTokens int64) bool {
	if !s.st.valid || now.Sub(s.st.at) >= snapshotMaxAge {
		return false
	}
	w, _ := s.st.timeToCapacity(now, inputTokens, outputTokens)
	return w > 0
}

// Settle implements Limiter.
func (s *Limiter) Settle(now time.Time, r ratelimit.Reservation, u ratelimit.Usage) {
	if !r.Remote {
		s.mu.Lock()
		if s.fb != nil {
			s.fb.Settle(now, r, u)
			delta, _, _ := ratelimit.Settlement(r, u)
			s.usedLocally(delta)
			s.publish()
		}
		s.mu.Unlock()
		return
	}
	delta, out, changes := ratelimit.Settlement(r, u)
	if !changes {
		return
	}
	if s.b.Degraded() {
		return // taken in Redis, which refills it on its own
	}
	held := r.Output
	if r.Admitted {
		held = ratelimit.Amounts{} // never held (ReserveAdmitted)
	}
	s.mu.Lock()
	args := s.args("s", delta[ratelimit.InputTokens], delta[ratelimit.OutputTokens], delta[ratelimit.Tokens],
		held[ratelimit.OutputTokens], held[ratelimit.Tokens], out)
	s.mu.Unlock()
	s.b.enqueue(asyncOp{lim: s, now: now, args: args})
}

// Observe implements Limiter. The lowered dimensions are predicted from the
// cached state, to which the observation is applied at once, so that the
// pool sees its effect; Redis applies it in the background.
func (s *Limiter) Observe(now time.Time, obs ratelimit.Observations) uint8 {
	seen := false
	for _, o := range obs {
		seen = seen || o.Reported()
	}
	if !seen {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if fb := s.fallback(now); fb != nil {
		lowered := fb.Observe(now, s.share(obs))
		s.publish()
		return lowered
	}
	extra := make([]any, 0, 4*ratelimit.NumDimensions)
	for _, o := range obs {
		if !o.Reported() {
			extra = append(extra, 0, -1, "", "")
			continue
		}
		ahead, reset := "", ""
		if !o.Reset.IsZero() {
			reset = strconv.FormatInt(o.Reset.UnixNano(), 10)
			if a := o.Reset.Sub(now) - ratelimit.ResetSlack; a > 0 {
				ahead = strconv.FormatInt(a.Microseconds(), 10)
			}
		}
		extra = append(extra, max(o.Limit, 0), max(o.Remaining, -1), ahead, reset)
	}
	lowered := s.st.observe(now, obs)
	s.publish()
	s.b.enqueue(asyncOp{lim: s, now: now, args: s.args("o", extra...)})
	return lowered
}

// SetLimits implements Limiter. Every script call carries the configured
// limits, so Redis applies them with the next call; one is sent now.
func (s *Limiter) SetLimits(now time.Time, limits ratelimit.Amounts) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.configured = limits
	if fb := s.fallback(now); fb != nil {
		fb.SetLimits(now, s.shareLimits(limits))
		s.publish()
		return
	}
	s.b.enqueue(asyncOp{lim: s, now: now, args: s.args("l")})
}

// TimeToCapacity implements Limiter, from the cached state.
func (s *Limiter) TimeToCapacity(now time.Time, inputTokens, outputTokens int64) (time.Duration, ratelimit.Dimension) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if fb := s.fallback(now); fb != nil {
		return fb.TimeToCapacity(now, inputTokens, outputTokens)
	}
	return s.st.timeToCapacity(now, inputTokens, outputTokens)
}

// Outlook implements Limiter.
func (s *Limiter) Outlook() ratelimit.Outlook {
	return ratelimit.Outlook{FullAt: ratelimit.FromNanos(s.fullAt.Load()), ReadyAt: ratelimit.FromNanos(s.readyAt.Load())}
}

// Snapshot implements Limiter, from the cached state, which it refreshes in
// the background when it is older than a second: the status then shows the
// cluster-wide levels, not only this replica's view.
func (s *Limiter) Snapshot(now time.Time) ratelimit.Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	if fb := s.fallback(now); fb != nil {
		return fb.Snapshot(now)
	}
	if !s.st.valid || now.Sub(s.st.at) > snapshotMaxAge {
		s.b.enqueue(asyncOp{lim: s, now: now, args: s.args("q")})
	}
	if !s.st.valid {
		var snap ratelimit.Snapshot
		for d := range snap.Dimensions {
			snap.Dimensions[d] = ratelimit.DimensionState{Limit: s.configured[d], Configured: s.configured[d], Remaining: -1}
			if s.configured[d] > 0 {
				snap.Dimensions[d].Remaining = s.configured[d]
			}
		}
		return snap
	}
	return s.st.snapshot(now)
}

// CoolDown keeps every replica from reserving on this limiter for d: a
// provider's 429 on one replica is news for all of them.
func (s *Limiter) CoolDown(now time.Time, d time.Duration) {
	if d <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if fb := s.fallback(now); fb != nil {
		return // the pool's own cooldown covers this replica
	}
	if until := now.Add(d); until.After(s.st.blocked) {
		s.st.blocked = until
		s.publish()
	}
	s.b.enqueue(asyncOp{lim: s, now: now, args: s.args("c", d.Microseconds())})
}

// store keeps a state answered by Redis unless a newer one is cached.
func (s *Limiter) store(st sharedState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.storeLocked(st)
}

func (s *Limiter) storeLocked(st sharedState) {
	if s.st.valid && st.at.Before(s.st.at) {
		return
	}
	s.st = st
	if s.useFb && !st.at.Before(s.fbSince) && !s.local(st.at) {
		s.useFb = false // Redis answered: the outage is over here
		s.chargeUsed(st.at)
	}
	if !s.useFb {
		s.publish()
	}
}

// fallback returns the local limiter to use while Redis is unavailable, or
// nil when it is available. The first outage makes it from the last shared
// level seen, divided among the replicas, without the refill since then
// (other replicas may have taken it). It is kept afterwards: a later outage
// (Redis flapping) resumes it, capped again by the shared level seen, so
// that local admissions never exceed limit / replicas over the outages
// together. s.mu is held.
func (s *Limiter) fallback(now time.Time) *ratelimit.Local {
	if !s.local(now) {
		if s.useFb {
			s.useFb = false
			s.chargeUsed(now)
			s.publish()
		}
		return nil
	}
	if s.useFb {
		return s.fb
	}
	if s.fb == nil {
		limits := s.configured
		if s.st.valid {
			limits = s.st.limit
		}
		s.fb, _ = ratelimit.NewLocal(now, s.shareLimits(limits)) // limits are never negative here
	}
	if s.st.valid {
		var obs ratelimit.Observations
		for d := range obs {
			obs[d] = ratelimit.NoObservation
			if s.st.known(d) {
				obs[d].Remaining = max(int64(s.st.level[d]), 0) / s.b.replicas
			}
		}
		s.fb.Observe(now, obs) // only ever lowers
	}
	snap := s.fb.Snapshot(now)
	for d, ds := range snap.Dimensions {
		s.fbHanded[d] += max(ds.Remaining, 0)
	}
	s.fbSince, s.useFb = now, true
	return s.fb
}

// local reports whether s serves from its fallback at now: while Redis is
// unavailable, and for a while after a call of s failed (failedLocked).
// s.mu is held.
func (s *Limiter) local(now time.Time) bool {
	return s.b.Degraded() || now.Before(s.localUntil)
}

// failedLocked keeps s on its fallback for a while after a failed call, so
// that its requests neither wait for a Redis that may be going away nor hit
// the same error again at once: one timeout after a failure that may be an
// outage beginning (the backend declares it, or the next call finds Redis
// well), one probe interval after an error about this call alone (callErr:
// a corrupt value, WRONGTYPE), which is also counted and reported. s.mu is
// held.
func (s *Limiter) failedLocked(now time.Time, err error, callErr bool) {
	if !callErr {
		s.localUntil = now.Add(s.b.timeout)
		return
	}
	s.localUntil = now.Add(s.b.probe)
	s.b.callError(s.key, err, now, &s.errLogged)
}

// callFailed is failedLocked for an answer of the background sender.
func (s *Limiter) callFailed(now time.Time, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failedLocked(now, err, true)
}

// usedLocally counts what the fallback admitted (or, for a settlement, the
// change), to be charged in Redis once it answers again; s.mu is held.
func (s *Limiter) usedLocally(a ratelimit.Amounts) {
	for d, v := range a {
		s.fbUsed[d] += v
	}
	if now := time.Now(); !s.useFb && !s.local(now) {
		s.chargeUsed(now) // a local reservation settled after the outage
	}
}

// chargeUsed takes what this replica admitted on its local limits during
// the outage from the shared state: Redis refilled meanwhile as if nobody
// had used the key, while the provider counted every request. Without it
// the replicas would send a burst the provider refuses once Redis is back.
// s.mu is held.
func (s *Limiter) chargeUsed(now time.Time) {
	if s.fbUsed == (ratelimit.Amounts{}) {
		return
	}
	extra := make([]any, 0, ratelimit.NumDimensions)
	for _, v := range s.fbUsed {
		extra = append(extra, v)
	}
	s.fbUsed = ratelimit.Amounts{}
	s.b.enqueue(asyncOp{lim: s, now: now, args: s.args("u", extra...)})
}

// shareLimits is this replica's share of limits.
func (s *Limiter) shareLimits(limits ratelimit.Amounts) ratelimit.Amounts {
	for d, v := range limits {
		if v > 0 {
			limits[d] = max(v/s.b.replicas, 1)
		}
	}
	return limits
}

// share is this replica's share of what a provider reported about the
// whole key.
func (s *Limiter) share(obs ratelimit.Observations) ratelimit.Observations {
	for d := range obs {
		if obs[d].Limit > 0 {
			obs[d].Limit = max(obs[d].Limit/s.b.replicas, 1)
		}
		if obs[d].Remaining > 0 {
			obs[d].Remaining /= s.b.replicas
		}
	}
	return obs
}

// publish stores the outlook of whichever state serves now; s.mu is held.
func (s *Limiter) publish() {
	var o ratelimit.Outlook
	if s.useFb {
		o = s.fb.Outlook()
	} else {
		o = s.st.outlook()
	}
	s.fullAt.Store(nanosOf(o.FullAt))
	s.readyAt.Store(nanosOf(o.ReadyAt))
}

func nanosOf(t time.Time) int64 {
	if t.IsZero() {
		return ratelimit.Always
	}
	return t.UnixNano()
}

// Sync implements ratelimit.Limiter: other replicas have requests in
// flight that this one cannot see, so a shared limiter never raises a
// level to a reported count; it only observes.
func (s *Limiter) Sync(now time.Time, obs ratelimit.Observations, _ ratelimit.Reservation) uint8 {
	return s.Observe(now, obs)
}

// RoundTrips implements ratelimit.Limiter: Reserve is a Redis call.
func (*Limiter) RoundTrips() bool { return true }
