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
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ClientConfig is one named client of a pool: the holder of a client token,
// named by the token's Secret data key.
type ClientConfig struct {
	// Name is the client's name (the data key of its token in the
	// client-token Secret); never the token.
	Name string
	// Weight is the client's share of a saturated pool relative to the other
	// clients'; <= 0 means 1.
	Weight int
	// MaxWaiters bounds the client's requests waiting for capacity; 0 means
	// its weight's share of the pool's MaxWaiters (at least 1).
	MaxWaiters int
	// Quota is the client's optional limits (see AdmitClient).
	Quota Quota
	// Spent is what a previous process spent of the client's budgets; a
	// new pool (or a client new to it) starts from it when its periods
	// are the current ones.
	Spent *BudgetSpent
}

func (c *ClientConfig) weight() int64 {
	if c.Weight <= 0 {
		return 1
	}
	return int64(c.Weight)
}

// Outcome is how a client's request ended, for its accounting.
type Outcome uint8

// Outcomes of a client request.
const (
	// OutcomeServed: the upstream answered (any status but 429 and 5xx).
	OutcomeServed Outcome = iota
	// OutcomeThrottled: the client got a 429, from the proxy (no capacity,
	// queue full) or from the upstream.
	OutcomeThrottled
	// OutcomeOverQuota: the client got a 429 because it is over one of its
	// own quotas (AdmitClient).
	OutcomeOverQuota
	// OutcomeFailed: an upstream 5xx, a transport error, or any other
	// proxy error.
	OutcomeFailed
	// OutcomeCancelled: the client left before it got an answer.
	OutcomeCancelled
	// NumOutcomes is the number of outcomes, for arrays indexed by Outcome.
	NumOutcomes
)

var outcomeNames = [NumOutcomes]string{"served", "throttled", "over_quota", "failed", "cancelled"}

// String is the outcome's name as metrics and the status show it.
func (o Outcome) String() string {
	if o < NumOutcomes {
		return outcomeNames[o]
	}
	return "unknown"
}

// OutcomeOf classifies an answer's HTTP status: 429 throttled, 499 (the
// client left) cancelled, 5xx failed, anything else served.
func OutcomeOf(status int) Outcome {
	switch {
	case status == 429:
		return OutcomeThrottled
	case status == 499:
		return OutcomeCancelled
	case status >= 500:
		return OutcomeFailed
	}
	return OutcomeServed
}

// clientWindow is the span ClientStats report: the last minute, kept as
// clientBuckets buckets, so that it slides in steps of a bucket.
const (
	clientWindow  = time.Minute
	clientBuckets = 6
	clientBucket  = clientWindow / clientBuckets
)

// clientTotals are a client's counts over some span.
type clientTotals struct {
	requests         [NumOutcomes]int64
	input, output    int64
	cacheRead, write int64
}

func (t *clientTotals) add(o *clientTotals) {
	for i := range t.requests {
		t.requests[i] += o.requests[i]
	}
	t.input += o.input
	t.output += o.output
	t.cacheRead += o.cacheRead
	t.write += o.write
}

// clientAccount is one client's sliding window of usage. Its own mutex
// keeps Record off the pool's lock; only requests of the same client meet
// on it.
type clientAccount struct {
	name     string
	hasQuota atomic.Bool // read without mu on every request
	mu       sync.Mutex
	buckets  [clientBuckets]clientTotals
	starts   [clientBuckets]int64 // Unix ns at which each bucket's span began
	quota    clientQuota
}

// record adds one request at nowNs.
func (a *clientAccount) record(nowNs int64, o Outcome, u *Usage) {
	start := nowNs - nowNs%int64(clientBucket)
	i := int(start/int64(clientBucket)) % clientBuckets
	a.mu.Lock()
	b := &a.buckets[i]
	if a.starts[i] != start {
		*b, a.starts[i] = clientTotals{}, start
	}
	b.requests[o]++
	b.input += u.InputTokens
	b.output += u.OutputTokens
	b.cacheRead += u.CacheReadInputTokens
	b.write += u.CacheCreationInputTokens
	a.mu.Unlock()
}

// window sums the buckets that began within the last clientWindow.
func (a *clientAccount) window(nowNs int64) clientTotals {
	var t clientTotals
	oldest := nowNs - nowNs%int64(clientBucket) - int64(clientWindow-clientBucket)
	a.mu.Lock()
	for i := range a.buckets {
		if a.starts[i] >= oldest && a.starts[i] <= nowNs {
			t.add(&a.buckets[i])
		}
	}
	a.mu.Unlock()
	return t
}

// clientAccounts maps configured client names to their accounts. It is
// replaced whole on Update and read without the pool's lock.
type clientAccounts struct {
	byName map[string]*clientAccount
	names  []string // sorted, for a stable status
}

// newClientAccounts keeps the accounts of names that stay, so that an
// Update does not reset a client's window.
func newClientAccounts(prev *clientAccounts, names []string) *clientAccounts {
	ca := &clientAccounts{byName: make(map[string]*clientAccount, len(names))}
	for _, n := range names {
		if _, dup := ca.byName[n]; dup {
			continue
		}
		a := (*clientAccount)(nil)
		if prev != nil {
			a = prev.byName[n]
		}
		if a == nil {
			a = &clientAccount{name: n}
		}
		ca.byName[n] = a
		ca.names = append(ca.names, n)
	}
	slices.Sort(ca.names)
	return ca
}

// clientNames are the names the pool accounts for: its configured clients
// and the names of its client tokens.
func clientNames(cfg *PoolConfig) []string {
	names := make([]string, 0, len(cfg.Clients)+len(cfg.Access.ClientNames))
	for _, c := range cfg.Clients {
		names = append(names, c.Name)
	}
	for _, n := range cfg.Access.ClientNames {
		if n != "" {
			names = append(names, n)
		}
	}
	return names
}

// ClientStats are one client's requests and tokens in the last minute.
type ClientStats struct {
	Name string
	// Requests counts requests answered, by outcome (index by Outcome).
	Requests                  [NumOutcomes]int64
	InputTokens, OutputTokens int64
	CacheReadTokens           int64
	CacheWriteTokens          int64
	Window                    time.Duration // the span counted: one minute
	Waiting                   int           // requests waiting for capacity now
	// Budget is what the client spent of its token budgets in the current
	// day and month; nil without a budget.
	Budget *BudgetSpent
}

// Record counts one answered request of client (a configured client name;
// other names are not counted) with what it really used. The proxy calls it
// once per client request; it takes no pool lock and does not allocate.
func (p *KeyPool) Record(client string, o Outcome, u Usage) {
	ca := p.accounts.Load()
	if ca == nil {
		return
	}
	a := ca.byName[client]
	if a == nil || o >= NumOutcomes {
		return
	}
	a.record(p.clock.Now().UnixNano(), o, &u)
}

// ClientStats returns every configured client's last minute, sorted by name.
func (p *KeyPool) ClientStats() []ClientStats {
	ca := p.accounts.Load()
	if ca == nil || len(ca.names) == 0 {
		return nil
	}
	nowNs := p.clock.Now().UnixNano()
	out := make([]ClientStats, len(ca.names))
	for i, n := range ca.names {
		t := ca.byName[n].window(nowNs)
		out[i] = ClientStats{
			Name: n, Requests: t.requests, InputTokens: t.input, OutputTokens: t.output,
			CacheReadTokens: t.cacheRead, CacheWriteTokens: t.write, Window: clientWindow,
			Budget: ca.byName[n].budgetSpent(time.Unix(0, nowNs)),
		}
	}
	p.mu.Lock()
	for i := range out {
		if cq := p.queue.clients[out[i].Name]; cq != nil {
			out[i].Waiting = cq.n
		}
	}
	p.mu.Unlock()
	return out
}

// configureClients installs cfg's clients: their weights and caps in the
// fair queue, and an account for every name. p.mu is held.
func (p *KeyPool) configureClients(cfg *PoolConfig) {
	names := clientNames(cfg)
	clients := slices.Clone(cfg.Clients)
	known := make(map[string]struct{}, len(names))
	for _, c := range clients {
		known[c.Name] = struct{}{}
	}
	for _, n := range names {
		if _, ok := known[n]; !ok {
			known[n] = struct{}{}
			clients = append(clients, ClientConfig{Name: n})
		}
	}
	p.queue.configure(clients, p.maxWaiters)
	prev := p.accounts.Load()
	ca := newClientAccounts(prev, names)
	now := p.clock.Now()
	byName := make(map[string]*ClientConfig, len(cfg.Clients))
	for i := range cfg.Clients {
		byName[cfg.Clients[i].Name] = &cfg.Clients[i]
	}
	for n, a := range ca.byName {
		var q Quota
		var seed *BudgetSpent
		if c := byName[n]; c != nil {
			q, seed = c.Quota, c.Spent
		}
		fresh := prev == nil || prev.byName[n] != a
		a.setQuota(now, q, seed, fresh)
		a.hasQuota.Store(q.any())
	}
	p.accounts.Store(ca)
}
