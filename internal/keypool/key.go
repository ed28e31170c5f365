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

import (
	"sync/atomic"
	"time"
)

// Circuit breaker: a key whose requests keep failing with 5xx responses or
// transport errors is cooled down briefly, then given one request to prove
// itself (half-open); another failure cools it again, twice as long.
const (
	breakerThreshold    = 3               // consecutive failures that trip the breaker
	breakerBaseCooldown = 5 * time.Second // first trip
	breakerMaxCooldown  = time.Minute     // cap of the doubling
)

// defaultRateLimitCooldown cools a key after a 429 that says neither
// retry-after nor anything the limiter can wait out.
const defaultRateLimitCooldown = 10 * time.Second

// never is a Unix-nanosecond time that does not come.
const never = int64(1<<63 - 1)

// keyMetadata is the pool's live record of one key: its place in the pool,
// its state machine and its circuit breaker. Its fields are guarded by the
// pool's lock, except inFlight.
type keyMetadata struct {
	id, apiKey string
	priority   int
	weight     int64
	groupName  string // effective: configured, or learned (see orgs.go)
	org        string // organisation the provider last named for the key

	slot *slot // nil once the key has left the pool

	rejected    bool
	checking    bool  // a re-check of the key's value is running (see keystate.go)
	checkedAt   int64 // Unix ns the last re-check of checkedKey started; 0 = never
	checkedKey  string
	coolUntil   int64 // Unix ns; 0 = not cooling
	coolIdx     int   // index in the pool's cooldown heap; -1 = not there
	failures    int   // consecutive health failures
	trips       int   // consecutive breaker trips, for the backoff
	state       State // as last reported
	lastError   string
	lastErrorAt int64
	acquired    int64 // leases handed out
	inFlight    atomic.Int64
	rank        int // place in its tier's keys (configuration order)
}

func newKey(c *KeyConfig) *keyMetadata {
	return &keyMetadata{id: c.ID, apiKey: c.APIKey, coolIdx: -1}
}

func (k *keyMetadata) before(o *keyMetadata) bool { return k.coolUntil < o.coolUntil }
func (k *keyMetadata) heapIndex() *int            { return &k.coolIdx }

// usable reports whether the key may be handed out at all (capacity aside).
func (k *keyMetadata) usable() bool {
	return k.slot != nil && !k.rejected && k.coolUntil == 0
}

// derive is the key's state at now; expired cooldowns are cleared before.
// A model class of its group that cools down or is spent shows too (the
// key's figures are its busiest class's), though the key still serves its
// other classes.
func (k *keyMetadata) derive(now int64) State {
	switch {
	case k.rejected:
		return StateRejected
	case k.coolUntil > now:
		return StateCoolingDown
	case k.slot == nil:
		return StateAvailable
	case k.slot.grp.classCoolUntil() > now:
		return StateCoolingDown
	case k.slot.grp.readyAt > now || k.slot.grp.classLimited(now):
		return StateRateLimited
	}
	return StateAvailable
}

// recordSuccess closes the breaker.
func (k *keyMetadata) recordSuccess() { k.failures, k.trips = 0, 0 }

// recordFailure counts a health failure and returns how long to cool the
// key down; 0 while the breaker stays closed.
func (k *keyMetadata) recordFailure() time.Duration {
	k.failures++
	if k.failures < breakerThreshold {
		return 0
	}
	d := min(breakerBaseCooldown<<min(k.trips, 8), breakerMaxCooldown)
	k.trips++
	k.failures = breakerThreshold - 1 // half-open: the next failure trips again
	return d
}
