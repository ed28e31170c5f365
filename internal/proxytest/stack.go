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

package proxytest

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/keypool-dev/keypool-operator/internal/clock"
	"github.com/keypool-dev/keypool-operator/internal/fakeprovider"
	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/provider"
	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
)

// Defaults of Config.
const (
	// ClientToken is the client token every stack's pool accepts.
	ClientToken = "client-token-0123456789"
	// Namespace is the namespace of the stack's pool.
	Namespace = "team-a"
	// WaitLimit bounds everything a Stack waits for.
	WaitLimit = 10 * time.Second
)

// KeyValue is the default provider-side secret of key n (1-based).
func KeyValue(n int) string { return "sk-test-" + string(rune('0'+n)) }

// PoolName is the default name of a pool of provider p: "gpt" for OpenAI,
// "claude" otherwise.
func PoolName(p provider.Provider) string {
	if p == provider.OpenAI {
		return "gpt"
	}
	return "claude"
}

// Wiring is what a HandlerFunc builds the handler under test from.
type Wiring struct {
	Registry  *keypool.Registry
	Logger    logr.Logger
	Transport http.RoundTripper // the stack's transport to the upstream
	Metrics   *prometheus.Registry
}

// HandlerFunc builds the handler under test, e.g.
//
//	func(w proxytest.Wiring) http.Handler {
//		return proxy.New(w.Registry, proxy.Options{Logger: w.Logger, Transport: w.Transport, Metrics: w.Metrics})
//	}
type HandlerFunc func(Wiring) http.Handler

// Transport is an upstream transport, usually *http.Transport (the proxy's
// is net/http's).
type Transport interface {
	http.RoundTripper
	CloseIdleConnections()
}

// Config tunes New. The zero value is an Anthropic pool of three keys
// (KeyValue(1..3)) in three priority tiers, keys/k1 first, each its own
// organisation without limits, maxAttempts 3, no queueing, clients holding
// ClientToken, the wall clock.
type Config struct {
	Provider provider.Provider
	// KeyValues are the keys the fake provider knows (default KeyValue(1..3)).
	KeyValues []string
	// Keys are the pool's keys (default Keys(KeyValues, true)).
	Keys         []keypool.KeyConfig
	MaxAttempts  int // default 3
	QueueTimeout time.Duration
	// MaxWaiters bounds the pool's queue; 0: keypool's default.
	MaxWaiters int
	// ClientTokens the pool accepts (default ClientToken); with
	// AllowUnauthenticated, none.
	ClientTokens []string
	// ClientNames name ClientTokens, in order (Access.ClientNames); none
	// by default.
	ClientNames []string
	// PassThroughPaths: keypool.Access.PassThroughPaths, path prefixes the
	// proxy forwards without its object checks.
	PassThroughPaths     []string
	AllowUnauthenticated bool
	Clock                clock.Clock // the pool's clock; nil: the wall clock
	// NewLimiter makes the pool's limiters (keypool.PoolConfig.NewLimiter);
	// nil: local ones.
	NewLimiter ratelimit.Factory
	// Limits and OutputTokens configure the fake provider.
	Limits       map[string]fakeprovider.Limits
	OutputTokens int64
	// Upstream replaces the fake provider behind the upstream server.
	Upstream http.Handler
	// BasePath is the upstream's base path, e.g. "/gateway".
	BasePath string
	// UpstreamURL points the pool elsewhere than the upstream server (a
	// closed port, for a dead upstream).
	UpstreamURL string
	// Transport is the stack's transport to the upstream (default: its own
	// net/http one, configured as the proxy's where it matters to the tests,
	// so tests do not share connections); WrapTransport wraps it.
	Transport     Transport
	WrapTransport func(http.RoundTripper) http.RoundTripper
	// Logger is the handler's logger (default: the test log at V(1),
	// failing the test on any line that holds a key or client token).
	Logger logr.Logger
	// Quiet discards the handler's log instead (benchmarks: logr.Discard
	// is the zero Logger, so it cannot be told from "unset").
	Quiet bool
	// UpstreamConnState and FrontConnState observe the two servers'
	// connections.
	UpstreamConnState, FrontConnState func(net.Conn, http.ConnState)
	// Name is the pool's name (default PoolName(Provider)).
	Name string
	// NoRecording stops Requests from keeping what the upstream saw, for
	// benchmarks whose b.N requests would pile up.
	NoRecording bool
}

// Recorded is what the upstream saw of one request.
type Recorded struct {
	Method, Path, RawPath, RawQuery string
	Header                          http.Header
}

// Stack is the wired data plane of one test.
type Stack struct {
	T         testing.TB
	Config    Config // with defaults filled in
	Fake      *fakeprovider.Provider
	Upstream  *httptest.Server
	Pool      *keypool.KeyPool
	Registry  *keypool.Registry
	Metrics   *prometheus.Registry
	Transport Transport
	Handler   http.Handler
	Front     *httptest.Server
	Base      string // Front.URL + /pools/{namespace}/{name}

	mu     sync.Mutex
	seen   []Recorded
	active atomic.Int64  // handlers running
	done   chan struct{} // one send per finished handler
}

// New wires a stack for t and closes it when t ends.
func New(t testing.TB, cfg Config, handler HandlerFunc) *Stack {
	t.Helper()
	cfg = withDefaults(cfg)
	s := &Stack{T: t, Config: cfg, Metrics: prometheus.NewRegistry(), done: make(chan struct{}, 1024)}

	fkeys := make([]fakeprovider.Key, len(cfg.KeyValues))
	for i, v := range cfg.KeyValues {
		fkeys[i] = fakeprovider.Key{Key: v, Org: "org-" + v}
	}
	s.Fake = fakeprovider.New(fakeprovider.Config{Keys: fkeys, Limits: cfg.Limits, OutputTokens: cfg.OutputTokens})
	t.Cleanup(s.Fake.ReleaseStreams)
	var up http.Handler = s.Fake
	if cfg.Upstream != nil {
		up = cfg.Upstream
	}
	record := up
	if !cfg.NoRecording {
		record = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.mu.Lock()
			s.seen = append(s.seen, Recorded{r.Method, r.URL.Path, r.URL.RawPath, r.URL.RawQuery, r.Header.Clone()})
			s.mu.Unlock()
			up.ServeHTTP(w, r)
		})
	}
	if cfg.BasePath != "" {
		record = http.StripPrefix(cfg.BasePath, record)
	}
	s.Upstream = startServer(t, record, cfg.UpstreamConnState)

	upURL := cfg.UpstreamURL
	if upURL == "" {
		upURL = s.Upstream.URL + cfg.BasePath
	}
	u, err := url.Parse(upURL)
	if err != nil {
		t.Fatal(err)
	}
	var tokens []string
	if !cfg.AllowUnauthenticated {
		tokens = cfg.ClientTokens
	}
	access := Access(u, cfg.MaxAttempts, tokens...)
	access.PassThroughPaths = cfg.PassThroughPaths
	if len(tokens) > 0 {
		access.ClientNames = cfg.ClientNames
	}
	s.Pool, err = keypool.NewKeyPool(cfg.Provider, keypool.PoolConfig{
		Keys:         cfg.Keys,
		QueueTimeout: cfg.QueueTimeout,
		MaxWaiters:   cfg.MaxWaiters,
		Access:       access,
		Clock:        cfg.Clock,
		NewLimiter:   cfg.NewLimiter,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Registry = keypool.NewRegistry()
	s.Registry.Set(Namespace, cfg.Name, s.Pool)

	if cfg.Quiet {
		cfg.Logger = logr.Discard()
	} else if cfg.Logger.GetSink() == nil {
		cfg.Logger = Logger(t, append(append([]string(nil), cfg.ClientTokens...), cfg.KeyValues...)...)
		s.Config.Logger = cfg.Logger
	}
	s.Transport = cfg.Transport
	t.Cleanup(s.Transport.CloseIdleConnections)
	var rt http.RoundTripper = s.Transport
	if cfg.WrapTransport != nil {
		rt = cfg.WrapTransport(rt)
	}
	s.Handler = handler(Wiring{Registry: s.Registry, Logger: cfg.Logger, Transport: rt, Metrics: s.Metrics})
	s.Front = startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.active.Add(1)
		defer func() {
			s.active.Add(-1)
			// Never block a handler: a full buffer already holds a
			// wake-up for WaitIdle, which re-reads active anyway, and
			// benchmarks never drain it.
			select {
			case s.done <- struct{}{}:
			default:
			}
		}()
		s.Handler.ServeHTTP(w, r)
	}), cfg.FrontConnState)
	s.Base = s.Front.URL + "/pools/" + Namespace + "/" + cfg.Name
	return s
}

func withDefaults(cfg Config) Config {
	if cfg.Provider == nil {
		cfg.Provider = provider.Anthropic
	}
	if cfg.KeyValues == nil {
		cfg.KeyValues = []string{KeyValue(1), KeyValue(2), KeyValue(3)}
	}
	if cfg.Keys == nil {
		cfg.Keys = Keys(cfg.KeyValues, true)
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.ClientTokens == nil {
		cfg.ClientTokens = []string{ClientToken}
	}
	if cfg.Name == "" {
		cfg.Name = PoolName(cfg.Provider)
	}
	if cfg.Transport == nil {
		cfg.Transport = &http.Transport{MaxIdleConnsPerHost: 64, ForceAttemptHTTP2: true, DisableCompression: true}
	}
	return cfg
}

// startServer starts an httptest server for h, observing its connections
// with state when not nil, and closes it when t ends.
func startServer(t testing.TB, h http.Handler, state func(net.Conn, http.ConnState)) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = state
	srv.Start()
	t.Cleanup(func() {
		// Forcibly closing first keeps Close from blocking on a stuck
		// handler, which the test has already reported.
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv
}

// Secrets are the values no log line, error body or metric may contain:
// the client tokens and the key values.
func (s *Stack) Secrets() []string {
	return append(append([]string(nil), s.Config.ClientTokens...), s.Config.KeyValues...)
}

// Requests returns what the upstream has seen so far.
func (s *Stack) Requests() []Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Recorded(nil), s.seen...)
}

// Active is the number of handlers running.
func (s *Stack) Active() int64 { return s.active.Load() }

// WaitIdle waits until every handler has returned, so leases are settled
// and metrics recorded, then checks that no lease is left in flight.
func (s *Stack) WaitIdle() {
	s.T.Helper()
	timeout := time.After(WaitLimit)
	for s.active.Load() > 0 {
		select {
		case <-s.done:
		case <-timeout:
			s.T.Fatal("handlers did not finish")
		}
	}
	for _, k := range s.Pool.GetStats().Keys {
		if k.InFlight != 0 {
			s.T.Errorf("key %s has %d leases in flight after the requests ended", k.ID, k.InFlight)
		}
	}
}

// KeyStats returns the statistics of the key with ID id.
func (s *Stack) KeyStats(id string) keypool.KeyStats {
	s.T.Helper()
	for _, k := range s.Pool.GetStats().Keys {
		if k.ID == id {
			return k
		}
	}
	s.T.Fatalf("no key %s", id)
	return keypool.KeyStats{}
}

// States returns every key's state by ID.
func (s *Stack) States() map[string]keypool.State {
	out := map[string]keypool.State{}
	for _, k := range s.Pool.GetStats().Keys {
		out[k.ID] = k.State
	}
	return out
}

// NewRequest is an authenticated API request with body in the pool
// provider's style (its path, auth header and version header).
func (s *Stack) NewRequest(ctx context.Context, body string) (*http.Request, error) {
	path := "/v1/messages"
	if s.Config.Provider == provider.OpenAI {
		path = "/v1/chat/completions"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.Base+path, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range ClientHeader(s.Config.Provider, s.Config.ClientTokens[0]) {
		req.Header[k] = v
	}
	return req, nil
}

// ClientHeader is what a client of provider p sends with token: its auth
// header, content type and, for Anthropic, the API version.
func ClientHeader(p provider.Provider, token string) http.Header {
	if p == provider.OpenAI {
		return http.Header{"Authorization": {"Bearer " + token}, "Content-Type": {"application/json"}}
	}
	return http.Header{"X-Api-Key": {token}, "Anthropic-Version": {"2023-06-01"}, "Content-Type": {"application/json"}}
}
