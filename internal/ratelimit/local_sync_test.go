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
	"math/rand/v2"
	"testing"
)

// syncReq reports remaining in dimension d in response to r, with the
// limit the provider reports: 100.
func syncReq(l *Local, d Dimension, remaining int64, r *Reservation) uint8 {
	return syncReqLimit(l, d, 100, remaining, r)
}

func syncReqLimit(l *Local, d Dimension, limit, remaining int64, r *Reservation) uint8 {
	obs := NoObservations
	obs[d] = Observation{Limit: limit, Remaining: remaining}
	return l.Sync(t0, obs, *r)
}

// TestSyncKeepsAConfiguredCap checks that a configured limit below the
// provider's is never raised past: it is the operator's cap, and the
// provider's remaining count is about its own, larger limit.
func TestSyncKeepsAConfiguredCap(t *testing.T) {
	l := newLocal(t, Amounts{Requests: 50})
	reserveN(t, l, t0, 40, 0)
	r, _ := l.Reserve(t0, 0, LearnedOutput)
	syncReqLimit(l, Requests, 100, 95, &r)
	if got := remaining(l, t0, Requests); got != 9 {
		t.Fatalf("remaining %d, want 9: the configured 50 caps what the provider's 100 reports", got)
	}
}

// TestSyncRaisesToTheProviderLessInFlight checks that a remaining count
// above the local level raises it, less the requests still in flight (the
// one answered included).
func TestSyncRaisesToTheProviderLessInFlight(t *testing.T) {
	l := newLocal(t, Amounts{Requests: 100})
	for range 58 {
		r, ok := l.Reserve(t0, 0, LearnedOutput)
		if !ok {
			t.Fatal("refused below the limit")
		}
		l.Settle(t0, r, Usage{})
	}
	var held []Reservation
	for range 2 {
		r, _ := l.Reserve(t0, 0, LearnedOutput)
		held = append(held, r)
	}
	// 2 in flight; locally 40 left. The provider says 90 (its limit was
	// reset sooner than modelled, say).
	if lowered := syncReq(l, Requests, 90, &held[1]); lowered != 0 {
		t.Fatalf("a raise reported lowered dimensions %b", lowered)
	}
	if got := remaining(l, t0, Requests); got != 88 {
		t.Fatalf("remaining %d after the provider reported 90 with 2 in flight, want 88", got)
	}
	// Observe, which knows no request, still never raises.
	obs := NoObservations
	obs[Requests] = Observation{Remaining: 100}
	l.Observe(t0, obs)
	if got := remaining(l, t0, Requests); got != 88 {
		t.Fatalf("Observe raised the level to %d", got)
	}
	// A lower count still lowers.
	if lowered := syncReq(l, Requests, 10, &held[1]); lowered != 1<<Requests {
		t.Fatalf("lowered = %b, want the requests bit", lowered)
	}
	if got := remaining(l, t0, Requests); got != 10 {
		t.Fatalf("remaining %d after the provider reported 10", got)
	}
}

// TestSyncDeductsWhatSettledSince checks that a stale count, from a
// response to a request taken before others that have since settled, is
// lowered by those: the provider may have answered before it saw them.
func TestSyncDeductsWhatSettledSince(t *testing.T) {
	l := newLocal(t, Amounts{Requests: 100, InputTokens: 10_000})
	old, ok := l.Reserve(t0, 1_000, LearnedOutput)
	if !ok {
		t.Fatal("refused")
	}
	for range 5 {
		r, _ := l.Reserve(t0, 1_000, LearnedOutput)
		l.Settle(t0, r, Usage{InputTokens: 1_000})
	}
	// Locally: 94 requests, 4,000 input tokens left. The provider answered
	// old's request when it had admitted only old: 99 and 9,000 left.
	obs := NoObservations
	obs[Requests] = Observation{Limit: 100, Remaining: 99}
	obs[InputTokens] = Observation{Limit: 10_000, Remaining: 9_000}
	l.Sync(t0, obs, old)
	// Deducted: old in flight (1 request, 1,000 tokens) and the 5 settled
	// since (5 requests, 5,000 tokens).
	if got := remaining(l, t0, Requests); got != 94 {
		t.Fatalf("requests remaining %d, want 99 - 1 - 5 = 94 (no raise)", got)
	}
	if got := remaining(l, t0, InputTokens); got != 4_000 {
		t.Fatalf("input remaining %d, want 9,000 - 1,000 - 5,000 = 3,000, so no raise from 4,000", got)
	}
}

// TestSyncNeverAboveTheLimit caps a raise at a full bucket.
func TestSyncNeverAboveTheLimit(t *testing.T) {
	l := newLocal(t, Amounts{Requests: 10})
	r, _ := l.Reserve(t0, 0, LearnedOutput)
	reserveN(t, l, t0, 9, 0)
	syncReqLimit(l, Requests, 10, 1_000, &r)
	if got := remaining(l, t0, Requests); got != 10 {
		t.Fatalf("remaining %d, want the limit 10 at most", got)
	}
}

// TestSyncNeverOvercommitsTheProvider drives a provider bucket (frozen in
// time, so nothing refills) and the local limiter with requests whose
// admission, answer, report and settlement interleave at random, the
// reports arriving late and out of order. Every request the local limiter
// lets through must fit in the provider's bucket: raising from stale
// counts must never cause an upstream 429.
func TestSyncNeverOvercommitsTheProvider(t *testing.T) {
	const limit = 50
	rng := rand.New(rand.NewPCG(1, 2))
	raised := 0 // rounds that admitted more than the local picture began with
	for round := range 200 {
		l := newLocal(t, Amounts{Requests: limit})
		// The local picture starts low (a pessimistic model).
		syncOnce := NoObservations
		start := int64(1 + rng.IntN(limit/2))
		syncOnce[Requests] = Observation{Remaining: start}
		l.Observe(t0, syncOnce)
		provider := int64(limit)
		type req struct {
			r        Reservation
			admitted bool
			reported int64 // the provider's remaining when it answered
		}
		var sent, answered []*req
		admittedTotal := 0
		for step := 0; step < 400; step++ {
			switch rng.IntN(4) {
			case 0: // a client request
				if r, ok := l.Reserve(t0, 0, LearnedOutput); ok {
					sent = append(sent, &req{r: r})
				}
			case 1: // the provider admits one sent request (any order)
				if len(sent) == 0 {
					continue
				}
				i := rng.IntN(len(sent))
				q := sent[i]
				sent = append(sent[:i], sent[i+1:]...)
				if provider < 1 {
					t.Fatalf("round %d: the provider refused a request the limiter let through (429)", round)
				}
				provider--
				admittedTotal++
				q.admitted, q.reported = true, provider
				answered = append(answered, q)
			case 2, 3: // a late answer is reported and settled
				if len(answered) == 0 {
					continue
				}
				i := rng.IntN(len(answered))
				q := answered[i]
				answered = append(answered[:i], answered[i+1:]...)
				syncReqLimit(l, Requests, limit, q.reported, &q.r)
				l.Settle(t0, q.r, Usage{})
			}
		}
		if int64(admittedTotal) > start {
			raised++
		}
	}
	if raised < 100 {
		t.Fatalf("only %d of 200 rounds used more than their starting level: the raise is not exercised", raised)
	}
}
