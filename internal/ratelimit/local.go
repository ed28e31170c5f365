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

package ratelimit

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Local is a Limiter kept in this process's memory.
type Local struct {
	mu sync.Mutex
	b  [NumDimensions]bucket

	// out learns the output tokens per request; held is the expected output
	// of the requests in flight, per output dimension, which the provider's
	// remaining counts do not include yet (output it admitted at the start,
	// see ReserveAdmitted, is not held).
	out  outputEstimate
	held Amounts
	// inFlight is what the unsettled reservations took, per dimension, and
	// settled the running total of what settled ones took: Sync deducts
	// both from a provider's remaining count before raising a level.
	inFlight Amounts
	settled  Amounts

	// The outlook is recomputed after every change, under mu, and read
	// without it: the pool reads it after every operation on the hot path.
	fullAt  atomic.Int64 // Unix nanoseconds; always = no known limit
	readyAt atomic.Int64
}

var _ Limiter = (*Local)(nil)

// NewLocal returns a limiter with the given configured per-minute limits
// (0 = unknown), every known dimension starting full.
func NewLocal(now time.Time, limits Amounts) (*Local, error) {
	if err := ValidateLimits(limits); err != nil {
		return nil, err
	}
	l := &Local{}
	l.mu.Lock()
	defer l.mu.Unlock()
	for d := range l.b {
		l.b[d].setLimits(now, limits[d], 0)
	}
	l.publish()
	return l, nil
}

// ValidateLimits reports a negative limit.
func ValidateLimits(limits Amounts) error {
	for d, v := range limits {
		if v < 0 {
			return fmt.Errorf("negative %s limit %d", Dimension(d), v)
		}
	}
	return nil
}

// Takes is what a request with the given input estimate and expected
// output takes per dimension up front: one request, the input estimate from
// both input-counting dimensions and the expected output from both
// output-counting ones. Settle replaces the estimates with real usage.
func Takes(inputTokens, outputTokens int64) Amounts {
	inputTokens, outputTokens = max(inputTokens, 0), max(outputTokens, 0)
	return Amounts{Requests: 1, InputTokens: inputTokens, OutputTokens: outputTokens, Tokens: inputTokens + outputTokens}
}

// Reserve implements Limiter.
func (l *Local) Reserve(now time.Time, inputTokens, outputTokens int64) (Reservation, bool) {
	return l.reserve(now, inputTokens, outputTokens, false)
}

// ReserveAdmitted implements Limiter.
func (l *Local) ReserveAdmitted(now time.Time, inputTokens, outputTokens int64) (Reservation, bool) {
	return l.reserve(now, inputTokens, outputTokens, true)
}

func (l *Local) reserve(now time.Time, inputTokens, outputTokens int64, admitted bool) (Reservation, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := OutputOr(outputTokens, l.out.expect())
	take := Takes(inputTokens, out)
	for d := range l.b {
		if !l.b[d].has(now, take[d]) {
			return Reservation{}, false
		}
	}
	r := Reservation{Admitted: admitted}
	for d := range l.b {
		b := &l.b[d]
		if take[d] == 0 {
			continue
		}
		b.debit(now, take[d])
		if b.known() {
			r.Taken[d] = take[d]
		}
	}
	for _, d := range outputDims {
		if r.Taken[d] > 0 && out > 0 {
			r.Output[d] = out
			if !admitted {
				l.held[d] += out
			}
		}
	}
	r.settledAt = l.settled
	for d, v := range r.Taken {
		l.inFlight[d] += v
	}
	l.publish()
	return r, true
}

// Settle implements Limiter.
func (l *Local) Settle(now time.Time, r Reservation, u Usage) {
	delta, out, changes := Settlement(r, u)
	if !changes && r.Taken == (Amounts{}) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for d, v := range r.Taken {
		l.inFlight[d] -= v
		l.settled[d] += v
	}
	if !changes {
		return
	}
	if !r.Admitted {
		for _, d := range outputDims {
			l.held[d] -= r.Output[d]
		}
	}
	expected := l.out.expect()
	l.out.add(out)
	relearned := l.out.expect() != expected
	if relearned {
		l.setFloors()
	}
	for d := range l.b {
		l.b[d].adjust(now, delta[d])
	}
	l.publish()
}

// Observe implements Limiter.
func (l *Local) Observe(now time.Time, obs Observations) uint8 {
	return l.apply(now, obs, nil)
}

// Sync implements Limiter.
func (l *Local) Sync(now time.Time, obs Observations, r Reservation) uint8 {
	return l.apply(now, obs, &r.settledAt)
}

// apply lowers to what obs reports and, given the running total of settled
// Takes when the request it answers was taken, raises to it (see Limiter.Sync).
func (l *Local) apply(now time.Time, obs Observations, settledAt *Amounts) uint8 {
	seen := false
	for _, o := range obs {
		seen = seen || o.Reported()
	}
	if !seen {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var lowered uint8
	for d := range l.b {
		if !obs[d].Reported() {
			continue
		}
		if l.b[d].observe(now, obs[d], float64(l.held[d])) {
			lowered |= 1 << d
		} else if settledAt != nil && obs[d].Remaining >= 0 {
			// Everything in flight and everything settled since the answered
			// request was taken may be missing from the count: deduct it all.
			pending := l.inFlight[d] + l.settled[d] - settledAt[d]
			l.b[d].raiseTo(now, float64(obs[d].Remaining-pending))
		}
	}
	l.publish()
	return lowered
}

// SetLimits implements Limiter.
func (l *Local) SetLimits(now time.Time, limits Amounts) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for d := range l.b {
		l.b[d].setLimits(now, limits[d], l.b[d].learned)
	}
	l.publish()
}

// TimeToCapacity implements Limiter.
func (l *Local) TimeToCapacity(now time.Time, inputTokens, outputTokens int64) (time.Duration, Dimension) {
	l.mu.Lock()
	take := Takes(inputTokens, OutputOr(outputTokens, l.out.expect()))
	defer l.mu.Unlock()
	var longest time.Duration
	dim := Dimension(-1)
	for d := range l.b {
		b := &l.b[d]
		if !b.known() {
			continue
		}
		if w := b.wait(b.level(now), b.need(take[d])); w > longest {
			longest, dim = w, Dimension(d)
		}
	}
	return longest, dim
}

// Outlook implements Limiter.
func (l *Local) Outlook() Outlook {
	return Outlook{FullAt: FromNanos(l.fullAt.Load()), ReadyAt: FromNanos(l.readyAt.Load())}
}

// Snapshot implements Limiter.
func (l *Local) Snapshot(now time.Time) Snapshot {
	l.mu.Lock()
	defer l.mu.Unlock()
	var s Snapshot
	for d := range l.b {
		b := &l.b[d]
		ds := &s.Dimensions[d]
		ds.Limit, ds.Configured, ds.Learned, ds.ResetAt = b.limit, b.configured, b.learned, b.resetAt
		ds.Remaining = -1
		if !b.known() {
			continue
		}
		lv := b.level(now)
		ds.Remaining = max(int64(lv+Epsilon), 0)
		ds.Wait = b.wait(lv, 1)
		ds.FullAt = FromNanos(b.fullAt(now.UnixNano(), lv))
	}
	return s
}

// publish stores the outlook; l.mu is held. A bucket's state is its level
// at its own time, and refill is linear, so the times follow from the state
// alone, whatever the time now.
func (l *Local) publish() {
	full, ready := int64(Always), int64(Always)
	for d := range l.b {
		if b := &l.b[d]; b.known() {
			full = max(full, b.fullAt(b.at, b.tokens))
			ready = max(ready, b.readyAt(b.at, b.tokens))
		}
	}
	l.fullAt.Store(full)
	l.readyAt.Store(ready)
}

func FromNanos(ns int64) time.Time {
	if ns == Always {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// setFloors makes the output dimensions' readiness wait for the expected
// output of one request, as Reserve does; l.mu is held.
func (l *Local) setFloors() {
	for _, d := range outputDims {
		l.b[d].floor = l.out.expect()
	}
}

// CoolDown implements Limiter: a Local limiter is this process's alone, and
// the pool cools its own keys.
func (*Local) CoolDown(time.Time, time.Duration) {}

// RoundTrips implements Limiter: Reserve takes the limiter's mutex only.
func (*Local) RoundTrips() bool { return false }

// MayReserve implements Limiter.
func (l *Local) MayReserve(now time.Time, inputTokens, outputTokens int64) bool {
	d, _ := l.TimeToCapacity(now, inputTokens, outputTokens)
	return d <= 0
}
