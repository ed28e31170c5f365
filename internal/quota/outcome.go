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

package quota

// Outcome is how a client's request ended, for its accounting.
type Outcome uint8

// Outcomes of a client request.
const (
	// OutcomeServed: the upstream answered (any status but 429 and 5xx).
	OutcomeServed Outcome = iota
	// OutcomeThrottled: the client got a 429, from the proxy (no capacity,
	// queue full) or from the upstream.
	OutcomeThrottled
	// OutcomeOverQuota: the client got a 429 because it is over one of its
	// own quotas (Clients.Admit).
	OutcomeOverQuota
	// OutcomeFailed: an upstream 5xx, a transport error, or any other
	// proxy error.
	OutcomeFailed
	// OutcomeCancelled: the client left before it got an answer.
	OutcomeCancelled
	// NumOutcomes is the number of outcomes, for arrays indexed by Outcome.
	NumOutcomes
)

var outcomeNames = [NumOutcomes]string{"served", "throttled", "over_quota", "failed", "cancelled"}

// String is the outcome's name as metrics and the status show it.
func (o Outcome) String() string {
	if o < NumOutcomes {
		return outcomeNames[o]
	}
	return "unknown"
}

// OutcomeOf classifies an answer's HTTP status: 429 throttled, 499 (the
// client left) cancelled, 5xx failed, anything else served.
func OutcomeOf(status int) Outcome {
	switch {
	case status == 429:
		return OutcomeThrottled
	case status == 499:
		return OutcomeCancelled
	case status >= 500:
		return OutcomeFailed
	}
	return OutcomeServed
}
