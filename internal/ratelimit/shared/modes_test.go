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

package shared

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
	"github.com/keypool-dev/keypool-operator/internal/redistest"
	"github.com/keypool-dev/keypool-operator/internal/testproc"
)

// connectBackend is newBackend for any deployment: o says how to connect.
func connectBackend(t *testing.T, o ClientOptions, outages *atomic.Int32) *Backend {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = testTimeout
	}
	c, err := Connect(o)
	if err != nil {
		t.Fatal(err)
	}
	b := NewBackend(c, Options{Timeout: o.Timeout, Replicas: 3, ProbeInterval: 50 * time.Millisecond,
		OnDegraded: func(degraded bool, _ error) {
			if degraded && outages != nil {
				outages.Add(1)
			}
		}})
	t.Cleanup(func() { b.Close(); _ = c.Close() })
	return b
}

// sharesExactly has three replicas, each with its own backend, take turns
// on one limiter of 10 requests: exactly 10 are admitted, all in Redis.
func sharesExactly(t *testing.T, bs []*Backend, name string) {
	t.Helper()
	ls := make([]*Limiter, len(bs))
	for i, b := range bs {
		ls[i] = newShared(t, b, name, ratelimit.Amounts{ratelimit.Requests: 10})
	}
	now := time.Now()
	got := 0
	for i := range 30 {
		r, ok := ls[i%len(ls)].Reserve(now, 0, ratelimit.LearnedOutput)
		if ok {
			got++
			if !r.Remote {
				t.Fatalf("%s: reservation %d on local limits, want Redis", name, i)
			}
		}
	}
	if got != 10 {
		t.Fatalf("%s: three replicas admitted %d, want the shared limit 10", name, got)
	}
}

// On a Redis Cluster of three masters the limiters spread over the nodes,
// three replicas share each limit exactly as on one Redis, the budgets'
// two keys land in one slot, and a limiter whose slot moves to another
// node mid-run follows the MOVED reply and stays in Redis.
func TestSharedOnRedisCluster(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	var outages atomic.Int32
	bs := make([]*Backend, 3)
	for i := range bs {
		bs[i] = connectBackend(t, ClientOptions{URL: cl.URL(), Mode: ModeCluster}, &outages)
	}
	for i := range 12 {
		sharesExactly(t, bs, fmt.Sprintf("team-%d/pool/key/k", i))
	}
	ctx := context.Background()
	holding := 0
	for _, n := range cl.Nodes {
		if keys, _ := n.Client().DBSize(ctx).Result(); keys > 0 {
			holding++
		}
	}
	if holding < 2 {
		t.Fatalf("12 limiters on %d of 3 nodes, want them spread by slot", holding)
	}
	if d, m, err := bs[0].Budgets("team-0/pool").AddSpent("alice", "2026-12-07", "2026-12", 5); err != nil || d != 5 || m != 5 {
		t.Fatalf("budget on the cluster: %d %d %v, want 5 5", d, m, err)
	}

	// Move the slot of one limiter to another node, as a resharding does.
	l := newShared(t, bs[0], "moving/pool/key/k", ratelimit.Amounts{ratelimit.Requests: 1000})
	if r, ok := l.Reserve(time.Now(), 0, ratelimit.LearnedOutput); !ok || !r.Remote {
		t.Fatalf("before the move: %+v %v", r, ok)
	}
	from, to := moveSlot(t, cl, l.key)
	t.Logf("moved %s from %s to %s", l.key, from.Addr(), to.Addr())
	for i := range 20 {
		if r, ok := l.Reserve(time.Now(), 0, ratelimit.LearnedOutput); !ok || !r.Remote {
			t.Fatalf("reservation %d after the move: %+v %v, want Redis (MOVED followed)", i, r, ok)
		}
	}
	if n, _ := to.Client().Exists(ctx, l.key).Result(); n != 1 {
		t.Fatalf("the limiter's state is not on the node its slot moved to")
	}
	if st := l.Snapshot(time.Now()).Dimensions[ratelimit.Requests]; st.Remaining > 1000-21+1 {
		t.Fatalf("remaining %d after 21 requests: the state did not move with the slot", st.Remaining)
	}
	for _, b := range bs {
		if b.Degraded() || b.CallErrors() != 0 {
			t.Fatalf("degraded=%v with %d call errors on a healthy cluster", b.Degraded(), b.CallErrors())
		}
	}
	if outages.Load() != 0 {
		t.Fatalf("%d outages on a healthy cluster", outages.Load())
	}
}

// moveSlot migrates key's slot, with its keys, to another master, the way
// redis-cli --cluster reshard does, and returns both nodes.
func moveSlot(t *testing.T, cl *redistest.Cluster, key string) (from, to *redistest.Server) {
	t.Helper()
	ctx := context.Background()
	slot, err := cl.Nodes[0].Client().ClusterKeySlot(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	ids := map[*redistest.Server]string{}
	for _, n := range cl.Nodes {
		ids[n], _ = n.Client().Do(ctx, "CLUSTER", "MYID").Text()
		if keys, _ := n.Client().ClusterCountKeysInSlot(ctx, int(slot)).Result(); keys > 0 {
			from = n
		}
	}
	for _, n := range cl.Nodes {
		if n != from {
			to = n
			break
		}
	}
	if from == nil {
		t.Fatal("no node holds the key")
	}
	s := strconv.FormatInt(slot, 10)
	must := func(c *redis.Client, args ...any) {
		if err := c.Do(ctx, args...).Err(); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	must(to.Client(), "CLUSTER", "SETSLOT", s, "IMPORTING", ids[from])
	must(from.Client(), "CLUSTER", "SETSLOT", s, "MIGRATING", ids[to])
	host, port, _ := strings.Cut(to.Addr(), ":")
	must(from.Client(), "MIGRATE", host, port, "", 0, 5000, "KEYS", key)
	for _, n := range cl.Nodes {
		must(n.Client(), "CLUSTER", "SETSLOT", s, "NODE", ids[to])
	}
	return from, to
}

// Through a Sentinel the client finds the master; a failover to the
// replica while requests keep coming loses none of them (each is answered,
// in Redis or from the fallback), and the limiters are back in Redis on
// the new master.
func TestSharedThroughSentinelFailover(t *testing.T) {
	g := redistest.StartSentinelGroup(t, "keypool")
	url := g.URL()
	bs := []*Backend{
		connectBackend(t, ClientOptions{URL: url, Mode: ModeSentinel, Timeout: 250 * time.Millisecond}, nil),
		connectBackend(t, ClientOptions{URL: url, Mode: ModeSentinel, Timeout: 250 * time.Millisecond}, nil),
		connectBackend(t, ClientOptions{URL: url, Mode: ModeSentinel, Timeout: 250 * time.Millisecond}, nil),
	}
	sharesExactly(t, bs, "sentinel/pool/key/k")

	l := newShared(t, bs[0], "failover/pool/key/k", ratelimit.Amounts{ratelimit.Requests: 1_000_000})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var answered, refused, slowest atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			start := time.Now()
			r, ok := l.Reserve(start, 0, ratelimit.LearnedOutput)
			if d := int64(time.Since(start)); d > slowest.Load() {
				slowest.Store(d)
			}
			if !ok {
				refused.Add(1)
				continue
			}
			answered.Add(1)
			l.Settle(time.Now(), r, ratelimit.Usage{})
		}
	}()
	g.Failover()
	ctx := context.Background()
	if err := testproc.Poll(20*time.Second, 20*time.Millisecond, func() error {
		r, ok := l.Reserve(time.Now(), 0, ratelimit.LearnedOutput)
		if ok {
			l.Settle(time.Now(), r, ratelimit.Usage{})
		}
		if n, _ := g.Replica.Client().Exists(ctx, l.key).Result(); !ok || !r.Remote || n != 1 {
			return fmt.Errorf("no reservation in Redis on the new master yet")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	t.Logf("during the failover: %d answered, %d refused, slowest %v", answered.Load(), refused.Load(),
		time.Duration(slowest.Load()))
	if refused.Load() != 0 || answered.Load() == 0 {
		t.Fatalf("%d of %d reservations refused during the failover, want none", refused.Load(),
			refused.Load()+answered.Load())
	}
}

// rediss:// with a private CA: trusted through the CA bundle, refused
// (an outage, local limits) without it.
func TestSharedOverTLSWithPrivateCA(t *testing.T) {
	srv := redistest.Start(t, redistest.WithTLS())
	b := connectBackend(t, ClientOptions{URL: srv.URL(), CAFile: srv.CAFile()}, nil)
	l := newShared(t, b, "tls", ratelimit.Amounts{ratelimit.Requests: 10})
	if r, ok := l.Reserve(time.Now(), 0, ratelimit.LearnedOutput); !ok || !r.Remote || b.Degraded() {
		t.Fatalf("over TLS with the CA: %+v %v degraded=%v, want a reservation in Redis", r, ok, b.Degraded())
	}

	c, err := Connect(ClientOptions{URL: srv.URL(), Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if err := c.Ping(context.Background()).Err(); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without the CA: %v, want a certificate error", err)
	}
	if _, err := Connect(ClientOptions{URL: "redis://" + srv.Addr(), CAFile: srv.CAFile()}); err == nil {
		t.Fatal("a CA bundle with redis:// (no TLS) was accepted")
	}
}
