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

// Package keypool keeps a live, thread-safe picture of a pool of provider API
// keys and hands every request the best key that has capacity.
//
// It is pure Go: it imports nothing from Kubernetes, so that the controller
// (which builds pools from KeyPool resources) and the proxy (which uses them)
// both depend on it, and never on each other.
//
// # Life of a request
//
// The proxy holds one Request per client request: Begin admits it against
// the client's own quotas (internal/quota), Acquire takes a key for each
// attempt (a key a failed-over attempt held goes back first), Answered
// reports the provider's answer as soon as its headers arrive (Failed a
// transport failure), and one Finish settles the key's reservation and the
// client's quota with the same real usage and counts the outcome. Acquire
// picks a key within the highest priority tier that has capacity, using the
// pool's Strategy; a key has capacity when it is neither cooling down nor
// rejected and its limiter (shared by all keys of a limit group) has room in
// every known dimension. The lower-level calls (Acquire, ReportResponse,
// ReportError, Settle) stay exported for tests and programs that drive the
// pool directly.
//
// # What the pool learns
//
// Per-key or per-group limits come from the configuration and from the
// provider's rate-limit headers (parsed by the pool's provider.Provider);
// learning adjusts capacity in place and never refills
// it. Keys without a configured limit group that the provider names as
// belonging to one organisation are grouped (see LearnedGroupPrefix), so an
// organisation's limit is not counted once per key. Each limiter holds the
// expected output tokens of a request from Acquire to Settle, because
// providers refuse requests while the output budget is spent but charge
// output only as it is generated. A 429 cools the key (and its limit group) down until retry-after; a 401
// or 403 rejects the key until its value changes; repeated 5xx responses or
// transport errors trip a small circuit breaker.
//
// # Hot path
//
// Selection does not scan the keys: the least-loaded strategy keeps its keys
// in a heap ordered by when their buckets are full again (an order that does
// not change as time passes, because every bucket refills over the same
// minute) and a FIFO of keys that are full, so that a pool of 1,000 keys picks
// as fast as a pool of 3. Scans happen only when a tier has run out of
// capacity, and their result is cached until capacity may have returned.
package keypool
