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

import "github.com/keypool-dev/keypool-operator/internal/ratelimit"

// Usage is what a request really consumed, read from the response.
type Usage struct {
	// InputTokens counts against the input limit. For OpenAI-compatible
	// APIs put the whole prompt token count here.
	InputTokens int64
	// OutputTokens counts against the output limit.
	OutputTokens int64
	// CacheCreationInputTokens counts against the input limit too
	// (Anthropic counts cache writes as input).
	CacheCreationInputTokens int64
	// CacheReadInputTokens does not count against any limit (Anthropic does
	// not count cache reads towards ITPM); it is accepted for completeness.
	CacheReadInputTokens int64
}

// counted is the usage as the limiter counts it.
func (u Usage) counted() ratelimit.Usage {
	return ratelimit.Usage{
		InputTokens:  u.InputTokens + u.CacheCreationInputTokens,
		OutputTokens: u.OutputTokens,
	}
}

// AcquireOptions describe the request a key is wanted for.
type AcquireOptions struct {
	// EstimatedInputTokens is reserved now from the key's input limits and
	// settled by Settle.
	EstimatedInputTokens int64
	// ReserveOutputTokens, when positive, is the output reserved now from
	// the key's output limits in place of what the pool learned prompts of
	// this size produce, and settled by Settle to the real output: the
	// request's max_tokens, where the provider admits output that way
	// (Anthropic, see provider.RequestFacts.ReserveOutput).
	ReserveOutputTokens int64
	// Exclude lists key IDs this request already tried: Acquire does not
	// return them, and falls back to a lower priority tier if they were the
	// only keys with capacity in a higher one.
	Exclude []string
	// Client is the authenticated client's name (see Access.ClientNames);
	// empty for an unnamed client. Waiting requests are served fairly
	// between clients by name.
	Client string
	// Affinity is a hash of what the request shares with earlier ones (its
	// session id or prompt prefix); 0 for none. When the pool's Affinity is
	// on, the request goes to the limit group that served the same value
	// last while that group has capacity (see affinity.go).
	Affinity uint64

	// affinityWaitUntil is when a queued request stops holding its turn
	// for its affine group (Unix ns; 0 until it first does).
	affinityWaitUntil int64

	// Retry is what the request says about being a retry (the proxy reads
	// the SDKs' X-Stainless-Retry-Count). A request that may be one claims
	// the capacity booked for its client when it was told to retry (see
	// bookings.go).
	Retry RetryHint

	claim bool // it claimed a booking: it waits ahead of the fair queue

	// Model is the model (or deployment) the request asks for, as the
	// provider's rate limits name it (provider.Provider.Model); "" for
	// none. It selects the class of limits the request is admitted
	// against, learned from and cooled by (classes.go).
	Model string
	class int // Model's class ID, resolved by Acquire
}

// Lease is one request's hold on a key. Every Lease obtained from Acquire
// must be ended by exactly one call to Settle; a second Settle of the same
// *Lease is a no-op. ReportResponse and ReportError may be called before
// Settle. A Lease stays valid when the pool is updated, even if its key was
// removed or its value changed (reports about it then change nothing).
type Lease struct {
	KeyID  string
	APIKey string

	key  *keyMetadata
	grp  *group      // the group the reservation was taken from
	cls  *classState // its model class's limits; nil for the default class
	res  ratelimit.Reservation
	aff  uint64 // AcquireOptions.Affinity
	band uint8  // input-size band, for the output learned per band (fit.go)
	est  int64  // AcquireOptions.EstimatedInputTokens
	out  int64  // the output held when it was granted (attempt.out)
}

// limiter is the limiter the reservation was taken from.
func (l *Lease) limiter() ratelimit.Limiter {
	if l.cls != nil {
		return l.cls.lim
	}
	return l.grp.lim
}

// Estimated is what the pool reserved for the request: its input estimate
// and the output it held (AcquireOptions.ReserveOutputTokens, or what
// prompts of its size produced, learned from every client's answers, 0
// until some answer reported usage). It is the pool's bookkeeping, never a
// client's bill: an answer without usage is charged from the request
// itself (see the proxy's charge.go).
func (l *Lease) Estimated() Usage { return Usage{InputTokens: l.est, OutputTokens: l.out} }
