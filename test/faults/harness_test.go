package faults

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/provider"

	"github.com/go-logr/logr"
	"github.com/go-logr/zerologr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/keypool-dev/keypool-operator/internal/fakeprovider"
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

// harness is one proxy in front of one fake provider, with everything the
// checks need to observe: connection counters on both servers, the proxy's
// log buffer and metrics registry, and what the upstream received.
type harness struct {
	t              *testing.T
	cfg            harnessConfig
	fake           *fakeprovider.Provider
	upstream       *httptest.Server
	upConns        *connCounter
	front          *httptest.Server
	frontConns     *connCounter
	handlers       atomic.Int64 // proxy handlers running
	pool           *keypool.KeyPool
	reg            *keypool.Registry
	prom           *prometheus.Registry
	logs           *syncBuffer
	proxyTransport *http.Transport
	client         *http.Client
	clientTr       *http.Transport
	base           string // front URL + /pools/{ns}/{name}
	goroutines     int    // before the harness existed

	mu     sync.Mutex
	seen   []http.Header // request headers the upstream saw
	closed sync.Once
}

func newHarness(t *testing.T, cfg harnessConfig) *harness {
	t.Helper()
	if cfg.provider == nil {
		cfg.provider = provider.Anthropic
	}
	h := &harness{t: t, cfg: cfg, goroutines: stableGoroutines(), prom: prometheus.NewRegistry(), logs: &syncBuffer{}}

	keys := make([]fakeprovider.Key, numKeys)
	for i := range keys {
		keys[i] = fakeprovider.Key{Key: keyValue(i + 1), Org: fmt.Sprintf("org-%d", i+1)}
	}
	// Short answers keep the slow-drip case quick: one text delta per stream.
	h.fake = fakeprovider.New(fakeprovider.Config{Keys: keys, OutputTokens: 8})
	h.upConns = newConnCounter()
	h.upstream = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.seen = append(h.seen, r.Header.Clone())
		h.mu.Unlock()
		h.fake.ServeHTTP(w, r)
	}))
	h.upstream.Config.ConnState = h.upConns.hook
	h.upstream.Start()

	upURL := h.upstream.URL
	if cfg.deadUpstream {
		upURL = "http://" + closedAddr(t)
	}
	u, err := url.Parse(upURL)
	if err != nil {
		t.Fatal(err)
	}
	kcs := make([]keypool.KeyConfig, numKeys)
	for i := range kcs {
		kcs[i] = keypool.KeyConfig{ID: keyID(i + 1), APIKey: keyValue(i + 1), Priority: numKeys - 1 - i}
	}
	h.pool, err = keypool.NewKeyPool(cfg.provider, keypool.PoolConfig{
		Keys: kcs,
		Access: keypool.Access{
			Upstream:          u,
			MaxAttempts:       numKeys,
			ClientTokenHashes: [][sha256.Size]byte{sha256.Sum256([]byte(clientToken))},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.reg = keypool.NewRegistry()
	h.reg.Set(namespace, poolName(cfg.provider), h.pool)

	// The proxy's own transport, as proxy.DefaultTransport configures it
	// apart from the response-header timeout.
	h.proxyTransport = &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: headerTimeout,
		DisableCompression:    true,
	}
	var rt http.RoundTripper = h.proxyTransport
	if cfg.refuseKey > 0 {
		rt = refuseKey(keyValue(cfg.refuseKey), closedAddr(t), rt)
	}
	srv := proxy.New(h.reg, proxy.Options{
		Logger:        debugLogger(h.logs),
		Transport:     rt,
		Metrics:       h.prom,
		ShutdownGrace: time.Second,
	})
	h.frontConns = newConnCounter()
	h.front = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.handlers.Add(1)
		defer h.handlers.Add(-1)
		srv.ServeHTTP(w, r)
	}))
	h.front.Config.ConnState = h.frontConns.hook
	h.front.Start()
	h.base = h.front.URL + "/pools/" + namespace + "/" + poolName(cfg.provider)

	h.clientTr = &http.Transport{DisableCompression: true}
	h.client = &http.Client{Transport: h.clientTr}
	t.Cleanup(h.close)
	return h
}

func poolName(p provider.Provider) string {
	if p == provider.OpenAI {
		return "gpt"
	}
	return "claude"
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
	path, body := "/v1/messages", anthropicBody(stream)
	if h.cfg.provider == provider.OpenAI {
		path, body = "/v1/chat/completions", openAIBody(stream)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.base+path, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if h.cfg.provider == provider.OpenAI {
		req.Header.Set("Authorization", "Bearer "+clientToken)
	} else {
		req.Header.Set("X-Api-Key", clientToken)
		req.Header.Set("Anthropic-Version", "2023-06-01")
	}
	return h.client.Do(req)
}

func anthropicBody(stream bool) string {
	b, _ := json.Marshal(map[string]any{
		"model": "claude-test", "max_tokens": 256, "stream": stream,
		"messages": []map[string]any{{"role": "user", "content": "hello"}},
	})
	return string(b)
}

func openAIBody(stream bool) string {
	m := map[string]any{
		"model": "gpt-test", "stream": stream,
		"messages": []map[string]any{{"role": "user", "content": "hello"}},
	}
	if stream {
		m["stream_options"] = map[string]any{"include_usage": true}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// states returns every key's state by ID.
func (h *harness) states() map[string]keypool.State {
	out := map[string]keypool.State{}
	for _, k := range h.pool.GetStats().Keys {
		out[k.ID] = k.State
	}
	return out
}

// keyStats returns key n's statistics.
func (h *harness) keyStats(n int) keypool.KeyStats {
	for _, k := range h.pool.GetStats().Keys {
		if k.ID == keyID(n) {
			return k
		}
	}
	h.t.Fatalf("no key %s", keyID(n))
	return keypool.KeyStats{}
}

// upstreamHeaders returns the request headers the upstream has seen.
func (h *harness) upstreamHeaders() []http.Header {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]http.Header(nil), h.seen...)
}

// quiesce waits until every proxy handler has returned and every
// connection is closed once idle ones are dropped, and checks that no lease
// is left in flight. It reports what did not come to rest.
func (h *harness) quiesce() {
	h.t.Helper()
	if err := waitFor(settleLimit, func() error {
		if n := h.handlers.Load(); n != 0 {
			return fmt.Errorf("%d proxy handlers still running", n)
		}
		return nil
	}); err != nil {
		h.t.Error(err)
	}
	for _, k := range h.pool.GetStats().Keys {
		if k.InFlight != 0 {
			h.t.Errorf("key %s has %d leases in flight after the requests ended", k.ID, k.InFlight)
		}
	}
	// Idle keep-alive connections are the transports' pools, not leaks:
	// drop them, then every connection must close.
	h.clientTr.CloseIdleConnections()
	h.proxyTransport.CloseIdleConnections()
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
		h.fake.ReleaseStreams()
		// Forcibly closing first keeps Close from blocking on a stuck
		// handler, which quiesce has already reported.
		h.front.CloseClientConnections()
		h.front.Close()
		h.upstream.CloseClientConnections()
		h.upstream.Close()
		h.clientTr.CloseIdleConnections()
		h.proxyTransport.CloseIdleConnections()
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

// closedAddr returns a loopback address nobody listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
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
