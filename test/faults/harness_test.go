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

package faults

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/apitest"
	"github.com/keypool-dev/keypool-operator/internal/provider"
	"github.com/keypool-dev/keypool-operator/internal/proxytest"

	"github.com/go-logr/logr"
	"github.com/go-logr/zerologr"
	"github.com/rs/zerolog"

	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/proxy"
	"github.com/keypool-dev/keypool-operator/internal/testproc"
)

const (
	namespace = "team-a"
	// clientToken is a canary: it must never be seen outside the request
	// that carries it.
	clientToken = "kp-client-CANARY-2f9c41d7e0b85a36"
	// headerTimeout is the proxy transport's response-header timeout in this
	// package. Production uses 10 minutes (proxy.DefaultTransport), because a
	// non-streaming completion sends its headers only when it is done; the
	// tests make "headers never arrive" observable in well under a second.
	headerTimeout = 300 * time.Millisecond
	// settleLimit bounds every wait for the system to come to rest.
	settleLimit = 10 * time.Second
	numKeys     = 3
)

// keyValue is the provider-side value of key n (1-based): a canary too.
func keyValue(n int) string { return fmt.Sprintf("sk-CANARY-key%d-91b3c7e2a4d05f68", n) }

// keyID is key n's ID, the only name it has outside the pool.
func keyID(n int) string { return fmt.Sprintf("keys/k%d", n) }

// canaries are every secret the harness hands out.
func canaries() []string {
	out := []string{clientToken}
	for n := 1; n <= numKeys; n++ {
		out = append(out, keyValue(n))
	}
	return out
}

// harnessConfig tunes newHarness. The zero value is an Anthropic pool of
// three keys in three priority tiers (k1 is always tried first, then k2,
// then k3), maxAttempts 3, in front of a healthy fake provider.
type harnessConfig struct {
	provider provider.Provider
	// refuseKey sends the requests made with this key (1-based) to a closed
	// port, for a genuine ECONNREFUSED on that key only.
	refuseKey int
	// deadUpstream points the pool at a closed port: every attempt is refused.
	deadUpstream bool
}

// harness is one proxy in front of one fake provider (a proxytest stack),
// with everything the checks need to observe: connection counters on both
// servers, the proxy's log buffer and what the upstream received.
type harness struct {
	*proxytest.Stack
	t          *testing.T
	cfg        harnessConfig
	upConns    *connCounter
	frontConns *connCounter
	logs       *syncBuffer
	client     *http.Client
	clientTr   *http.Transport
	goroutines int // before the harness existed
	closed     sync.Once
}

func newHarness(t *testing.T, cfg harnessConfig) *harness {
	t.Helper()
	h := &harness{t: t, cfg: cfg, goroutines: stableGoroutines(), logs: &syncBuffer{},
		upConns: newConnCounter(), frontConns: newConnCounter()}
	values := make([]string, numKeys)
	for i := range values {
		values[i] = keyValue(i + 1)
	}
	pc := proxytest.Config{
		Provider:     cfg.provider,
		KeyValues:    values,
		MaxAttempts:  numKeys,
		ClientTokens: []string{clientToken},
		// Short answers keep the slow-drip case quick: one text delta per stream.
		OutputTokens: 8,
		// The proxy's own transport, apart from the timeouts.
		Transport:         proxyTransport(),
		Logger:            debugLogger(h.logs),
		UpstreamConnState: h.upConns.hook,
		FrontConnState:    h.frontConns.hook,
	}
	if cfg.deadUpstream {
		pc.UpstreamURL = "http://" + closedAddr(t)
	}
	if cfg.refuseKey > 0 {
		addr := closedAddr(t)
		pc.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return refuseKey(keyValue(cfg.refuseKey), addr, rt) }
	}
	h.Stack = proxytest.New(t, pc, func(w proxytest.Wiring) http.Handler {
		return proxy.New(w.Registry, proxy.Options{
			Logger:        w.Logger,
			Transport:     w.Transport,
			Metrics:       w.Metrics,
			ShutdownGrace: time.Second,
		})
	})
	h.clientTr = &http.Transport{DisableCompression: true}
	h.client = &http.Client{Transport: h.clientTr}
	t.Cleanup(h.close)
	return h
}

// debugLogger logs like the manager does (zerolog through zerologr, JSON)
// at debug level, so the proxy's per-request lines are written too.
func debugLogger(w *syncBuffer) logr.Logger {
	zl := zerolog.New(w).Level(zerolog.DebugLevel).With().Timestamp().Logger()
	return zerologr.New(&zl)
}

// request sends one API request in the pool provider's style with the
// client token; stream asks for SSE.
func (h *harness) request(ctx context.Context, stream bool) (*http.Response, error) {
	req, err := h.NewRequest(ctx, apitest.Body(h.Config.Provider, "hello", stream))
	if err != nil {
		return nil, err
	}
	return h.client.Do(req)
}

// keyStats returns key n's statistics.
func (h *harness) keyStats(n int) keypool.KeyStats { return h.KeyStats(keyID(n)) }

// upstreamHeaders returns the request headers the upstream has seen.
func (h *harness) upstreamHeaders() []http.Header {
	var out []http.Header
	for _, r := range h.Requests() {
		out = append(out, r.Header)
	}
	return out
}

// quiesce waits until every proxy handler has returned and every
// connection is closed once idle ones are dropped, and checks that no lease
// is left in flight. It reports what did not come to rest.
func (h *harness) quiesce() {
	h.t.Helper()
	if err := waitFor(settleLimit, func() error {
		if n := h.Active(); n != 0 {
			return fmt.Errorf("%d proxy handlers still running", n)
		}
		return nil
	}); err != nil {
		h.t.Error(err)
	}
	for _, k := range h.Pool.GetStats().Keys {
		if k.InFlight != 0 {
			h.t.Errorf("key %s has %d leases in flight after the requests ended", k.ID, k.InFlight)
		}
	}
	// Idle keep-alive connections are the transports' pools, not leaks:
	// drop them, then every connection must close.
	h.clientTr.CloseIdleConnections()
	h.Transport.CloseIdleConnections()
	if err := waitFor(settleLimit, func() error {
		if n := h.upConns.open(); n != 0 {
			return fmt.Errorf("%d upstream connections still open (%v)", n, h.upConns.states())
		}
		if n := h.frontConns.open(); n != 0 {
			return fmt.Errorf("%d client connections to the proxy still open (%v)", n, h.frontConns.states())
		}
		return nil
	}); err != nil {
		h.t.Error(err)
	}
}

// close shuts the servers down and checks that the goroutine count returns
// to what it was before the harness was built. It runs once.
func (h *harness) close() {
	h.closed.Do(func() {
		h.Fake.ReleaseStreams()
		// Forcibly closing first keeps Close from blocking on a stuck
		// handler, which quiesce has already reported.
		h.Front.CloseClientConnections()
		h.Front.Close()
		h.Upstream.CloseClientConnections()
		h.Upstream.Close()
		h.clientTr.CloseIdleConnections()
		h.Transport.CloseIdleConnections()
		if err := waitGoroutines(h.goroutines, settleLimit); err != nil {
			h.t.Error(err)
		}
	})
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proxyTransport is proxy.NewTransport with the timeouts of this package:
// a dial gives up after 2 s, and headers that never come fail the attempt
// after headerTimeout.
func proxyTransport() *http.Transport {
	tr := proxy.NewTransport(nil)
	tr.DialContext = (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.ResponseHeaderTimeout = headerTimeout
	return tr
}

// closedAddr returns a loopback address nobody listens on, from outside the
// ports the kernel hands to other tests' ":0" listeners.
func closedAddr(t *testing.T) string {
	t.Helper()
	addr, err := testproc.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// refuseKey sends requests that carry key to addr (a closed port), so the
// dial fails with a real ECONNREFUSED, and every other request on to next.
func refuseKey(key, addr string, next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Header.Get("X-Api-Key") != key && r.Header.Get("Authorization") != "Bearer "+key {
			return next.RoundTrip(r)
		}
		r2 := r.Clone(r.Context())
		r2.URL.Host, r2.Host = addr, ""
		return next.RoundTrip(r2)
	})
}

// waitFor polls cond until it returns nil or limit passes, returning the
// last error. Polling is right here: what is awaited (a connection closing,
// a goroutine exiting) has no event a test can subscribe to.
func waitFor(limit time.Duration, cond func() error) error {
	return testproc.Poll(limit, 10*time.Millisecond, cond)
}
