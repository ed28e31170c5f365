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
	"testing"
	"time"
)

func TestExpectedOutputIsHeldAtReserve(t *testing.T) {
	l := newLocal(t, Amounts{OutputTokens: 1000})
	// Nothing learned yet: nothing held.
	r, _ := l.Reserve(t0, 0, LearnedOutput)
	if got := remaining(l, t0, OutputTokens); got != 1000 {
		t.Fatalf("first reserve: remaining %d, want 1000", got)
	}
	l.Settle(t0, r, Usage{OutputTokens: 200})
	if got := remaining(l, t0, OutputTokens); got != 800 {
		t.Fatalf("after 200 out: remaining %d, want 800", got)
	}
	// The next request is expected to produce 200 too, held up front.
	r, _ = l.Reserve(t0, 0, LearnedOutput)
	if r.Output[OutputTokens] != 200 || r.Taken[OutputTokens] != 200 {
		t.Fatalf("reservation %+v, want 200 output held", r)
	}
	if got := remaining(l, t0, OutputTokens); got != 600 {
		t.Fatalf("while in flight: remaining %d, want 600", got)
	}
	// It produced 300: 100 more is charged, nothing twice.
	l.Settle(t0, r, Usage{OutputTokens: 300})
	if got := remaining(l, t0, OutputTokens); got != 500 {
		t.Fatalf("after settle: remaining %d, want 500", got)
	}
}

func TestCallersExpectedOutputIsHeldInsteadOfTheAverage(t *testing.T) {
	l := newLocal(t, Amounts{OutputTokens: 1000})
	r, _ := l.Reserve(t0, 0, LearnedOutput)
	l.Settle(t0, r, Usage{OutputTokens: 100}) // average 100, 900 left
	// A request the caller expects to answer at length holds its own 700,
	// not the average.
	r, ok := l.Reserve(t0, 0, 700)
	if !ok || r.Output[OutputTokens] != 700 || r.Taken[OutputTokens] != 700 {
		t.Fatalf("reservation %+v %v, want 700 output held", r, ok)
	}
	// 200 left: a second long answer waits until 700 are back, 30 s at
	// 1000/min, while a short one (the average) still fits.
	if _, ok := l.Reserve(t0, 0, 700); ok {
		t.Fatal("reserved 700 output tokens with 200 left")
	}
	if w, d := l.TimeToCapacity(t0, 0, 700); w != 30*time.Second || d != OutputTokens {
		t.Fatalf("TimeToCapacity = %v %v, want 30s output", w, d)
	}
	if _, ok := l.Reserve(t0, 0, LearnedOutput); !ok {
		t.Fatal("a request of the average output (100) refused with 200 left")
	}
	// Zero is an expectation too: nothing held.
	if r, ok := l.Reserve(t0, 0, 0); !ok || r.Output != (Amounts{}) {
		t.Fatalf("reservation %+v %v, want no output held", r, ok)
	}
}

func TestExpectedOutputDelaysReadiness(t *testing.T) {
	l := newLocal(t, Amounts{OutputTokens: 600})
	r, _ := l.Reserve(t0, 0, LearnedOutput)
	l.Settle(t0, r, Usage{OutputTokens: 600}) // bucket empty, 600 expected next
	// A request needs the expected 600 back, not one token: a minute.
	if w, d := l.TimeToCapacity(t0, 0, LearnedOutput); w != time.Minute || d != OutputTokens {
		t.Fatalf("TimeToCapacity = %v %v, want 1m output", w, d)
	}
	if _, ok := l.Reserve(t0.Add(30*time.Second), 0, LearnedOutput); ok {
		t.Fatal("reserved with half the expected output in the bucket")
	}
	if ready := l.Outlook().ReadyAt; !ready.Equal(t0.Add(time.Minute)) {
		t.Fatalf("ReadyAt = %v, want t0+1m", ready)
	}
}

func TestObserveLeavesRoomForOutputInFlight(t *testing.T) {
	l := newLocal(t, Amounts{OutputTokens: 1000})
	r, _ := l.Reserve(t0, 0, LearnedOutput)
	l.Settle(t0, r, Usage{OutputTokens: 100})
	inFlight, _ := l.Reserve(t0, 0, LearnedOutput) // holds 100 expected output
	// The provider reports 500 left: it has not charged the request in
	// flight yet, so 400 are really free.
	obs := NoObservations
	obs[OutputTokens] = Observation{Remaining: 500}
	l.Observe(t0, obs)
	if got := remaining(l, t0, OutputTokens); got != 400 {
		t.Fatalf("after observe: remaining %d, want 400", got)
	}
	// The request then produces 100: charged once, by the provider's count.
	l.Settle(t0, inFlight, Usage{OutputTokens: 100})
	if got := remaining(l, t0, OutputTokens); got != 400 {
		t.Fatalf("after settle: remaining %d, want 400", got)
	}
}
