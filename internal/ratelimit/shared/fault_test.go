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
	"sync"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
	"github.com/keypool-dev/keypool-operator/internal/redistest"
)

// The fault tests run two replicas with a short call timeout against a
// real Redis that is killed and restarted, frozen (SIGSTOP) or slowed down,
// and check that the limiters keep answering within the timeout, report
// the outage and its end, and admit at most limit / replicas each while
// Redis is away.
const (
	faultReplicas = 2
	faultLimit    = 12000 // requests per minute: 200/s shared, 100/s each in the fallback
	// faultTimeout is short, so that the tests see many calls time out,
	// but not so short that -race on a busy machine makes calls to a
	// healthy Redis take as long.
	faultTimeout = 100 * time.Millisecond
	faultProbe   = 50 * time.Millisecond
	// faultLatency bounds one Reserve: the timeout plus room for -race and
	// a busy machine.
	faultLatency = 4 * faultTimeout
	eventTimeout = 10 * time.Second
)

// replica is one hammering replica's record.
type replica struct {
	b      *Backend
	l      *Limiter
	events chan bool // OnDegraded

	mu       sync.Mutex
	grants   []grant
	slowest  time.Duration
	slowAt   time.Time
	granted  chan struct{} // a send (or one pending) after each grant
	stop     chan struct{}
	finished chan struct{}
}

type grant struct {
	at     time.Time
	shared bool
}

func startReplicas(t *testing.T, addr string) []*replica {
	t.Helper()
	rs := make([]*replica, faultReplicas)
	for i := range rs {
		r := &replica{events: make(chan bool, 16), granted: make(chan struct{}, 1),
			stop: make(chan struct{}), finished: make(chan struct{})}
		c, err := NewClient("redis://"+addr, "", faultTimeout)
		if err != nil {
			t.Fatal(err)
		}
		r.b = NewBackend(c, Options{
			Timeout: faultTimeout, Replicas: faultReplicas, ProbeInterval: faultProbe,
			OnDegraded: func(degraded bool, _ error) { r.events <- degraded },
		})
		t.Cleanup(func() {
			r.b.Close()
			_ = c.Close()
		})
		if r.b.Degraded() {
			t.Fatal("degraded at start")
		}
		r.l = newShared(t, r.b, "fault", ratelimit.Amounts{ratelimit.Requests: faultLimit})
		rs[i] = r
	}
	// Start from an empty bucket, as under sustained load.
	obs := ratelimit.NoObservations
	obs[ratelimit.Requests].Remaining = 0
	rs[0].l.Observe(time.Now(), obs)
	flush(t, rs[0].b)
	for _, r := range rs {
		go r.hammer()
	}
	t.Cleanup(func() {
		for _, r := range rs {
			close(r.stop)
			<-r.finished
		}
	})
	return rs
}

// hammer reserves as fast as capacity allows, pacing itself on
// TimeToCapacity as the pool does.
func (r *replica) hammer() {
	defer close(r.finished)
	for {
		start := time.Now()
		res, ok := r.l.Reserve(start, 0, ratelimit.LearnedOutput)
		d := time.Since(start)
		r.mu.Lock()
		if d > r.slowest {
			r.slowest, r.slowAt = d, start
		}
		if ok {
			r.grants = append(r.grants, grant{at: start, shared: res.Remote})
		}
		r.mu.Unlock()
		if ok {
			r.l.Settle(time.Now(), res, ratelimit.Usage{})
			select {
			case r.granted <- struct{}{}:
			default:
			}
			select {
			case <-r.stop:
				return
			default:
				continue
			}
		}
		w, _ := r.l.TimeToCapacity(time.Now(), 0, ratelimit.LearnedOutput)
		select { // pace on the limiter's advice, as the pool does
		case <-r.stop:
			return
		case <-time.After(min(max(w, 100*time.Microsecond), 5*time.Millisecond)):
		}
	}
}

// count is what r admitted in [from, to), and how much of it in Redis.
func (r *replica) count(from, to time.Time) (all, shared int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, g := range r.grants {
		if !g.at.Before(from) && g.at.Before(to) {
			all++
			if g.shared {
				shared++
			}
		}
	}
	return all, shared
}

func (r *replica) slowestCall() (time.Duration, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.slowest, r.slowAt
}

// await waits for every replica to report want.
func await(t *testing.T, rs []*replica, want bool) time.Time {
	t.Helper()
	deadline := time.After(eventTimeout)
	for _, r := range rs {
		for got := !want; got != want; {
			select {
			case got = <-r.events:
			case <-deadline:
				t.Fatalf("no degraded=%v event within %v", want, eventTimeout)
			}
		}
	}
	return time.Now()
}

// checkOutage checks the replicas' behaviour over an outage [from, to) and
// the shared mode after it.
func checkOutage(t *testing.T, rs []*replica, from, to time.Time) {
	t.Helper()
	secs := to.Sub(from).Seconds()
	share := float64(faultLimit) / faultReplicas / 60 // per second per replica
	for i, r := range rs {
		// A replica that sees Redis back before the others admits in Redis
		// again, within the shared limit; its local admissions are the ones
		// bounded by limit / replicas.
		// What the fallback started with is the replica's share of the
		// shared bucket as last seen: capacity the replicas had not used.
		all, shared := r.count(from, to)
		local := all - shared
		r.l.mu.Lock()
		handed := r.l.fbHanded[ratelimit.Requests]
		r.l.mu.Unlock()
		t.Logf("replica %d: %d admitted locally in %.2fs of outage (%d more in Redis, %d handed at the start), share %.0f/s",
			i, local, secs, shared, handed, share)
		if limit := share*secs*1.05 + 5 + float64(handed); float64(local) > limit {
			t.Errorf("replica %d admitted %d locally during the outage, more than limit/replicas (%.0f)", i, local, limit)
		}
		if local == 0 {
			t.Errorf("replica %d admitted nothing during the outage: the fallback must serve", i)
		}
		d, at := r.slowestCall()
		t.Logf("replica %d: slowest Reserve %v", i, d)
		if d > faultLatency {
			t.Errorf("replica %d: a Reserve took %v at %v, more than %v", i, d, at.Format(time.StampMicro), faultLatency)
		}
		if r.b.Degraded() {
			t.Errorf("replica %d still degraded after the outage", i)
		}
	}
}

// checkShared checks that every replica admitted in Redis since since.
func checkShared(t *testing.T, rs []*replica, since time.Time) {
	t.Helper()
	for i, r := range rs {
		_, shared := r.count(since, time.Now())
		if shared == 0 {
			t.Errorf("replica %d admitted nothing in Redis after it came back", i)
		}
	}
}

// Which of a replica's grants awaitGrants counts.
const (
	anyGrant = iota
	sharedGrant
	localGrant
)

// awaitGrants waits until every replica has admitted n grants of the kind
// since since, woken by the replicas' grants.
func awaitGrants(t *testing.T, rs []*replica, since time.Time, n, kind int) {
	t.Helper()
	deadline := time.After(eventTimeout)
	for i, r := range rs {
		for {
			all, shared := r.count(since, time.Now().Add(time.Hour))
			got := map[int]int{anyGrant: all, sharedGrant: shared, localGrant: all - shared}[kind]
			if got >= n {
				break
			}
			select {
			case <-r.granted:
			case <-deadline:
				t.Fatalf("replica %d admitted %d of %d grants (kind %d) within %v", i, got, n, kind, eventTimeout)
			}
		}
	}
}

func TestSharedSurvivesRedisKilledAndRestarted(t *testing.T) {
	srv := redistest.Start(t, redistest.WithPersistence())
	start := time.Now()
	rs := startReplicas(t, srv.Addr())
	awaitGrants(t, rs, start, 20, sharedGrant)
	before := time.Now()
	for i, r := range rs {
		if _, shared := r.count(time.Time{}, before); shared == 0 {
			t.Fatalf("replica %d admitted nothing in Redis before the fault", i)
		}
	}

	srv.Kill()
	from := await(t, rs, true)
	awaitGrants(t, rs, from, 50, localGrant) // half a second at limit/replicas
	srv.Restart()
	to := await(t, rs, false)
	awaitGrants(t, rs, to, 1, sharedGrant) // the local use repaid, Redis admits again
	checkOutage(t, rs, from, to)
	checkShared(t, rs, to)
}

func TestSharedSurvivesRedisStall(t *testing.T) {
	srv := redistest.Start(t)
	start := time.Now()
	rs := startReplicas(t, srv.Addr())
	awaitGrants(t, rs, start, 20, sharedGrant)

	srv.Stop()
	from := await(t, rs, true)
	awaitGrants(t, rs, from, 50, localGrant)
	srv.Cont()
	to := await(t, rs, false)
	awaitGrants(t, rs, to, 1, sharedGrant)
	checkOutage(t, rs, from, to)
	checkShared(t, rs, to)
}

func TestSharedSurvivesSlowRedis(t *testing.T) {
	srv := redistest.Start(t)
	px := redistest.StartDelayProxy(t, srv.Addr())
	start := time.Now()
	rs := startReplicas(t, px.Addr())
	awaitGrants(t, rs, start, 20, sharedGrant)

	// Slower than usual but within the timeout: still shared.
	px.SetDelay(5 * time.Millisecond)
	mark := time.Now()
	awaitGrants(t, rs, mark, 20, sharedGrant)
	for i, r := range rs {
		if r.b.Degraded() {
			t.Fatalf("replica %d degraded by a Redis slower than usual but within the timeout", i)
		}
	}
	checkShared(t, rs, mark)

	// The slow calls left the bucket partly full; saturate it again so that
	// the outage starts from an empty one, as in the other fault tests.
	px.SetDelay(0)
	awaitGrants(t, rs, time.Now(), 20, sharedGrant)

	// Slower than the timeout: the fallback.
	px.SetDelay(2 * faultTimeout)
	from := await(t, rs, true)
	awaitGrants(t, rs, from, 50, localGrant)
	px.SetDelay(0)
	to := await(t, rs, false)
	awaitGrants(t, rs, to, 1, sharedGrant)
	checkOutage(t, rs, from, to)
	checkShared(t, rs, to)
}

// TestSharedChargesLocalUseAfterOutage: what a replica admits on its local
// limits while Redis is frozen is taken from the shared state when Redis is
// back, so that another replica finds the key as used as the provider does
// (not refilled as if nobody had used it).
func TestSharedChargesLocalUseAfterOutage(t *testing.T) {
	const limit = 100 // per minute: the refill during the test is a few units
	srv := redistest.Start(t)
	events := make(chan bool, 16)
	a := newBackend(t, srv, Options{
		Timeout: faultTimeout, Replicas: 2, ProbeInterval: faultProbe,
		OnDegraded: func(degraded bool, _ error) { events <- degraded },
	})
	la := newShared(t, a, "charge", ratelimit.Amounts{ratelimit.Requests: limit})
	if _, ok := la.Reserve(time.Now(), 0, ratelimit.LearnedOutput); !ok {
		t.Fatal("first reserve refused")
	}

	srv.Stop()
	await(t, []*replica{{events: events}}, true)
	local := 0
	for {
		r, ok := la.Reserve(time.Now(), 0, ratelimit.LearnedOutput)
		if !ok {
			break
		}
		if r.Remote {
			t.Fatal("reserved in Redis while it is frozen")
		}
		local++
	}
	srv.Cont()
	await(t, []*replica{{events: events}}, false)
	la.TimeToCapacity(time.Now(), 0, ratelimit.LearnedOutput) // the next use after the outage charges it
	flush(t, a)

	b := newBackend(t, srv, Options{})
	lb := newShared(t, b, "charge", ratelimit.Amounts{ratelimit.Requests: limit})
	other := 0
	for {
		if _, ok := lb.Reserve(time.Now(), 0, ratelimit.LearnedOutput); !ok {
			break
		}
		other++
	}
	want := limit - 1 - local
	t.Logf("%d admitted locally during the outage; another replica then admits %d (want about %d)", local, other, want)
	if local < limit/2-2 {
		t.Errorf("%d admitted locally, want about half the remaining %d", local, limit-1)
	}
	if other > want+5 || other < want-2 {
		t.Errorf("another replica admits %d after the outage, want %d (+ a few refilled): the local use must be charged", other, want)
	}
}
