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
	"math"
	"time"
)

// Standby capacity for clients under their share.
//
// In a saturated pool every unit of capacity goes to a waiting request the
// moment it refills, so a request of a polite client, however soon it is
// first in the fair queue, waits for the next refill that fits it: up to
// a couple of seconds with a few keys. So while some client that was active
// lately has been granted less than its share, a client that has been
// granted more (over its share) is served only from capacity that leaves
// its key's group standby: ready for a request since at least the time the
// group takes to refill one of its average requests. The polite client's
// next request takes the standby at once. Nothing is lost: the standby is a
// constant level below the bucket's size, which keeps refilling at the same
// rate, so the over-share client gets every unit later by that constant
// time; and with one client active (or every active client at its share)
// nothing is held, so the pool stays work-conserving.

// maxStandby bounds a group's standby, for a group that has been granted
// little lately (one request a minute would otherwise hold a minute).
const maxStandby = 5 * time.Second

// activeWindow is how long after its last request a client counts as
// active: one whose next request the standby is kept for. Long enough that
// a client sending a request every few seconds, at random, stays active.
const activeWindow = 30 * time.Second

// shareTau is the time constant of the clients' grant rates: long enough
// that a polite client's rate does not look like its share after a few
// requests in a row.
const shareTau = 30 * time.Second

// bigInWindow is how long a client's largest input estimate is remembered,
// as what its next request may need.
const bigInWindow = time.Minute

// underShare is the margin of overShare: a client is under its share below
// that part of it, and over it above its inverse.
const underShare = 0.75

// standby is the refill time g keeps ready, while a held request is
// served: the interval between its grants lately, at most maxStandby.
func (g *group) standby(nowNs int64) int64 {
	r := g.grants.at(nowNs, grantRateTau)
	if r <= 0 {
		return int64(maxStandby)
	}
	return int64(min(float64(time.Second)/r, float64(maxStandby)))
}

// ready reports whether g can take a minimal request of a's: its cached
// readiness is due; for a held attempt, by g's standby ahead of now, and
// with room for the reserved input tokens on top of its own.
func (a *attempt) ready(g *group) bool {
	if a.cls != 0 {
		return a.classReady(g)
	}
	if !a.held {
		return g.readyAt <= a.nowNs
	}
	if g.readyAt > a.nowNs-g.standby(a.nowNs) {
		return false
	}
	if a.reserveIn <= 0 {
		return true
	}
	d, _ := g.lim.TimeToCapacity(a.now, a.est+a.reserveIn, a.outTokens())
	return d <= 0
}

// load is cq's grants per second and unit of weight lately.
func (cq *clientQueue) load(nowNs int64) float64 {
	return cq.rate.at(nowNs, shareTau) / float64(cq.weight)
}

// note records a request of client with est input tokens at nowNs, and
// its grant if granted, for the shares. Only configured clients and clients
// with waiters are tracked, so that the queue's memory stays bounded by the
// configuration. p.mu is held.
func (q *fairQueue) note(client string, est, nowNs int64, granted bool) {
	cq := q.clients[client]
	if cq == nil {
		if _, ok := q.weights[client]; !ok {
			return
		}
		cq = q.client(client)
	}
	cq.seen(est, nowNs)
	if granted {
		cq.rate.add(nowNs, shareTau)
	}
}

// seen records a request of cq's with est input tokens at nowNs.
func (cq *clientQueue) seen(est, nowNs int64) {
	cq.seenNs = nowNs
	if est >= cq.bigIn || nowNs-cq.bigInNs > int64(bigInWindow) {
		cq.bigIn, cq.bigInNs = est, nowNs
	}
}

// fair is the grants per second and unit of weight of an equal share: the
// recent grants of the clients active lately over their weights; 0 when
// none is. p.mu is held.
func (q *fairQueue) fair(nowNs int64) float64 {
	var r float64
	var w int64
	for _, u := range q.clients {
		if nowNs-u.seenNs <= int64(activeWindow) {
			r += u.rate.at(nowNs, shareTau)
			w += u.weight
		}
	}
	if w == 0 {
		return 0
	}
	return r / float64(w)
}

// overShare reports whether cq has lately been granted more than its share
// (by a margin: clients about at their share, whose rates differ by chance,
// hold nothing for each other) while some client active lately has been
// granted less (by the same margin), so that cq is held (see standby); and
// the input tokens to keep for the clients under their share on top of the
// standby: the largest estimate of their requests lately, so that a long
// prompt of theirs finds room at once too. p.mu is held.
func (q *fairQueue) overShare(cq *clientQueue, nowNs int64) (held bool, reserveIn int64) {
	f := q.fair(nowNs)
	if f <= 0 || cq.load(nowNs)*underShare <= f {
		return false, 0
	}
	for _, u := range q.clients {
		if nowNs-u.seenNs <= int64(activeWindow) && u.load(nowNs) < f*underShare {
			held, reserveIn = true, max(reserveIn, u.bigIn)
		}
	}
	return held, reserveIn
}

// under returns the head of the waiting client that has been granted least
// per weight lately, if that is no more than its share (the turn it may go
// ahead of is over it, see overShare) and it was not tried in round seq;
// nil if none. p.mu is held.
func (q *fairQueue) under(nowNs int64, seq uint64) *waiter {
	limit := q.fair(nowNs)
	var best *clientQueue
	least := math.Inf(1)
	for _, u := range q.ring {
		if l := u.load(nowNs); u.tried != seq && l < limit && l < least {
			best, least = u, l
		}
	}
	if best == nil {
		return nil
	}
	best.tried = seq
	return best.head
}
