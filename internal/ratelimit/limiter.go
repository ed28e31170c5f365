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

import "time"

// Limiter is the capacity of one key or one limit group. Implementations are
// safe for concurrent use. Every method takes the current time from the
// caller, so one clock drives the whole pool.
type Limiter interface {
	// Reserve takes one request, inputTokens (an estimate, may be 0) and
	// outputTokens, the output the request is expected to produce (or,
	// given LearnedOutput, what this limiter's settled requests produced on
	// average; 0 until one did), if every known dimension has capacity for
	// them now; otherwise it takes nothing and returns false. A dimension
	// needs at least one unit left even when nothing is taken from it, and
	// a demand larger than a whole bucket only needs a full bucket, so that
	// no request is refused forever.
	Reserve(now time.Time, inputTokens, outputTokens int64) (Reservation, bool)
	// ReserveAdmitted is Reserve for a request whose provider admits its
	// output at the start (Anthropic takes max_tokens from OTPM when the
	// request arrives and refunds the unused part at the end): the output
	// it takes is not held, since the provider's remaining counts already
	// leave it out, and lowering them by it again would count it twice.
	ReserveAdmitted(now time.Time, inputTokens, outputTokens int64) (Reservation, bool)
	// Settle replaces a reservation with what the request really used: the
	// unused part of the input estimate is returned, the excess and all
	// output tokens are charged (a bucket may go into debt). When
	// r.Settles(u) is false no level changes and now is not read.
	Settle(now time.Time, r Reservation, u Usage)
	// Observe applies what one response reported, per dimension, at once.
	// It adjusts in place and never adds capacity: a reported remaining
	// count caps the level (for output dimensions, less the expected output
	// that the requests in flight hold, which the provider charges only
	// when they end: not what ReserveAdmitted took), a
	// reported limit changes rate and size but keeps the level. It returns the dimensions (bit 1<<d) whose level it lowered.
	Observe(now time.Time, obs Observations) (lowered uint8)
	// SetLimits sets the configured per-minute limits (0 = unknown). The
	// effective limit of a dimension is the lower of the configured and the
	// learned one.
	SetLimits(now time.Time, limits Amounts)
	// TimeToCapacity is how long until Reserve(now, inputTokens,
	// outputTokens) can succeed if nothing else happens, and the dimension
	// that takes longest (0 and -1 when it can succeed now).
	TimeToCapacity(now time.Time, inputTokens, outputTokens int64) (time.Duration, Dimension)
	// Outlook summarises the state as absolute times that stay true until
	// the next call that changes the state; reading it is cheap.
	Outlook() Outlook
	// Snapshot reports every dimension at now.
	Snapshot(now time.Time) Snapshot
	// Sync is Observe for the response to the request of r, and may also
	// raise a dimension whose reported remaining count, less everything
	// this limiter has in flight (r's request included) and everything
	// settled since r was taken, exceeds the local level: the provider's
	// bucket refilled sooner than modelled (a reset passed, a limit was
	// raised, usage was over-estimated), in a dimension whose limit is the
	// provider's (a lower configured limit is the operator's cap, and is
	// never raised past). Those deductions cover every request the
	// provider may not have counted yet when it answered r, so a raise
	// never admits more than the provider holds. Only a limiter that alone
	// holds the capacity it models raises (Local); a shared one, whose
	// other replicas have requests in flight it cannot see, only observes.
	// It returns the dimensions whose level it lowered, as Observe does.
	Sync(now time.Time, obs Observations, r Reservation) (lowered uint8)
	// CoolDown keeps every process that shares this limiter from reserving
	// for d, when the provider answered 429 to one of them. A limiter of
	// this process alone does nothing: the pool cools its own keys.
	CoolDown(now time.Time, d time.Duration)
	// RoundTrips reports whether Reserve makes a network round trip. A pool
	// does not hold its own lock across such a Reserve: it chooses a key
	// under the lock, asking MayReserve, reserves without the lock, and
	// takes the lock again to hand the key out or try the next one.
	RoundTrips() bool
	// MayReserve reports, from what the limiter knows without a round
	// trip, whether Reserve(now, inputTokens, outputTokens) could succeed.
	// false means it clearly cannot (no capacity even if nobody else took
	// any since the state was last read), so that the pool skips the key
	// without a round trip; true promises nothing.
	MayReserve(now time.Time, inputTokens, outputTokens int64) bool
}

// LearnedOutput, as Reserve's outputTokens, stands for the output the
// limiter learned its requests produce on average. A caller that knows more
// about the request (a pool learns output per prompt size) passes its own
// expectation: a long answer then needs room for itself, instead of the
// average, before it is admitted, and a limiter short of output tokens is
// left to requests that need few.
const LearnedOutput int64 = -1

// Reservation is what Reserve took, for Settle.
type Reservation struct {
	// Taken is what was taken per dimension; a dimension that was unknown at
	// reservation time took nothing.
	Taken Amounts
	// Output is the part of Taken that is expected output tokens (in the
	// OutputTokens and Tokens dimensions), until Settle charges the real
	// output instead.
	Output Amounts
	// Admitted marks a reservation of ReserveAdmitted: the provider counts
	// its Output from the start, so the limiter does not hold it.
	Admitted bool
	// Absorbed marks dimensions (bit 1<<d) whose level was since lowered to
	// a provider-reported remaining count that already included this
	// request's input; Settle does not settle their input share again.
	Absorbed uint8

	// Remote marks a reservation a shared limiter (package shared) took in
	// Redis rather than from its local fallback, so that its Settle settles
	// it where it was taken.
	Remote bool
	// settledAt is the limiter's running total of settled takes when this
	// reservation was taken (see Limiter.Sync): what settled since may be missing
	// from a remaining count reported in its response.
	settledAt Amounts
}

// Observation is what one response said about one dimension.
type Observation struct {
	// Limit is the per-minute limit; <= 0 means not reported.
	Limit int64
	// Remaining is what is left; < 0 means not reported.
	Remaining int64
	// Reset is when the provider's bucket is full again; zero means not
	// reported.
	Reset time.Time
}

// Observations holds one Observation per dimension, indexed by Dimension.
type Observations [NumDimensions]Observation

// NoObservations reports nothing in any dimension.
var NoObservations = Observations{NoObservation, NoObservation, NoObservation, NoObservation}

// NoObservation is an Observation that reports nothing.
var NoObservation = Observation{Remaining: -1}

// Reported reports whether o carries any information.
func (o Observation) Reported() bool {
	return o.Limit > 0 || o.Remaining >= 0 || !o.Reset.IsZero()
}

// Outlook is a limiter's state as two absolute times. Because every bucket
// refills over the same Window, a limiter whose FullAt is earlier has the
// larger remaining share (min over its dimensions of level/limit) at every
// instant until its state changes again; the pool orders keys by it.
type Outlook struct {
	// FullAt is when every known dimension is full; zero when no dimension
	// is known (always full). A FullAt in the past means full now.
	FullAt time.Time
	// ReadyAt is when every known dimension holds at least one unit, the
	// least a request needs; zero when no dimension is known.
	ReadyAt time.Time
}

// Snapshot is a limiter's state at one instant.
type Snapshot struct {
	Dimensions [NumDimensions]DimensionState
}

// DimensionState is one dimension at one instant.
type DimensionState struct {
	// Limit is the effective per-minute limit; 0 = unknown.
	Limit int64
	// Configured and Learned are the two sources of Limit (0 = none).
	Configured int64
	Learned    int64
	// Remaining is the whole units left now (never negative); -1 = unknown.
	Remaining int64
	// Wait is how long until one unit is available (0 = now).
	Wait time.Duration
	// FullAt is when the bucket is full again; zero when unknown.
	FullAt time.Time
	// ResetAt is the last reset time the provider reported; zero if none.
	ResetAt time.Time
}

// Settles reports whether settling r with u changes any level. When it
// does not (a request that used nothing, from a limiter that held no
// output for it), Settle only counts the request as no longer in flight:
// the limiter's outlook stays as it was.
func (r Reservation) Settles(u Usage) bool {
	_, _, changes := Settlement(r, u)
	return changes
}

// Settlement is what settling r with u changes: per dimension, the real
// usage less what was taken (input not yet absorbed by a provider-reported
// remaining count; output replacing the expected output held), and the real
// output. changes is false when settling would change nothing.
func Settlement(r Reservation, u Usage) (delta Amounts, out int64, changes bool) {
	in, out := max(u.InputTokens, 0), max(u.OutputTokens, 0)
	if r.Absorbed&(1<<InputTokens) == 0 {
		delta[InputTokens] = in - r.Taken[InputTokens]
	}
	delta[OutputTokens] = out - r.Output[OutputTokens]
	delta[Tokens] = out - r.Output[Tokens]
	if r.Absorbed&(1<<Tokens) == 0 {
		delta[Tokens] += in - (r.Taken[Tokens] - r.Output[Tokens])
	}
	return delta, out, delta != (Amounts{}) || r.Output != (Amounts{}) || out != 0
}
