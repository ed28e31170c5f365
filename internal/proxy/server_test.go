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
	"bufio"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/keypool-dev/keypool-operator/internal/apitest"
	"github.com/keypool-dev/keypool-operator/internal/proxytest"
)

// startServer runs a second proxy over e's registry with Start, on a
// listener of the test's own.
func startServer(t *testing.T, e *env, grace time.Duration) (srv *Server, addr string, cancel context.CancelFunc, stopped <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv = New(e.reg, Options{Listener: ln, Logger: proxytest.Logger(t, clientToken, keyValue(1), keyValue(2), keyValue(3)), Metrics: prometheus.NewRegistry(), ShutdownGrace: grace})
	if srv.Ready(nil) == nil {
		t.Fatal("ready before Start")
	}
	if srv.NeedLeaderElection() {
		t.Fatal("the proxy must run on every replica")
	}
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- srv.Start(ctx) }()
	t.Cleanup(cancel)
	return srv, "http://" + ln.Addr().String(), cancel, errc
}

func TestGracefulShutdownLetsStreamsFinish(t *testing.T) {
	e := newEnv(t, envConfig{})
	srv, addr, cancel, stopped := startServer(t, e, waitLimit)

	release := e.fake.HoldStreams()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, addr+"/pools/team-a/claude/v1/messages",
		strings.NewReader(apitest.AnthropicBody("hi", true)))
	req.Header.Set("X-Api-Key", clientToken)
	client := &http.Client{Transport: &http.Transport{}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := srv.Ready(nil); err != nil {
		t.Fatalf("not ready while serving: %v", err)
	}
	sr := apitest.NewSSEReader(resp.Body)
	if _, err := sr.Next(); err != nil {
		t.Fatal(err)
	}

	cancel() // SIGTERM
	<-srv.stopping
	if srv.Ready(nil) == nil {
		t.Fatal("still ready after shutdown began")
	}
	select {
	case err := <-stopped:
		t.Fatalf("Start returned with a stream in flight: %v", err)
	default:
	}
	release()
	rest := readAll(t, resp.Body)
	if !strings.Contains(rest, "message_stop") {
		t.Fatalf("stream cut short by the shutdown: %q", rest)
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Start did not return after the last stream ended")
	}
	if _, err := client.Get(addr + "/pools/team-a/claude/v1/models"); err == nil {
		t.Fatal("still accepting connections after shutdown")
	}
}

func TestShutdownGraceCutsOffStreams(t *testing.T) {
	e := newEnv(t, envConfig{})
	_, addr, cancel, stopped := startServer(t, e, 50*time.Millisecond)
	e.fake.HoldStreams() // never released: the stream outlives the grace period
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, addr+"/pools/team-a/claude/v1/messages",
		strings.NewReader(apitest.AnthropicBody("hi", true)))
	req.Header.Set("X-Api-Key", clientToken)
	resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	cancel()
	if err := <-stopped; err != nil {
		t.Fatalf("Start: %v", err)
	}
	if _, err := bufio.NewReader(resp.Body).ReadString(0); err == nil {
		t.Fatal("the held stream survived the grace period")
	}
	e.fake.ReleaseStreams()
}

func TestStartFailsOnBusyAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	e := newEnv(t, envConfig{})
	srv := New(e.reg, Options{Addr: ln.Addr().String(), Metrics: prometheus.NewRegistry()})
	if err := srv.Start(t.Context()); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("Start on a busy address: %v", err)
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t, envConfig{})
	wantStatus(t, e.post(apitest.AnthropicBody("hi", false)), http.StatusOK)
	wantStatus(t, e.do(t.Context(), http.MethodPost, "/v1/messages", "{}", nil), http.StatusUnauthorized)
	err := e.pool.MarkKeyExhausted("keys/k3", t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	e.waitIdle()

	// A second Server on the same Registerer shares the collectors.
	again := New(e.reg, Options{Metrics: e.prom})
	if again.metrics != e.proxy.metrics {
		t.Fatal("metrics registered twice")
	}
	m := e.proxy.metrics
	if n := testutil.ToFloat64(m.requests.WithLabelValues(namespace, poolName, "keys/k1", "200")); n != 1 {
		t.Errorf("requests{k1,200} = %v", n)
	}
	if n := testutil.ToFloat64(m.requests.WithLabelValues(namespace, poolName, "", "401")); n != 1 {
		t.Errorf("requests{401} = %v", n)
	}
	if n := testutil.CollectAndCount(m.latency); n != 1 {
		t.Errorf("latency series %d", n)
	}
	err = testutil.GatherAndCompare(e.prom, strings.NewReader(`
# HELP keypool_keys Keys of each pool by state (Available, CoolingDown, RateLimited, Rejected).
# TYPE keypool_keys gauge
keypool_keys{namespace="team-a",pool="claude",state="Available"} 2
keypool_keys{namespace="team-a",pool="claude",state="CoolingDown"} 1
keypool_keys{namespace="team-a",pool="claude",state="RateLimited"} 0
keypool_keys{namespace="team-a",pool="claude",state="Rejected"} 0
`), "keypool_keys")
	if err != nil {
		t.Error(err)
	}
	// No series for pools that do not exist: their names come from clients.
	resp, err := e.front.Client().Post(e.front.URL+"/pools/x/y/v1/messages", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, resp, http.StatusUnauthorized)
	_ = resp.Body.Close()
	e.waitIdle()
	if n := testutil.CollectAndCount(m.requests); n != 2 {
		t.Errorf("requests series %d, want 2", n)
	}
}
