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

// waiter is one Acquire waiting for capacity. It is allocated only when a
// request has to wait, never on the fast path.
type waiter struct {
	opts       *AcquireOptions
	cq         *clientQueue
	prev, next *waiter
	lease      Lease
	granted    bool
	// claimed: a dispatch is reserving capacity for it with the pool's
	// lock released (a remote limiter's round trip); it must stay queued
	// until that ends.
	claimed bool
	done    chan struct{} // closed when granted
}

// clientQueue is one client's waiters, in arrival order, and its place in
// the deficit round-robin.
type clientQueue struct {
	name       string
	weight     int64
	deficit    int64 // grants it may still take in its current turn
	head, tail *waiter
	n          int
	active     bool      // in fairQueue.ring
	jumped     bool      // went to the front at least once
	jumpedAt   uint64    // fairQueue.grants when it last went to the front
	rate       grantRate // its grants lately (shareTau), for the shares (standby.go)
	seenNs     int64     // Unix ns of its last request
	bigIn      int64     // largest input estimate of its requests lately
	bigInNs    int64     // Unix ns of that request
	tried      uint64    // the round (fairQueue.rounds) that last tried it out of turn
}

// fairQueue serves the waiting requests of a saturated pool by weighted
// deficit round-robin over per-client queues: each client in turn takes up
// to its weight in grants, then the next client with waiters takes its
// turn. A client with no waiters leaves the rotation (and keeps no credit),
// so capacity is never held back for an idle client (work-conserving), and
// a client under its share is served within one rotation, however many
// requests another client queues (no starvation). Every request costs one
// grant, whatever its size. p.mu guards it.
type fairQueue struct {
	clients map[string]*clientQueue // configured clients and those with waiters
	weights map[string]int64        // configured weights; absent means 1
	caps    map[string]int          // configured waiter caps; absent or 0: the weight's share
	total   int64                   // sum of the configured weights
	max     int                     // the pool's MaxWaiters
	ring    []*clientQueue          // clients with waiters, in service order
	cur     int                     // index in ring of the client being served
	n       int                     // waiters in all
	weight  int64                   // sum of the weights of the clients in ring
	grants  uint64                  // requests served, for how often a client may go to the front
	rounds  uint64                  // dispatch rounds that served out of turn (see under)
	// byClass counts the waiters of each model class, classes how many
	// classes have any: capacity of one class is none of another's, so
	// their waiters need not wait in one line (see serveOtherClasses).
	byClass []int
	classes int
}

// countClass adds d to the waiters of class.
func (q *fairQueue) countClass(class, d int) {
	for len(q.byClass) <= class {
		q.byClass = append(q.byClass, 0)
	}
	q.byClass[class] += d
	switch {
	case d > 0 && q.byClass[class] == d:
		q.classes++
	case d < 0 && q.byClass[class] == 0:
		q.classes--
	}
}

// waiting reports how many requests of class wait.
func (q *fairQueue) waiting(class int) int {
	if class < len(q.byClass) {
		return q.byClass[class]
	}
	return 0
}

// configure sets the clients' weights (a weight <= 0 means 1). Queues of
// clients that left keep their waiters until they are served or give up.
func (q *fairQueue) configure(clients []ClientConfig, maxWaiters int) {
	q.weights = make(map[string]int64, len(clients))
	q.caps = make(map[string]int, len(clients))
	q.total, q.max = 0, maxWaiters
	for _, c := range clients {
		q.weights[c.Name] = c.weight()
		q.caps[c.Name] = c.MaxWaiters
		q.total += c.weight()
	}
	for name, cq := range q.clients {
		w := q.weightOf(name)
		if cq.active {
			q.weight += w - cq.weight
		}
		cq.weight = w
		if _, ok := q.weights[name]; !ok && cq.n == 0 {
			delete(q.clients, name)
		}
	}
}

func (q *fairQueue) weightOf(name string) int64 {
	if w, ok := q.weights[name]; ok {
		return w
	}
	return 1
}

// client returns the queue of the client name, creating it. Names come
// from the pool's configuration (the proxy passes the authenticated
// client's configured name), so the map stays bounded by it.
func (q *fairQueue) client(name string) *clientQueue {
	if cq := q.clients[name]; cq != nil {
		return cq
	}
	if q.clients == nil {
		q.clients = map[string]*clientQueue{}
	}
	cq := &clientQueue{name: name, weight: q.weightOf(name)}
	q.clients[name] = cq
	return cq
}

// push appends w to its client's queue. A client that had no waiters joins
// the rotation ahead of the client being served: it had nothing waiting,
// so it is under its share and is served first. The client it interrupts
// keeps the rest of its turn for when the rotation comes back to it (its
// credit is lowered now by the weight it will be credited then). A client
// goes to the front again only after more requests were served since its
// last time than there are clients waiting: one that keeps emptying its
// queue (sending one request at a time) cannot keep jumping ahead, nor hold
// back forever a turn that waits for capacity; otherwise it joins behind
// the current turn.
func (q *fairQueue) push(w *waiter) {
	cq := w.cq
	w.prev, w.next = cq.tail, nil
	if cq.tail != nil {
		cq.tail.next = w
	} else {
		cq.head = w
	}
	cq.tail = w
	cq.n++
	q.n++
	q.countClass(w.opts.class, 1)
	if cq.active {
		return
	}
	cq.active, cq.deficit = true, 0
	q.weight += cq.weight
	if len(q.ring) == 0 {
		q.ring = append(q.ring, cq)
		q.cur, cq.deficit = 0, cq.weight // its turn begins
		return
	}
	at := q.cur + 1
	if !cq.jumped || q.grants-cq.jumpedAt > uint64(len(q.ring)) {
		interrupted := q.ring[q.cur]
		interrupted.deficit -= interrupted.weight
		at, cq.deficit = q.cur, cq.weight
		cq.jumped, cq.jumpedAt = true, q.grants
	}
	q.ring = append(q.ring, nil)
	copy(q.ring[at+1:], q.ring[at:])
	q.ring[at] = cq
}

// remove unlinks w, which must be queued. A client left without waiters
// leaves the rotation and loses its unused credit.
func (q *fairQueue) remove(w *waiter) {
	cq := w.cq
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		cq.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		cq.tail = w.prev
	}
	w.prev, w.next = nil, nil
	cq.n--
	q.n--
	q.countClass(w.opts.class, -1)
	if cq.n > 0 {
		return
	}
	cq.active, cq.deficit = false, 0
	q.weight -= cq.weight
	i := 0
	for q.ring[i] != cq {
		i++
	}
	last := len(q.ring) - 1
	copy(q.ring[i:], q.ring[i+1:])
	q.ring[last] = nil // keep no reference in the spare slot
	q.ring = q.ring[:last]
	switch {
	case len(q.ring) == 0:
		q.cur = 0
	case i <= q.cur:
		// The removed client (or one before it) was at or before cur: step
		// back, so that the next advance arrives at the right client and
		// gives it its turn's credit.
		q.cur--
		if q.cur < 0 {
			q.cur = len(q.ring) - 1
		}
	}
	q.drop(cq)
}

// drop forgets cq if it has no waiters and is not configured: the queue
// keeps no state for a client it does not know.
func (q *fairQueue) drop(cq *clientQueue) {
	if _, ok := q.weights[cq.name]; !ok && cq.n == 0 {
		delete(q.clients, cq.name)
	}
}

// peek returns the waiter to serve next: the head of the client whose turn
// it is, moving the turn on (and crediting the client that gets it) while
// the current client has used its weight. nil when nobody waits.
func (q *fairQueue) peek() *waiter {
	if q.n == 0 {
		return nil
	}
	for q.ring[q.cur].deficit < 1 {
		q.cur++
		if q.cur == len(q.ring) {
			q.cur = 0
		}
		q.ring[q.cur].deficit += q.ring[q.cur].weight
	}
	return q.ring[q.cur].head
}

// served records that w, which peek returned, got its lease.
func (q *fairQueue) served(w *waiter) {
	w.cq.deficit--
	q.grants++
	q.remove(w)
}

// full reports whether cq may queue no further request: it holds its cap,
// the pool's MaxWaiters split by weight unless configured, at least 1, so
// that one client cannot fill the pool's queue and lock the others out.
func (q *fairQueue) full(cq *clientQueue) bool {
	if q.n >= q.max {
		return true
	}
	limit := q.caps[cq.name]
	if limit <= 0 {
		total := q.total
		if _, ok := q.weights[cq.name]; !ok {
			total += cq.weight
		}
		limit = max(int(int64(q.max)*cq.weight/total), 1)
	}
	return cq.n >= limit
}

// share is the part of the pool's grants that cq gets while every client
// now waiting keeps waiting, cq included even if it has no waiter yet.
func (q *fairQueue) share(cq *clientQueue) float64 {
	total := q.weight
	if !cq.active {
		total += cq.weight
	}
	return float64(cq.weight) / float64(total)
}
