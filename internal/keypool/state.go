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

package keypool

// State is a key's place in its life cycle.
type State string

const (
	// StateAvailable: the key has capacity for a request now.
	StateAvailable State = "Available"
	// StateCoolingDown: the provider answered 429 (until retry-after), the
	// circuit breaker tripped, or MarkKeyExhausted was called.
	StateCoolingDown State = "CoolingDown"
	// StateRateLimited: the key's local limits (or its group's) are spent.
	// The pool notices the refill when it next looks at the key, so the
	// transition back to Available is reported then, not at the exact
	// instant; under saturation these transitions are frequent.
	StateRateLimited State = "RateLimited"
	// StateRejected: the provider answered 401 or 403; the key stays out of
	// use until its value changes.
	StateRejected State = "Rejected"
)

// Transition reports a key's state change (for Events and metrics).
type Transition struct {
	KeyID string
	From  State
	To    State
	// Reason says why, e.g. "rate limited by provider (429)" or "rejected by
	// provider (401)". It never contains a key's value.
	Reason string
}
