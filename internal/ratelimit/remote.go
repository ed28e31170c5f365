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

// Remote is implemented by limiters whose Reserve makes a network round
// trip (Shared). A pool does not hold its own lock across such a Reserve:
// it chooses a key under the lock, asking MayReserve, reserves without the
// lock, and takes the lock again to hand the key out or try the next one.
type Remote interface {
	// MayReserve reports, from what the limiter knows without a round
	// trip, whether Reserve(now, inputTokens, outputTokens) could succeed.
	// false means it clearly cannot (no capacity even if nobody else took
	// any since the state was last read), so that the pool skips the key
	// without asking Redis; true promises nothing.
	MayReserve(now time.Time, inputTokens, outputTokens int64) bool
}
