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

package proxy

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/apitest"
	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/provider"
	"github.com/keypool-dev/keypool-operator/internal/proxytest"
	"github.com/keypool-dev/keypool-operator/internal/ratelimit/shared"
	"github.com/keypool-dev/keypool-operator/internal/redistest"
)

// The shared-limits fault tests put the proxy, with its pool's limits in a
// real Redis, under client load at several times the key's limit while
// Redis is killed and restarted, frozen (SIGSTOP) and slowed far beyond the
// timeout. Every client request must end in the upstream's answer or the
// pool's well-formed 429, none may wait for the broken Redis, the outage
// must be reported and its end too, and meanwhile the replica admits at
// most its share (limit / replicas).
const (
	faultRPM      = 3000 // 50/s shared; 25/s for this replica without Redis
	faultReplicas = 2
	// faultTimeout is the Redis timeout, the default: long enough that a
	// busy machine running the whole suite does not start outages of its
	// own; still far under faultOutage.
	faultTimeout = 250 * time.Millisecond
	// faultOutage is how long the slow Redis delays each call: a request
	// that waited for it would take that long. The outages last until the
	// replica has served 40 requests on its own (about 1.6 s).
	faultOutage = 2500 * time.Millisecond
	// faultLatency bounds every client request: the timeout, the upstream
	// and room for -race on a busy machine, well under faultOutage.
	faultLatency = time.Second
	faultClients = 3
	faultPace    = 10 * time.Millisecond // per client: 300 req/s in all, 6x the limit
)

// faultReply is one client request's outcome.
type faultReply struct {
	at      time.Time
	latency time.Duration
	status  int
	problem string // why the answer is not acceptable; "" when it is
}

// faultLoad sends client requests through the proxy until stopped.
type faultLoad struct {
	mu       sync.Mutex
	replies  []faultReply
	recorded chan struct{} // a send (or one pending) after each reply
	stop     chan struct{}
	wg       sync.WaitGroup
}

func startFaultLoad(t *testing.T, s *proxytest.Stack) *faultLoad {
	l := &faultLoad{recorded: make(chan struct{}, 1), stop: make(chan struct{})}
	body := apitest.Body(provider.Anthropic, "hello", false)
	client := &http.Client{Timeout: 10 * time.Second}
	for range faultClients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			tick := time.NewTicker(faultPace)
			defer tick.Stop()
			for {
				select {
				case <-l.stop:
					return
				case <-tick.C:
				}
				l.record(l.send(client, s.Base+"/v1/messages", body))
			}
		}()
	}
	t.Cleanup(l.halt)
	return l
}

func (l *faultLoad) send(client *http.Client, url, body string) faultReply {
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("X-Api-Key", proxytest.ClientToken)
	req.Header.Set("Anthropic-Version", "2023-06-01")
	req.Header.Set("Content-Type", "application/json")
	r := faultReply{at: time.Now()}
	resp, err := client.Do(req)
	if err != nil {
		r.latency, r.problem = time.Since(r.at), err.Error()
		return r
	}
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	r.latency, r.status = time.Since(r.at), resp.StatusCode
	switch {
	case err != nil:
		r.problem = "body: " + err.Error()
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode != http.StatusTooManyRequests:
		r.problem = "status " + resp.Status + ": " + string(b)
	default:
		if perr := apitest.WellFormedError(provider.Anthropic, resp.Header, b); perr != nil {
			r.problem = "429 not in Anthropic's shape: " + perr.Error()
		}
	}
	return r
}

func (l *faultLoad) record(r faultReply) {
	l.mu.Lock()
	l.replies = append(l.replies, r)
	l.mu.Unlock()
	select {
	case l.recorded <- struct{}{}:
	default:
	}
}

// awaitServed waits until n requests sent since since were served (200),
// woken by each reply.
func (l *faultLoad) awaitServed(t *testing.T, since time.Time, n int) {
	t.Helper()
	deadline := time.After(proxytest.WaitLimit)
	for got := l.served(since, time.Now().Add(time.Hour)); got < n; got = l.served(since, time.Now().Add(time.Hour)) {
		select {
		case <-l.recorded:
		case <-deadline:
			t.Fatalf("%d of %d requests served within %v", got, n, proxytest.WaitLimit)
		}
	}
}

func (l *faultLoad) halt() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// served is the number of 200s among requests sent in [from, to).
func (l *faultLoad) served(from, to time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.replies {
		if r.status == http.StatusOK && !r.at.Before(from) && r.at.Before(to) {
			n++
		}
	}
	return n
}

// check fails t for any unacceptable answer or one slower than faultLatency.
func (l *faultLoad) check(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var slowest time.Duration
	bad := 0
	for _, r := range l.replies {
		slowest = max(slowest, r.latency)
		if r.problem != "" {
			if bad++; bad <= 5 {
				t.Errorf("request at %s: %s", r.at.Format(time.StampMilli), r.problem)
			}
		}
		if r.latency > faultLatency {
			t.Errorf("request at %s took %v, more than %v: it waited for Redis", r.at.Format(time.StampMilli), r.latency, faultLatency)
		}
	}
	t.Logf("%d client requests, %d not acceptable, slowest %v", len(l.replies), bad, slowest)
}

// sharedStack is one replica: a proxy whose pool keeps one key's limit
// (faultRPM) in the Redis at url, with its outage events.
func sharedStack(t *testing.T, url string) (*proxytest.Stack, chan bool) {
	t.Helper()
	c, err := shared.NewClient(url, "", faultTimeout)
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan bool, 16)
	b := shared.NewBackend(c, shared.Options{
		Timeout: faultTimeout, Replicas: faultReplicas, ProbeInterval: 50 * time.Millisecond,
		OnDegraded: func(degraded bool, _ error) { events <- degraded },
	})
	t.Cleanup(func() {
		b.Close()
		_ = c.Close()
	})
	if b.Degraded() {
		t.Fatal("degraded at start")
	}
	s := proxytest.New(t, proxytest.Config{
		Keys:       []keypool.KeyConfig{{ID: proxytest.KeyID(1), APIKey: proxytest.KeyValue(1), RPMLimit: faultRPM}},
		NewLimiter: b.Factory(proxytest.Namespace + "/" + t.Name()),
	}, func(w proxytest.Wiring) http.Handler {
		return New(w.Registry, Options{Logger: w.Logger, Transport: w.Transport, Metrics: w.Metrics})
	})
	// Start from an empty bucket, as under sustained load: the provider
	// says nothing is left for the load's model.
	h := http.Header{}
	h.Set("Anthropic-Ratelimit-Requests-Limit", strconv.Itoa(faultRPM))
	h.Set("Anthropic-Ratelimit-Requests-Remaining", "0")
	facts := provider.Anthropic.ReadRequest(http.MethodPost, "/v1/messages", []byte(apitest.Body(provider.Anthropic, "hello", false)))
	model := provider.Anthropic.Model("/v1/messages", &facts)
	l, err := s.Pool.Acquire(t.Context(), keypool.AcquireOptions{Model: model})
	if err != nil {
		t.Fatal(err)
	}
	s.Pool.ReportResponse(&l, http.StatusOK, h)
	s.Pool.Settle(&l, keypool.Usage{})
	if !b.Flush(waitLimit) {
		t.Fatal("the empty bucket did not reach Redis")
	}
	return s, events
}

// awaitDegraded waits for the backend to report want.
func awaitDegraded(t *testing.T, events chan bool, want bool) time.Time {
	t.Helper()
	deadline := time.After(waitLimit)
	for got := !want; got != want; {
		select {
		case got = <-events:
		case <-deadline:
			t.Fatalf("no degraded=%v event within %v", want, waitLimit)
		}
	}
	return time.Now()
}

func TestProxyServesThroughRedisFaults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(t *testing.T) (url string, inject, heal func())
	}{
		{"killed-and-restarted", func(t *testing.T) (string, func(), func()) {
			srv := redistest.Start(t, redistest.WithPersistence())
			return srv.URL(), srv.Kill, srv.Restart
		}},
		{"stalled", func(t *testing.T) (string, func(), func()) {
			srv := redistest.Start(t)
			return srv.URL(), srv.Stop, srv.Cont
		}},
		{"slow", func(t *testing.T) (string, func(), func()) {
			srv := redistest.Start(t)
			px := redistest.StartDelayProxy(t, srv.Addr())
			return px.URL(), func() { px.SetDelay(faultOutage) }, func() { px.SetDelay(0) }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, inject, heal := tc.start(t)
			s, events := sharedStack(t, url)
			start := time.Now()
			load := startFaultLoad(t, s)
			load.awaitServed(t, start, 10) // shared

			inject()
			from := awaitDegraded(t, events, true)
			load.awaitServed(t, from, 40) // about 1.6 s at this replica's share
			heal()
			to := awaitDegraded(t, events, false)
			load.awaitServed(t, to, 5)
			load.halt()

			load.check(t)
			local := load.served(from, to)
			share := float64(faultRPM) / faultReplicas / 60 * to.Sub(from).Seconds()
			t.Logf("during the %v outage: %d served, this replica's share %.0f", to.Sub(from).Round(time.Millisecond), local, share)
			if local == 0 {
				t.Error("nothing served during the outage: the local fallback must serve")
			}
			if limit := share*1.05 + 10; float64(local) > limit {
				t.Errorf("%d served during the outage, more than limit/replicas allows (%.0f)", local, limit)
			}
			// Recovery itself was awaited above (the backend's event).
			if after := load.served(to, time.Now()); after == 0 {
				t.Error("nothing served after Redis came back")
			}
		})
	}
}
