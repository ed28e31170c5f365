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

// Command proxyserver runs the keypool proxy (internal/proxy) as its own
// process without Kubernetes, for the load harness in cmd/loadgen. It builds a
// keypool.Registry by hand, with -pools pools of -keys-per-pool keys each, all
// pointing at one upstream, and serves it with proxy.New(...).Start: the same
// data-plane code and default transport the manager runs (cmd/manager wires
// proxy.New the same way; only the controller that fills the registry from
// KeyPools and Secrets is missing).
//
// Pools are named perf/pool-0 ... perf/pool-N-1 and accept the client token
// given by -client-token. It prints "proxyserver listening on http://ADDR"
// once it serves, and, with -pprof, serves net/http/pprof on that address.
// With -redis-url the pools' limits live in that Redis, as with the
// manager's --redis-url.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/provider"
	"github.com/keypool-dev/keypool-operator/internal/proxytest"

	"github.com/go-logr/zerologr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/proxy"
	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
	"github.com/keypool-dev/keypool-operator/internal/ratelimit/shared"
)

// Namespace is the namespace of every pool proxyserver builds.
const Namespace = "perf"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "proxyserver:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:0", "proxy listen address")
	upstream := flag.String("upstream", "", "upstream base URL, e.g. http://127.0.0.1:9090 (required)")
	keySpec := flag.String("keys", "perf-key-1", "comma-separated upstream API keys, used in turn by each pool")
	pools := flag.Int("pools", 1, "number of pools (perf/pool-0 ...)")
	keysPerPool := flag.Int("keys-per-pool", 1, "keys per pool")
	clientToken := flag.String("client-token", "perf-client-token", "client token every pool accepts")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this address (empty: off)")
	maxInFlight := flag.Int("max-in-flight", proxy.DefaultMaxInFlight,
		"requests served at once (the manager's --proxy-max-in-flight)")
	maxConns := flag.Int("max-connections", proxy.DefaultMaxConnections,
		"client connections served at once (the manager's --proxy-max-connections)")
	upstreamCA := flag.String("upstream-ca", "",
		"PEM file of a CA to trust for an https upstream (the fake provider's -tls-cert-out)")
	bare := flag.Bool("bare", false,
		"serve a plain httputil.ReverseProxy to -upstream instead of the pools (loadgen's Go yardstick; clients send the upstream key)")
	redisURL := flag.String("redis-url", "",
		"keep the pools' limits in this Redis (redis://host:port), as the manager's --redis-url does (empty: local limits)")
	flag.Parse()

	up, err := url.Parse(*upstream)
	if err != nil || (up.Scheme != "http" && up.Scheme != "https") || up.Host == "" {
		return fmt.Errorf("-upstream %q: want an http(s) URL", *upstream)
	}
	keys := strings.Split(*keySpec, ",")
	var factory ratelimit.Factory // nil: local limits
	if *redisURL != "" {
		backend, closeRedis, err := connectRedis(*redisURL)
		if err != nil {
			return err
		}
		defer closeRedis()
		factory = backend.Factory(Namespace)
	}
	reg, err := buildRegistry(up, keys, *pools, *keysPerPool, *clientToken, factory)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *pprofAddr != "" {
		if err := servePprof(ctx, *pprofAddr); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	zerologr.VerbosityFieldName = ""
	zl := zerolog.New(os.Stderr).Level(zerolog.InfoLevel)
	opts := proxy.Options{
		Listener:       ln,
		Logger:         zerologr.New(&zl).WithName("proxy"),
		Metrics:        prometheus.NewRegistry(),
		ShutdownGrace:  5 * time.Second,
		MaxInFlight:    *maxInFlight,
		MaxConnections: *maxConns,
	}
	var tlsConfig *tls.Config
	if *upstreamCA != "" {
		pemCA, err := os.ReadFile(*upstreamCA)
		if err != nil {
			return fmt.Errorf("-upstream-ca: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pemCA) {
			return fmt.Errorf("-upstream-ca %s: no PEM certificate", *upstreamCA)
		}
		tlsConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	opts.Transport = proxy.NewTransport(tlsConfig)
	// The harness waits for this exact line.
	fmt.Printf("proxyserver listening on http://%s\n", ln.Addr())
	if *bare {
		return serveBare(ctx, ln, up, opts.Transport)
	}
	srv := proxy.New(reg, opts)
	if err := srv.Start(ctx); err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	return nil
}

// buildRegistry returns a registry of n pools of perPool keys each, taking
// the upstream keys in turn.
func buildRegistry(up *url.URL, keys []string, n, perPool int, clientToken string,
	factory ratelimit.Factory) (*keypool.Registry, error) {
	if n < 1 || perPool < 1 || len(keys) == 0 || keys[0] == "" {
		return nil, errors.New("need at least one pool, one key per pool and one upstream key")
	}
	access := proxytest.Access(up, 3, clientToken)
	reg := keypool.NewRegistry()
	for p := range n {
		cfgs := make([]keypool.KeyConfig, perPool)
		for k := range cfgs {
			cfgs[k] = keypool.KeyConfig{
				ID:     fmt.Sprintf("perf-keys/key-%d", k),
				APIKey: keys[(p*perPool+k)%len(keys)],
			}
		}
		pool, err := keypool.NewKeyPool(provider.Anthropic, keypool.PoolConfig{Keys: cfgs, Access: access, NewLimiter: factory})
		if err != nil {
			return nil, fmt.Errorf("pool %d: %w", p, err)
		}
		reg.Set(Namespace, fmt.Sprintf("pool-%d", p), pool)
	}
	return reg, nil
}

// connectRedis connects the limiters to the Redis at rawURL with the
// manager's defaults (timeout, replicas); the password, if any, comes from
// REDIS_PASSWORD, as in the manager.
func connectRedis(rawURL string) (*shared.Backend, func(), error) {
	c, err := shared.NewClient(rawURL, os.Getenv("REDIS_PASSWORD"), shared.DefaultTimeout)
	if err != nil {
		return nil, nil, fmt.Errorf("-redis-url: %w", err)
	}
	b := shared.NewBackend(c, shared.Options{OnDegraded: func(degraded bool, err error) {
		// The harness counts these lines: an outage means local limits.
		if degraded {
			fmt.Fprintf(os.Stderr, "proxyserver: redis unavailable, local limits: %v\n", err)
		} else {
			fmt.Fprintln(os.Stderr, "proxyserver: redis available again, limits shared")
		}
	}})
	if b.Degraded() {
		b.Close()
		_ = c.Close()
		return nil, nil, errors.New("-redis-url: Redis does not answer")
	}
	return b, func() { b.Close(); _ = c.Close() }, nil
}

// servePprof serves net/http/pprof on addr until ctx is done.
func servePprof(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("pprof listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	fmt.Printf("proxyserver pprof on http://%s\n", ln.Addr())
	return nil
}
