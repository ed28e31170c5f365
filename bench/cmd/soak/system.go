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

package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/provider"
	"github.com/keypool-dev/keypool-operator/internal/proxytest"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/keypool-dev/keypool-operator/internal/fakeprovider"
	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/proxy"
)

const (
	namespace   = "soak"
	clientToken = "soak-client-token"
	keysPerPool = 4
	// versions is how many values each key can rotate through; the fake
	// provider knows them all from the start, as a provider console that
	// issued them would.
	versions = 64
	// headerTimeout bounds the slow-headers fault: the proxy's transport
	// gives up on a key after it and fails over.
	headerTimeout = 2 * time.Second
)

// poolSpec is one KeyPool of the soak.
type poolSpec struct {
	name     string
	provider provider.Provider
	prefix   string // key values are prefix-<key>-v<version>
}

var poolSpecs = []poolSpec{
	{name: "claude", provider: provider.Anthropic, prefix: "sk-ant-soak"},
	{name: "gpt", provider: provider.OpenAI, prefix: "sk-oai-soak"},
}

// keyValue is version v of key k of a pool.
func (p poolSpec) keyValue(k, v int) string { return fmt.Sprintf("%s-%d-v%d", p.prefix, k, v) }

// system is the data plane under test, all in this process over loopback.
type system struct {
	fake      *fakeprovider.Provider
	upstream  *http.Server
	front     *http.Server
	frontURL  string
	reg       *keypool.Registry
	pools     map[string]*livePool
	prom      *prometheus.Registry
	transport *http.Transport
	client    *http.Client
	clientTr  *http.Transport
	serving   sync.WaitGroup

	faultsSet atomic.Int64
	rotations atomic.Int64
}

// livePool is a pool and the key versions it uses now.
type livePool struct {
	spec    poolSpec
	pool    *keypool.KeyPool
	mu      sync.Mutex
	version [keysPerPool]int
	access  keypool.Access
}

func newSystem() (*system, error) {
	s := &system{reg: keypool.NewRegistry(), pools: map[string]*livePool{}, prom: prometheus.NewRegistry()}
	keys := make([]fakeprovider.Key, 0, len(poolSpecs)*keysPerPool*versions)
	limits := map[string]fakeprovider.Limits{}
	for _, p := range poolSpecs {
		for k := range keysPerPool {
			// Two organisations per pool, two keys each, with limits a
			// share of the load reaches, so that real 429s happen too.
			org := fmt.Sprintf("%s-org-%d", p.name, k/2)
			limits[org] = fakeprovider.Limits{RPM: 1500, ITPM: 400_000, OTPM: 100_000, TPM: 500_000}
			for v := range versions {
				keys = append(keys, fakeprovider.Key{Key: p.keyValue(k, v), Org: org})
			}
		}
	}
	s.fake = fakeprovider.New(fakeprovider.Config{Keys: keys, Limits: limits, OutputTokens: 24})
	upURL, err := s.serve(&s.upstream, s.fake)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(upURL)
	if err != nil {
		return nil, err
	}
	for _, spec := range poolSpecs {
		lp := &livePool{spec: spec, access: proxytest.Access(u, 3, clientToken)}
		lp.pool, err = keypool.NewKeyPool(spec.provider, lp.config())
		if err != nil {
			return nil, err
		}
		s.pools[spec.name] = lp
		s.reg.Set(namespace, spec.name, lp.pool)
	}
	s.transport = &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: headerTimeout,
		DisableCompression:    true,
	}
	px := proxy.New(s.reg, proxy.Options{Logger: logr.Discard(), Transport: s.transport, Metrics: s.prom})
	if s.frontURL, err = s.serve(&s.front, px); err != nil {
		return nil, err
	}
	s.clientTr = &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	s.client = &http.Client{Transport: s.clientTr}
	return s, nil
}

// serve runs h on a fresh loopback port and returns its URL.
func (s *system) serve(srv **http.Server, h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("listen: %w", err)
	}
	*srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.serving.Add(1)
	go func(hs *http.Server) {
		defer s.serving.Done()
		_ = hs.Serve(ln)
	}(*srv)
	return "http://" + ln.Addr().String(), nil
}

// config is the pool's configuration with its current key versions.
func (lp *livePool) config() keypool.PoolConfig {
	keys := make([]keypool.KeyConfig, keysPerPool)
	for k := range keys {
		keys[k] = keypool.KeyConfig{
			ID:         fmt.Sprintf("keys/k%d", k),
			APIKey:     lp.spec.keyValue(k, lp.version[k]),
			LimitGroup: fmt.Sprintf("org-%d", k/2),
		}
	}
	return keypool.PoolConfig{Strategy: keypool.StrategyLeastLoaded, Keys: keys, QueueTimeout: time.Second, Access: lp.access}
}

// close stops the servers once their requests are done, and drops idle
// connections, so that what is left running is a leak.
func (s *system) close() {
	s.clientTr.CloseIdleConnections()
	for _, srv := range []*http.Server{s.front, s.upstream} {
		// Shutdown waits for the handlers (abandoned streams included) to
		// return, so the proxy's request count is final afterwards.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := srv.Shutdown(ctx); err != nil {
			_ = srv.Close()
		}
		cancel()
	}
	s.serving.Wait()
	s.transport.CloseIdleConnections()
}

// proxiedRequests is the sum of keypool_proxy_requests_total: every request
// the proxy answered (or saw abandoned), counted once.
func (s *system) proxiedRequests() int64 {
	mfs, err := s.prom.Gather()
	if err != nil {
		return -1
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() != "keypool_proxy_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			n += m.GetCounter().GetValue()
		}
	}
	return int64(n)
}
