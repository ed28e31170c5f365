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
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/clock"
	"github.com/keypool-dev/keypool-operator/internal/provider"
	"github.com/keypool-dev/keypool-operator/internal/proxytest"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/keypool-dev/keypool-operator/internal/fakeprovider"
	"github.com/keypool-dev/keypool-operator/internal/keypool"
)

const (
	clientToken = "client-token-0123456789"
	namespace   = "team-a"
	poolName    = "claude"
	waitLimit   = 10 * time.Second // upper bound for anything a test waits for
)

// t0 is the frozen start of the pool clock.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// waitQueued waits until a request is queued in Acquire: its wait is the
// one timer armed on the pool's clock.
func (e *env) waitQueued() {
	e.t.Helper()
	if !e.clock.WaitTimers(waitLimit, func(n int) bool { return n > 0 }) {
		e.t.Fatal("no request queued")
	}
}

// recorded is what the upstream saw of one request.
type recorded = proxytest.Recorded

// env is proxytest's stack with this package's Server as the handler, its
// pool on a fake clock.
type env struct {
	*proxytest.Stack
	t     *testing.T
	clock *clock.Fake
	proxy *Server
	// Short names for the stack's parts.
	fake  *fakeprovider.Provider
	pool  *keypool.KeyPool
	reg   *keypool.Registry
	front *httptest.Server
	prom  *prometheus.Registry
	base  string
}

// envConfig tunes newEnv; the zero value gives an Anthropic pool of three
// keys in three priority tiers (keys/k1 first, then keys/k2, then keys/k3),
// each its own organisation without limits, maxAttempts 3, no queueing.
type envConfig struct {
	provider     provider.Provider
	keys         []keypool.KeyConfig
	maxAttempts  int
	queueTimeout time.Duration
	maxWaiters   int // the pool's MaxWaiters; 0: keypool's default
	allowUnauth  bool
	clientNames  []string // names of "another-client" and clientToken
	basePath     string   // upstream base path, e.g. "/gateway"
	maxBody      int64
	limits       map[string]fakeprovider.Limits
	upstream     http.Handler // replaces the fake provider
	transport    func(http.RoundTripper) http.RoundTripper
	logger       logr.Logger
	// passThrough: the pool's PassThroughPaths; routing tests pass every
	// path (everything) so that the object checks do not answer for them.
	passThrough []string
}

// everything passes every path through, without object checks.
var everything = []string{"/"}

// keyValue is the provider-side secret of test key keys/kN.
var keyValue = proxytest.KeyValue

func newEnv(t *testing.T, cfg envConfig) *env {
	t.Helper()
	e := &env{t: t, clock: clock.NewFake(t0)}
	e.Stack = proxytest.New(t, proxytest.Config{
		Provider:             cfg.provider,
		Keys:                 cfg.keys,
		MaxAttempts:          cfg.maxAttempts,
		QueueTimeout:         cfg.queueTimeout,
		MaxWaiters:           cfg.maxWaiters,
		ClientTokens:         []string{"another-client", clientToken},
		ClientNames:          cfg.clientNames,
		AllowUnauthenticated: cfg.allowUnauth,
		Clock:                e.clock,
		Limits:               cfg.limits,
		Upstream:             cfg.upstream,
		BasePath:             cfg.basePath,
		WrapTransport:        cfg.transport,
		Logger:               cfg.logger,
		PassThroughPaths:     cfg.passThrough,
	}, func(w proxytest.Wiring) http.Handler {
		e.proxy = New(w.Registry, Options{Logger: w.Logger, Transport: w.Transport, Metrics: w.Metrics, MaxRequestBodyBytes: cfg.maxBody,
			ObjectIDs: testSealer(t)})
		return e.proxy
	})
	e.fake, e.pool, e.reg, e.front, e.prom, e.base = e.Fake, e.Pool, e.Registry, e.Front, e.Metrics, e.Base
	return e
}

// waitIdle waits until every proxy handler has returned, so leases are
// settled and metrics recorded, then checks no lease is left in flight.
func (e *env) waitIdle() { e.WaitIdle() }

func (e *env) requests() []recorded { return e.Requests() }

func (e *env) keyStats(id string) keypool.KeyStats { return e.KeyStats(id) }

// do sends a request to the proxy; path is relative to the pool.
func (e *env) do(ctx context.Context, method, path, body string, header map[string]string) *http.Response {
	e.t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, e.base+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := e.front.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

// post sends an authenticated API request in the pool provider's style.
func (e *env) post(body string) *http.Response {
	e.t.Helper()
	if e.pool.Provider() == provider.OpenAI {
		return e.do(e.t.Context(), http.MethodPost, "/v1/chat/completions", body,
			map[string]string{"Authorization": "Bearer " + clientToken, "Content-Type": "application/json"})
	}
	return e.do(e.t.Context(), http.MethodPost, "/v1/messages", body,
		map[string]string{"X-Api-Key": clientToken, "Anthropic-Version": "2023-06-01", "Content-Type": "application/json"})
}

func readAll(t *testing.T, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return string(b)
}

// wantStatus checks a response's status and returns its body.
func wantStatus(t *testing.T, resp *http.Response, status int) string {
	t.Helper()
	body := readAll(t, resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d; body %s", resp.StatusCode, status, body)
	}
	return body
}
