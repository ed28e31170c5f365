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

// group is one limiter and the keys that draw on it: a single key, or every
// key of a limit group. Its fields are guarded by the pool's lock.
type group struct {
	name       string            // "" for a key's own limiter
	id         string            // the limiter's ID (see PoolConfig.NewLimiter)
	lim        ratelimit.Limiter // the default class's (classes.go)
	remote     bool              // lim's Reserve makes a round trip (see acquire_remote.go)
	configured ratelimit.Amounts
	live       bool    // part of the pool (false once an Update dropped it)
	slots      []*slot // one per priority tier the group's keys are in
	epoch      uint64  // last Update that placed it

	// The limiter's outlook, cached after every change: selection compares
	// these instead of asking the limiter.
	fullAt  int64     // Unix ns; when every known dimension is full
	readyAt int64     // Unix ns; when a minimal request fits
	limited bool      // readyAt was after now when last looked at
	grants  grantRate // leases handed out lately, for its standby (standby.go)
	fitMark uint64    // KeyPool.fitSeq of the last head it fits (fit.go)
	// limits are the limiter's effective per-minute limits, for the
	// class-aware score, reread only when they may have changed: on
	// SetLimits, and when a response reports a limit other than the last
	// reported one (reported).
	limits   ratelimit.Amounts
	reported ratelimit.Amounts

	// classes are the model classes it served, by class ID (classes.go);
	// classes[0] stays nil: the default class is lim. defaultUsed says a
	// request without a model was granted here.
	classes     []*classState
	defaultUsed bool
}

// newGroup makes a group with a fresh limiter named id (see
// PoolConfig.NewLimiter). p.mu is held.
func (p *KeyPool) newGroup(id, name string, now time.Time) *group {
	lim, err := p.newLimiter(id, now, ratelimit.Amounts{})
	if err != nil {
		// Zero limits are valid: only a broken factory gets here, and the
		// key must still be served.
		lim, _ = ratelimit.NewLocal(now, ratelimit.Amounts{})
	}
	return &group{name: name, id: id, lim: lim, remote: lim.RoundTrips()}
}

// loadLimits rereads the limiter's effective limits.
func (g *group) loadLimits(now time.Time) {
	s := g.lim.Snapshot(now)
	for d := range s.Dimensions {
		g.limits[d] = s.Dimensions[d].Limit
	}
}

// Limiter IDs passed to PoolConfig.NewLimiter.
func keyLimiterID(keyID string) string   { return "key/" + keyID }
func groupLimiterID(group string) string { return "group/" + group }

// load caches the limiter's outlook.
func (g *group) load() {
	o := g.lim.Outlook()
	g.fullAt, g.readyAt = nanos(o.FullAt), nanos(o.ReadyAt)
}

// nanos converts an outlook time; zero means "since forever".
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return -1 << 63
	}
	return t.UnixNano()
}

// slot is the keys of one group within one priority tier: the unit the
// least-loaded index orders, since they share one remaining share. Its
// fields are guarded by the pool's lock.
type slot struct {
	tier   *tier
	grp    *group
	keys   []*keyMetadata // configuration order
	usable int            // keys that are neither cooling nor rejected
	next   int            // whose turn it is among keys

	// least-loaded index
	heapIdx   int // in the tier's heap of partly spent slots; -1 = not there
	prev, nxt *slot
	inList    bool // in the tier's FIFO of full slots
	seq       uint64
}

func (s *slot) before(o *slot) bool {
	if s.grp.fullAt != o.grp.fullAt {
		return s.grp.fullAt < o.grp.fullAt
	}
	return s.seq < o.seq
}

func (s *slot) heapIndex() *int { return &s.heapIdx }
