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

package shared_test

import (
	"errors"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/clock"
	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/provider"
	"github.com/keypool-dev/keypool-operator/internal/quota"
	"github.com/keypool-dev/keypool-operator/internal/ratelimit/shared"
	"github.com/keypool-dev/keypool-operator/internal/redistest"
	"github.com/keypool-dev/keypool-operator/internal/usage"
)

const budgetLimit = 1000 // tokens per day of each client in these tests

// newBudgetReplica is one replica of the pool ns/pool: its own Redis
// connection and pool, the clients' budgets shared through Redis. close
// ends it (a replica going away).
func newBudgetReplica(t *testing.T, srv *redistest.Server, clk clock.Clock) (p *keypool.KeyPool, closeFn func()) {
	t.Helper()
	return newBudgetReplicaWatched(t, srv, clk, nil)
}

// newBudgetReplicaWatched is newBudgetReplica telling onDegraded when Redis
// goes and comes back.
func newBudgetReplicaWatched(t *testing.T, srv *redistest.Server, clk clock.Clock,
	onDegraded func(bool, error)) (p *keypool.KeyPool, closeFn func()) {
	t.Helper()
	c, err := shared.NewClient(srv.URL(), "", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	b := shared.NewBackend(c, shared.Options{
		Timeout: time.Second, ProbeInterval: 50 * time.Millisecond, OnDegraded: onDegraded,
	})
	closed := false
	closeFn = func() {
		if !closed {
			closed = true
			b.Close()
			_ = c.Close()
		}
	}
	t.Cleanup(closeFn)
	budget := quota.Limits{DailyTokens: budgetLimit}
	p, err = keypool.NewKeyPool(provider.Anthropic, keypool.PoolConfig{
		Keys:       []keypool.KeyConfig{{ID: "s/k1", APIKey: "v1"}},
		Clock:      clk,
		Clients:    []keypool.ClientConfig{{Name: "team-a", Quota: budget}, {Name: "team-b", Quota: budget}},
		NewLimiter: b.Factory("ns/pool"),
		Budgets:    b.Budgets("ns/pool"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return p, closeFn
}

// spend admits one request of client on p and settles it with tokens
// input tokens.
func spend(t *testing.T, p *keypool.KeyPool, client string, tokens int64) {
	t.Helper()
	l, err := p.Clients().Admit(client, 0, 0)
	if err != nil {
		t.Fatalf("%s refused before spending %d: %v", client, tokens, err)
	}
	p.Clients().Settle(&l, usage.Tokens{Input: tokens})
}

// overBudget asserts that p refuses client for its daily budget.
func overBudget(t *testing.T, p *keypool.KeyPool, client, where string) {
	t.Helper()
	_, err := p.Clients().Admit(client, 0, 0)
	var qe *quota.Error
	if !errors.As(err, &qe) || qe.Quota != quota.NameDailyTokens || qe.Client != client {
		t.Fatalf("%s: Admit(%s) = %v, want over its %s quota", where, client, err, quota.NameDailyTokens)
	}
}

// TestBudgetSharedAcrossReplicas: two replicas of one pool share one Redis.
// A daily budget spent on one is enforced on the other; spend on both adds
// up; the spend survives the replicas and Redis restarting; a new day
// starts from zero.
func TestBudgetSharedAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t, redistest.WithPersistence())
	clk := clock.NewFake(time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC))
	a, closeA := newBudgetReplica(t, srv, clk)
	b, closeB := newBudgetReplica(t, srv, clk)

	// team-a spends its whole day on a; b, which served it nothing, refuses it.
	spend(t, a, "team-a", budgetLimit)
	overBudget(t, b, "team-a", "the other replica")
	overBudget(t, a, "team-a", "the replica that spent it")

	// team-b spends 400 on each: under the budget on each, and together.
	spend(t, a, "team-b", 400)
	spend(t, b, "team-b", 400)
	// b saw both when it settled; 300 more there crosses the budget.
	spend(t, b, "team-b", 300)
	overBudget(t, b, "team-b", "the replica that crossed the budget")
	// a settled nothing since; it reads the shared spend at its next
	// admission once budgetRefresh (a second) has passed.
	clk.Advance(time.Second)
	overBudget(t, a, "team-b", "the replica that did not see the last spend")
	if st := a.ClientStats(); len(st) != 2 || st[1].Budget == nil || st[1].Budget.DayTokens != 1100 {
		t.Fatalf("a's status of team-b: %+v, want 1100 tokens spent today", st)
	}

	// Every replica goes away, and Redis restarts: a new replica still
	// refuses both clients.
	closeA()
	closeB()
	srv.Restart()
	c, _ := newBudgetReplica(t, srv, clk)
	overBudget(t, c, "team-a", "a replica started after a restart")
	overBudget(t, c, "team-b", "a replica started after a restart")

	// The next UTC day the budgets are whole again.
	clk.Set(time.Date(2026, 3, 15, 0, 0, 1, 0, time.UTC))
	spend(t, c, "team-a", budgetLimit-1)
	spend(t, c, "team-a", 1)
	overBudget(t, c, "team-a", "the next day, spent again")
}

// TestBudgetSpentWhileRedisIsAwayCounts: while Redis is unreachable a
// replica enforces the budget on what it knew plus what it spent itself;
// that spend reaches Redis when it is back, and then stops the client on
// the other replica too.
func TestBudgetSpentWhileRedisIsAwayCounts(t *testing.T) {
	srv := redistest.Start(t, redistest.WithPersistence())
	clk := clock.NewFake(time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC))
	aChanges, bChanges := make(chan bool, 16), make(chan bool, 16)
	a, _ := newBudgetReplicaWatched(t, srv, clk, func(degraded bool, _ error) { aChanges <- degraded })
	b, _ := newBudgetReplicaWatched(t, srv, clk, func(degraded bool, _ error) { bChanges <- degraded })
	spend(t, a, "team-a", 300) // reaches Redis

	srv.Kill()
	for _, ch := range []chan bool{aChanges, bChanges} {
		if !<-ch {
			t.Fatal("first change is not an outage")
		}
	}
	spend(t, a, "team-a", 400)
	spend(t, a, "team-a", 300)
	overBudget(t, a, "team-a", "the replica that spent it while Redis was away")

	srv.Restart()
	for _, ch := range []chan bool{aChanges, bChanges} {
		if <-ch {
			t.Fatal("second change is not Redis back")
		}
	}
	// b reads Redis: a's 300 from before the outage only, so it admits.
	if l, err := b.Clients().Admit("team-a", 0, 0); err != nil {
		t.Fatalf("b refused before a's spend during the outage reached Redis: %v", err)
	} else {
		b.Clients().Settle(&l, usage.Tokens{})
	}
	// a sends its 700 at its next admission (which it refuses), and b sees
	// them at its next read.
	clk.Advance(time.Second)
	overBudget(t, a, "team-a", "the replica that spent it, Redis back")
	overBudget(t, b, "team-a", "the other replica, Redis back")
}
