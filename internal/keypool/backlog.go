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

// grantRateTau is the time constant of the pool's grant-rate estimate: long
// enough to smooth bursts, short enough to follow a change of demand.
const grantRateTau = 10 * time.Second

// grantRate estimates how many leases per second the pool hands out, as an
// exponentially decaying count of grants.
type grantRate struct {
	rate float64 // grants per second as of last
	last int64   // Unix ns of the last update
}

// add counts one grant at nowNs.
func (g *grantRate) add(nowNs int64) {
	g.rate = g.at(nowNs) + 1/grantRateTau.Seconds()
	g.last = max(g.last, nowNs)
}

// at is the rate as of nowNs.
func (g *grantRate) at(nowNs int64) float64 {
	if g.last == 0 || nowNs <= g.last {
		return g.rate
	}
	return g.rate * math.Exp(-float64(nowNs-g.last)/float64(grantRateTau))
}

// backlogWait is how long the requests already waiting for capacity will
// take to be served at the recent grant rate: a request turned away now
// should not be told to come back before they are, or its retry only joins
// the end of the queue again. Every waiter leaves the queue within the
// queue timeout, served or not, so that bounds it. 0 when nobody waits or
// nothing was granted lately. p.mu is held.
func (p *KeyPool) backlogWait(nowNs int64) time.Duration {
	if p.waiters == 0 {
		return 0
	}
	r := p.grants.at(nowNs)
	if r <= 0 {
		return 0
	}
	d := float64(p.waiters) / r * float64(time.Second)
	return time.Duration(min(d, float64(p.queueTimeout)))
}
