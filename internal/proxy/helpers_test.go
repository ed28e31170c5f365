package proxy

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
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
	"github.com/go-logr/logr/funcr"
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

// testClock is a manual keypool.TimerClock: time only moves with Advance,
// so limits do not refill under a test, and a queued Acquire announces that
// it went to sleep on sleeping, which lets a test act exactly then.
type testClock struct {
	mu       sync.Mutex
	now      time.Time
	timers   []*testTimer
	sleeping chan time.Duration
}

type testTimer struct {
	at   time.Time
	f    func()
	done bool
}

func newTestClock() *testClock {
	return &testClock{now: t0, sleeping: make(chan time.Duration, 64)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	tm := &testTimer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, tm)
	c.mu.Unlock()
	select {
	case c.sleeping <- d:
	default:
	}
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		stopped := !tm.done
		tm.done = true
		return stopped
	}
}

// Advance moves time and fires the timers that became due.
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []func()
	for _, tm := range c.timers {
		if !tm.done && !tm.at.After(c.now) {
			tm.done = true
			due = append(due, tm.f)
		}
	}
	c.mu.Unlock()
	for _, f := range due {
		go f()
	}
}

// waitSleeping waits until a queued Acquire sleeps.
func (c *testClock) waitSleeping(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-c.sleeping:
		return d
	case <-time.After(waitLimit):
		t.Fatal("no request queued")
		return 0
	}
}

// recorded is what the upstream saw of one request.
type recorded struct {
	method   string
	path     string
	rawPath  string
	rawQuery string
	header   http.Header
}

// env is a fake provider behind a real HTTP server, a pool pointing at it and
// the proxy behind another real HTTP server.
type env struct {
	t        *testing.T
	fake     *fakeprovider.Provider
	upstream *httptest.Server
	clock    *testClock
	reg      *keypool.Registry
	pool     *keypool.KeyPool
	proxy    *Server
	front    *httptest.Server
	prom     *prometheus.Registry
	base     string // front URL + /pools/{ns}/{name}

	mu   sync.Mutex
	seen []recorded

	active atomic.Int64  // proxy handlers running
	done   chan struct{} // one per finished proxy handler
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
	basePath     string // upstream base path, e.g. "/gateway"
	maxBody      int64
	limits       map[string]fakeprovider.Limits
	upstream     http.Handler // replaces the fake provider
	transport    func(http.RoundTripper) http.RoundTripper
	logger       logr.Logger
}

// keyValue is the provider-side secret of test key keys/kN.
func keyValue(n int) string { return "sk-test-" + string(rune('0'+n)) }

func defaultKeys() []keypool.KeyConfig {
	return []keypool.KeyConfig{
		{ID: "keys/k1", APIKey: keyValue(1), Priority: 2},
		{ID: "keys/k2", APIKey: keyValue(2), Priority: 1},
		{ID: "keys/k3", APIKey: keyValue(3), Priority: 0},
	}
}

func newEnv(t *testing.T, cfg envConfig) *env {
	t.Helper()
	if cfg.provider == nil {
		cfg.provider = provider.Anthropic
	}
	if cfg.keys == nil {
		cfg.keys = defaultKeys()
	}
	if cfg.maxAttempts == 0 {
		cfg.maxAttempts = 3
	}
	e := &env{t: t, clock: newTestClock(), prom: prometheus.NewRegistry(), done: make(chan struct{}, 1024)}

	var fkeys []fakeprovider.Key
	for i := 1; i <= 3; i++ {
		fkeys = append(fkeys, fakeprovider.Key{Key: keyValue(i), Org: "org-" + keyValue(i)})
	}
	e.fake = fakeprovider.New(fakeprovider.Config{Keys: fkeys, Limits: cfg.limits})
	var up http.Handler = e.fake
	if cfg.upstream != nil {
		up = cfg.upstream
	}
	record := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.seen = append(e.seen, recorded{r.Method, r.URL.Path, r.URL.RawPath, r.URL.RawQuery, r.Header.Clone()})
		e.mu.Unlock()
		up.ServeHTTP(w, r)
	})
	if cfg.basePath != "" {
		e.upstream = httptest.NewServer(http.StripPrefix(cfg.basePath, record))
	} else {
		e.upstream = httptest.NewServer(record)
	}
	t.Cleanup(e.upstream.Close)

	u, err := url.Parse(e.upstream.URL + cfg.basePath)
	if err != nil {
		t.Fatal(err)
	}
	access := keypool.Access{Upstream: u, MaxAttempts: cfg.maxAttempts, AllowUnauthenticated: cfg.allowUnauth}
	if !cfg.allowUnauth {
		access.ClientTokenHashes = [][sha256.Size]byte{sha256.Sum256([]byte("another-client")), sha256.Sum256([]byte(clientToken))}
	}
	e.pool, err = keypool.NewKeyPool(cfg.provider, keypool.PoolConfig{
		Strategy:     keypool.StrategyLeastLoaded,
		Keys:         cfg.keys,
		QueueTimeout: cfg.queueTimeout,
		MaxWaiters:   cfg.maxWaiters,
		Access:       access,
		Clock:        e.clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.reg = keypool.NewRegistry()
	name := poolName
	if cfg.provider == provider.OpenAI {
		name = "gpt"
	}
	e.reg.Set(namespace, name, e.pool)

	// A transport of the test's own, so tests do not share connections.
	tr := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	var rt http.RoundTripper = tr
	if cfg.transport != nil {
		rt = cfg.transport(tr)
	}
	log := cfg.logger
	if log.GetSink() == nil {
		log = testLogger(t)
	}
	e.proxy = New(e.reg, Options{Logger: log, Transport: rt, Metrics: e.prom, MaxRequestBodyBytes: cfg.maxBody})
	e.front = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.active.Add(1)
		defer func() {
			e.active.Add(-1)
			e.done <- struct{}{}
		}()
		e.proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(e.front.Close)
	e.base = e.front.URL + "/pools/" + namespace + "/" + name
	t.Cleanup(e.fake.ReleaseStreams)
	return e
}

// testLogger logs at V(1) into the test log and fails the test if a log line
// contains a secret.
func testLogger(t *testing.T) logr.Logger {
	var mu sync.Mutex
	finished := false
	t.Cleanup(func() { mu.Lock(); finished = true; mu.Unlock() })
	return funcr.New(func(prefix, args string) {
		for _, secret := range []string{clientToken, keyValue(1), keyValue(2), keyValue(3)} {
			if strings.Contains(args, secret) {
				t.Errorf("secret in log line: %s", args)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if !finished {
			t.Log(prefix, args)
		}
	}, funcr.Options{Verbosity: 1})
}

// waitIdle waits until every proxy handler has returned, so leases are
// settled and metrics recorded, then checks no lease is left in flight.
func (e *env) waitIdle() {
	e.t.Helper()
	timeout := time.After(waitLimit)
	for e.active.Load() > 0 {
		select {
		case <-e.done:
		case <-timeout:
			e.t.Fatal("proxy handlers did not finish")
		}
	}
	for _, k := range e.pool.GetStats().Keys {
		if k.InFlight != 0 {
			e.t.Errorf("key %s has %d leases in flight after the requests ended", k.ID, k.InFlight)
		}
	}
}

func (e *env) requests() []recorded {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]recorded(nil), e.seen...)
}

func (e *env) keyStats(id string) keypool.KeyStats {
	e.t.Helper()
	for _, k := range e.pool.GetStats().Keys {
		if k.ID == id {
			return k
		}
	}
	e.t.Fatalf("no key %s", id)
	return keypool.KeyStats{}
}

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

func anthropicBody(prompt string, stream bool) string {
	b, _ := json.Marshal(map[string]any{
		"model": "claude-test", "max_tokens": 1024, "stream": stream,
		"messages": []map[string]any{{"role": "user", "content": prompt}},
	})
	return string(b)
}

func openAIBody(prompt string, stream bool) string {
	m := map[string]any{
		"model": "gpt-test", "stream": stream,
		"messages": []map[string]any{{"role": "user", "content": prompt}},
	}
	if stream {
		m["stream_options"] = map[string]any{"include_usage": true}
	}
	b, _ := json.Marshal(m)
	return string(b)
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

// wantAnthropicError checks an Anthropic-shaped error body.
func wantAnthropicError(t *testing.T, body, typ string) {
	t.Helper()
	var v struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil || v.Type != "error" || v.Error.Type != typ || v.Error.Message == "" {
		t.Fatalf("want Anthropic error %s, got %s (%v)", typ, body, err)
	}
}

// wantOpenAIError checks an OpenAI-shaped error body.
func wantOpenAIError(t *testing.T, body, typ, code string) {
	t.Helper()
	var v struct {
		Error map[string]any `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil || v.Error["type"] != typ || v.Error["code"] != code ||
		v.Error["message"] == "" {
		t.Fatalf("want OpenAI error %s/%s, got %s (%v)", typ, code, body, err)
	}
	if p, ok := v.Error["param"]; !ok || p != nil {
		t.Fatalf("want param: null, got %s", body)
	}
}

// sseReader reads one event at a time from a stream.
type sseReader struct{ r *bufio.Reader }

// next returns the next event's lines (without the blank line), or an error.
func (s *sseReader) next() (string, error) {
	var b strings.Builder
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return b.String() + line, err
		}
		if line == "\n" {
			return b.String(), nil
		}
		b.WriteString(line)
	}
}
