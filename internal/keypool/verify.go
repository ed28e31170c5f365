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
	"time"
)

// A key is retired only for its own fault. A single 401 cannot prove that:
// the answer may be about what one client sent. So the proxy reports a 401
// that blames the key with Suspect, which takes the key out of use while the
// proxy re-checks the key's value with a cheap request of its own, and
// Confirm retires the key only when that re-check fails too.
//
// A re-check has hysteresis: one key value is re-checked at most once per
// recheckInterval. A key the check found valid stays in use for the rest of
// the interval whatever the provider answers (the request that got the 401
// still fails over), so a client whose requests make the provider blame
// keys cannot keep taking up to maxAttempts keys out of use, one re-check
// each. Concurrent suspicions of one key start one check between them.

// recheckInterval is how long after the start of a key's re-check another
// suspicion of the same value is ignored. It outlasts the proxy's check
// timeout, so a check that got no verdict is not restarted at once either.
const recheckInterval = time.Minute

// Suspect takes l's key out of use for at most timeout while its value is
// re-checked. It reports whether the caller should start the check: false
// when a check of the key is already running or started within
// recheckInterval (the key then stays in use), or the key left the pool or
// was already rejected.
func (p *KeyPool) Suspect(l *Lease, timeout time.Duration) bool {
	if l == nil || l.key == nil {
		return false
	}
	now := p.clock.Now()
	p.mu.Lock()
	k := l.key
	recent := k.checkedKey == l.APIKey && k.checkedAt != 0 && now.UnixNano()-k.checkedAt < int64(recheckInterval)
	start := k.slot != nil && !k.rejected && !k.checking && !recent && k.apiKey == l.APIKey
	if start {
		k.checking = true
		k.checkedAt, k.checkedKey = now.UnixNano(), k.apiKey
		k.noteError("provider answered that the key is invalid; re-checking it", now)
		p.coolDown(k, now.Add(timeout), now, "re-checking the key after the provider called it invalid")
	}
	pending := len(p.pending) > 0
	p.mu.Unlock()
	if pending {
		p.deliver()
	}
	return start
}

// Confirm ends the check Suspect started for keyID with value apiKey: an
// invalid key is rejected until its value changes; a valid one (or one the
// check could not judge) returns to use at once. A key whose value changed
// in the meantime is left alone: the check was about the old value.
func (p *KeyPool) Confirm(keyID, apiKey string, valid bool) {
	now := p.clock.Now()
	p.mu.Lock()
	k := p.byID[keyID]
	if k != nil && k.checking && k.apiKey == apiKey {
		k.checking = false
		if valid {
			p.endCooldown(k, now, "re-check found the key valid")
		} else {
			k.noteError("provider rejected the key, confirmed by a re-check", now)
			p.reject(k, now, "rejected by provider (401), confirmed by a re-check")
		}
	}
	pending := len(p.pending) > 0
	p.mu.Unlock()
	if pending {
		p.deliver()
	}
}
