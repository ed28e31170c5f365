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

	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
)

// acquireRemote completes a search that chose a key (p.scratch.key) whose
// limiter needs a network round trip (ratelimit.Limiter.RoundTrips, the limits shared
// through Redis), in two phases so that the pool's lock is never held across
// the round trip: the key was chosen under the lock (search, which skips
// limiters that are clearly out of capacity without asking); the lock is
// released while the limiter reserves; under the lock again the key is
// handed out if it is still usable, or else the reservation is handed back
// (Settle with no usage: only the request stays counted) and the search
// goes on without that limiter (refused). Each round refuses one more
// limiter, so it ends.
//
// Concurrent requests may choose the same key meanwhile; the limiter
// arbitrates between them as it does between replicas. p.mu is held on
// entry and on return.
func (p *KeyPool) acquireRemote(now time.Time, opts *AcquireOptions, m dispatchMode, refused []*group) (Lease, int64, bool) {
	a := &p.scratch
	k, est, out, admitted, c := a.key, a.est, a.outTokens(), a.admitted, a.cs
	g := k.slot.grp
	lim := g.lim
	if c != nil {
		lim = c.lim
	}
	// Repositioning the slot lets concurrent searches prefer the next
	// equally good key (least-loaded takes full slots in turn).
	p.touch(g, now)
	p.mu.Unlock()
	r, ok := reserveOn(lim, now, est, out, admitted)
	p.mu.Lock()
	if c != nil {
		c.load()
	}
	if ok {
		if k.usable() && k.slot.grp == g && g.live {
			aff := a.affGroup
			a.reset(now, opts, m)
			a.key, a.res, a.affGroup, a.cs = k, r, aff, c
			l := p.grant(a)
			a.exclude = nil
			return l, 0, true
		}
		// The key left, was rejected or cooled down meanwhile.
		lim.Settle(now, r, ratelimit.Usage{})
	}
	p.touch(g, now)
	return p.search(now, opts, m, append(refused, g))
}
