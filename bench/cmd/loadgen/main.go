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

// Command loadgen is the proxy's load harness. It builds and starts the fake
// provider (cmd/fakeprovider, unlimited keys) and the proxy
// (cmd/proxyserver, the same proxy.New(...).Start code the manager
// runs) as separate processes on 127.0.0.1, and then measures, in one run:
//
//   - latency at fixed request rates with vegeta, direct to the fake and
//     through the proxy, non-streaming (json) and streaming (sse);
//   - the highest rate each sustains with p99 under a bound and no errors;
//   - the time to the first SSE event, direct and through the proxy;
//   - the proxy's RSS at rest, under load, with 100 idle pools of 10 keys,
//     and per held-open stream;
//   - a CPU profile of the proxy under load.
//
// With -hostile it instead measures the proxy's memory under hostile
// clients (hostile.go) and writes attack.md. With -redis it instead
// compares the proxy's latency with local limits and with limits shared
// through a redis-server it starts (redis.go), and writes redis.md.
//
// It writes loadtest.json, loadtest.md, proxy-cpu.pprof and
// proxy-cpu-top.txt to -out. It only ever targets 127.0.0.1, and every
// phase is bounded in rate, duration and count.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	cfg, err := parseConfig(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
	if cfg.render != "" {
		if err := rerender(cfg.render, cfg.out); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, cfg.deadline)
	defer cancel()
	runner := run
	switch {
	case cfg.hostileRun:
		runner = runHostile
	case cfg.redisRun:
		runner = runRedis
	}
	if err := runner(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// logf prints progress to standard error.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "loadgen: "+format+"\n", args...)
}

// run performs every measurement and writes the results.
func run(ctx context.Context, cfg config) error {
	res := &Results{Command: strings.Join(cfg.args, " "), Started: time.Now(), Machine: describeMachine()}
	tmp, err := os.MkdirTemp("", "loadgen-")
	if err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	logf("building the fake provider and the proxy server in %s", tmp)
	fakeBin, proxyBin, err := buildBinaries(ctx, tmp)
	if err != nil {
		return err
	}

	keys := perfKeys(cfg.keys)
	keyList := strings.Join(keys, ",")
	// No -limits: every key is unlimited, so rate limits never interfere.
	fakeArgs := []string{"-addr", loopbackAny, "-keys", keyList}
	var caFile string
	if cfg.tls {
		caFile = filepath.Join(tmp, "fake-ca.pem")
		fakeArgs = append(fakeArgs, "-tls-cert-out", caFile)
		cfg.proxyFlags = append(cfg.proxyFlags, "-upstream-ca", caFile)
	}
	fake, err := startProcess("fakeprovider", fakeBin, fakeArgs...)
	if err != nil {
		return err
	}
	defer fake.stop()
	var trust *tls.Config
	if cfg.tls {
		if trust, err = trustPEM(caFile); err != nil {
			return err
		}
		adminClient = &http.Client{Transport: &http.Transport{TLSClientConfig: trust.Clone()}, Timeout: 10 * time.Second}
	}
	res.TLS, res.BareTransport = cfg.tls, "net/http" // the proxy's own: the two differ only by the proxy's work
	proxy, err := startProcess("proxyserver", proxyBin,
		proxyArgs(fake.url, keyList, 1, cfg.keys, append([]string{pprofFlag, loopbackAny}, cfg.proxyFlags...))...)
	if err != nil {
		return err
	}
	defer proxy.stop()
	direct, err := newEndpoint(targetDirect, fake.url, "/v1/messages", keys[0])
	if err != nil {
		return err
	}
	direct.tls = trust
	targets := []endpoint{direct}
	ngx, note, err := startNginx(tmp, fake.url, caFile)
	if err != nil {
		return err
	}
	res.Nginx = note
	if ngx != nil {
		defer ngx.stop()
		viaNginx, err := newEndpoint(targetNginx, ngx.url, "/v1/messages", keys[0])
		if err != nil {
			return err
		}
		targets = append(targets, viaNginx)
	}
	logf("yardstick: %s", note)
	bare, viaBare, err := startBare(cfg, proxyBin, fake.url, keyList, keys[0])
	if err != nil {
		return err
	}
	defer bare.stop()
	targets = append(targets, viaBare)
	viaProxy, err := newEndpoint(targetProxy, proxy.url, "/pools/perf/pool-0/v1/messages", "perf-client-token")
	if err != nil {
		return err
	}
	targets = append(targets, viaProxy)
	time.Sleep(time.Second)
	if res.Memory.RestOnePool, err = rssMiB(proxy.pid()); err != nil {
		return err
	}
	if err := measureLoad(ctx, cfg, res, targets, proxy, fake.url); err != nil {
		return err
	}
	logf("time to first event: %d samples each", cfg.ttfbSamples)
	if res.TTFB, err = measureTTFB(ctx, targets, cfg.ttfbSamples); err != nil {
		return err
	}
	proxy.stop()
	bare.stop()

	if err := streamMemory(ctx, cfg, res, proxyBin, fake.url, keyList, keys[0]); err != nil {
		return err
	}

	logf("memory: a proxy with 100 idle pools of 10 keys")
	if res.Memory.RestHundredPools, err = idleRSS(ctx, proxyBin, fake.url, keyList, cfg.proxyFlags); err != nil {
		return err
	}

	res.Machine.LoadAfter = loadavg()
	res.summarise()
	if err := res.write(cfg.out); err != nil {
		return err
	}
	logf("wrote %s/%s.json and %s.md", cfg.out, res.name(), res.name())
	return nil
}

// streamMemory starts a fresh proxy for each -streams count (so the heap
// left by earlier steps does not absorb the streams' memory), warms it with a
// few streaming requests and measures its RSS before and while that many
// streams are held open; then the same through a fresh Go yardstick. The
// proxy's in-flight and connection caps are raised above the count: this
// measures memory, not shedding. Both processes sample every 4 KiB
// allocated (GODEBUG=memprofilerate), so that their in-use heap splits by
// owner (see heapByOwner) with little sampling error.
func streamMemory(ctx context.Context, cfg config, res *Results, proxyBin, fakeURL, keyList, upstreamKey string) error {
	env := []string{"GODEBUG=memprofilerate=4096"}
	for _, n := range cfg.streams {
		for _, target := range []string{targetProxy, targetBare} {
			logf("memory: %d held streams through a fresh %s", n, target)
			var args []string
			path, token, heapTop := "/pools/perf/pool-0/v1/messages", "perf-client-token", fmt.Sprintf("streams-%d-heap-top.txt", n)
			if target == targetBare {
				args = bareArgs(cfg, fakeURL, keyList)
				path, token, heapTop = "/v1/messages", upstreamKey, "bare-"+heapTop
			} else {
				args = proxyArgs(fakeURL, keyList, 1, cfg.keys, slices.Concat([]string{pprofFlag, loopbackAny,
					"-max-in-flight", fmt.Sprint(n + 64), "-max-connections", fmt.Sprint(n + 64)}, cfg.proxyFlags))
			}
			p, err := startProcessEnv(target+"-streams", env, proxyBin, args...)
			if err != nil {
				return err
			}
			ep, err := newEndpoint(target, p.url, path, token)
			if err != nil {
				p.stop()
				return err
			}
			h, err := holdStreams(ctx, p, ep, fakeURL, n, filepath.Join(cfg.out, heapTop))
			p.stop()
			if err != nil {
				return err
			}
			res.Memory.Held = append(res.Memory.Held, h)
		}
	}
	return nil
}

// startBare starts the Go yardstick for the load steps and returns it with
// its endpoint, which authenticates with the upstream's key.
func startBare(cfg config, proxyBin, fakeURL, keyList, key string) (*process, endpoint, error) {
	p, err := startProcess("proxyserver-bare", proxyBin, bareArgs(cfg, fakeURL, keyList)...)
	if err != nil {
		return nil, endpoint{}, err
	}
	ep, err := newEndpoint(targetBare, p.url, "/v1/messages", key)
	if err != nil {
		p.stop()
		return nil, endpoint{}, err
	}
	return p, ep, nil
}

// pprofFlag has a proxyserver serve net/http/pprof (on a loopback port).
const pprofFlag = "-pprof"

// bareArgs starts proxyserver as the Go yardstick: -bare, with -pprof for
// its memory figures.
func bareArgs(cfg config, fakeURL, keyList string) []string {
	extra := append([]string{"-bare", pprofFlag, loopbackAny}, cfg.proxyFlags...)
	return proxyArgs(fakeURL, keyList, 1, 1, extra)
}

func holdStreams(ctx context.Context, p *process, ep endpoint, fakeURL string, n int, heapTop string) (HeldStreams, error) {
	newAttacker(ep, 0).run(ctx, modeSSE, 100, time.Second)
	time.Sleep(time.Second)
	h := HeldStreams{Target: ep.name, Streams: n, Load: loadavg()}
	before, with, err := measureStreams(ctx, fakeURL, ep, p.pid(), p.pprof, n, heapTop)
	if err != nil {
		return h, err
	}
	h.BeforeStreams, h.WithStreams = before.rss, with.rss
	h.PerStreamKiB = (with.rss - before.rss) * 1024 / float64(n)
	h.PerStreamHeapKiB = (with.heap - before.heap) * 1024 / float64(n)
	h.PerStreamStackKiB = (with.stack - before.stack) * 1024 / float64(n)
	h.GoroutinesPerStream = float64(with.goroutines-before.goroutines) / float64(n)
	h.PerStreamOwnHeapKiB = float64(with.ownHeap-before.ownHeap) / 1024 / float64(n)
	h.PerStreamGoHeapKiB = float64(with.goHeap-before.goHeap) / 1024 / float64(n)
	h.HeapTop = filepath.Base(heapTop)
	return h, nil
}

// loopbackAny is a listen address on a free loopback port.
const loopbackAny = "127.0.0.1:0"

// proxyArgs are proxyserver's flags for pools pools of perPool keys in front
// of upstream, followed by extra.
func proxyArgs(upstream, keyList string, pools, perPool int, extra []string) []string {
	return append([]string{"-addr", loopbackAny, "-upstream", upstream, "-keys", keyList,
		"-pools", fmt.Sprint(pools), "-keys-per-pool", fmt.Sprint(perPool)}, extra...)
}

// idleRSS starts a proxy with 100 pools of 10 keys and reads its RSS after it
// has settled.
func idleRSS(ctx context.Context, proxyBin, fakeURL, keyList string, extra []string) (float64, error) {
	p, err := startProcess("proxyserver-100-pools", proxyBin, proxyArgs(fakeURL, keyList, 100, 10, extra)...)
	if err != nil {
		return 0, err
	}
	defer p.stop()
	select { // let it settle; an interrupted run stops here
	case <-ctx.Done():
		return 0, fmt.Errorf("idle memory: %w", ctx.Err())
	case <-time.After(2 * time.Second):
	}
	return rssMiB(p.pid())
}

// trustPEM is a client TLS configuration trusting the certificate in file.
func trustPEM(file string) (*tls.Config, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(raw) {
		return nil, fmt.Errorf("%s: no PEM certificate", file)
	}
	return &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, nil
}
