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
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keypool-dev/keypool-operator/internal/testproc"
)

// runRedis measures what shared limits cost a request: two proxies in front
// of the same fake provider, one with local limits and one whose limits live
// in a redis-server started here (-redis-url), get the same fixed-rate
// steps back to back; the difference in latency is Redis's share. It
// writes redis.md.
func runRedis(ctx context.Context, cfg config) error {
	tmp, err := os.MkdirTemp("", "loadgen-redis-")
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
	fake, err := startProcess("fakeprovider", fakeBin, "-addr", loopbackAny, "-keys", keyList)
	if err != nil {
		return err
	}
	defer fake.stop()
	rdb, err := startRedis(tmp)
	if err != nil {
		return err
	}
	defer rdb.Stop(10 * time.Second)
	redisURL := "redis://" + rdb.addr

	attackers, procs, err := startRedisProxies(cfg, proxyBin, fake.url, keyList, redisURL)
	if err != nil {
		return err
	}
	defer stopAll(procs)
	callsBefore, err := scriptCalls(ctx, redisURL)
	if err != nil {
		return err
	}
	steps, err := redisSteps(ctx, cfg, attackers)
	if err != nil {
		return err
	}
	callsAfter, err := scriptCalls(ctx, redisURL)
	if err != nil {
		return err
	}
	var sharedRequests uint64
	for _, s := range steps {
		if s.Target == "redis" {
			sharedRequests += s.Requests
		}
	}
	outages := strings.Count(procs[1].Output(), "redis unavailable")
	table := redisTable(cfg, steps, callsAfter-callsBefore, sharedRequests, outages)
	fmt.Print(table)
	if err := os.MkdirAll(cfg.out, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", cfg.out, err)
	}
	if err := os.WriteFile(filepath.Join(cfg.out, "redis.md"), []byte(table), 0o644); err != nil {
		return fmt.Errorf("write redis.md: %w", err)
	}
	logf("wrote %s/redis.md", cfg.out)
	if callsAfter == callsBefore {
		return errors.New("the Redis proxy ran no script: its limits were not shared")
	}
	return nil
}

// startRedisProxies starts the two proxies, local and with -redis-url, and
// returns them with an attacker for each, in that order.
func startRedisProxies(cfg config, proxyBin, fakeURL, keyList, redisURL string) ([]*attacker, []*process, error) {
	var procs []*process
	for _, extra := range [][]string{nil, {"-redis-url", redisURL}} {
		name := "proxyserver-local"
		if extra != nil {
			name = "proxyserver-redis"
		}
		p, err := startProcess(name, proxyBin, proxyArgs(fakeURL, keyList, 1, cfg.keys, append(extra, cfg.proxyFlags...))...)
		if err != nil {
			stopAll(procs)
			return nil, nil, err
		}
		procs = append(procs, p)
	}
	attackers := make([]*attacker, 0, len(procs))
	for _, p := range procs {
		ep, err := newEndpoint(strings.TrimPrefix(p.Name, "proxyserver-"), p.url, "/pools/perf/pool-0/v1/messages", "perf-client-token")
		if err != nil {
			stopAll(procs)
			return nil, nil, err
		}
		attackers = append(attackers, newAttacker(ep, p.pid()))
	}
	return attackers, procs, nil
}

func stopAll(procs []*process) {
	for _, p := range procs {
		p.stop()
	}
}

// redisSteps warms both proxies, then runs every rate and mode through
// each, back to back.
func redisSteps(ctx context.Context, cfg config, attackers []*attacker) ([]Step, error) {
	for _, mode := range cfg.modes { // warm connections, and Redis's script cache
		for _, a := range attackers {
			a.run(ctx, mode, 200, time.Second)
		}
	}
	var steps []Step
	for _, rate := range cfg.rates {
		for _, mode := range cfg.modes {
			for _, a := range attackers {
				s := a.run(ctx, mode, rate, cfg.duration)
				logf("%-6s %-4s %5d req/s: p50 %6.0f µs p99 %7.0f µs, %d errors, load %s",
					s.Target, s.Mode, s.Rate, s.P50, s.P99, s.Errors, s.Load)
				steps = append(steps, s)
				if err := ctx.Err(); err != nil {
					return nil, fmt.Errorf("redis steps: %w", err)
				}
			}
		}
	}
	return steps, nil
}

// redisTable renders the steps of both proxies side by side.
func redisTable(cfg config, steps []Step, calls, requests uint64, outages int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Shared limits: added latency\n\nCommand: `loadgen %s`. Machine: %d CPUs, load %s.\n\n",
		strings.Join(cfg.args, " "), describeMachine().NProc, loadavg())
	b.WriteString("Same fake provider and pool (" + strconv.Itoa(cfg.keys) + " unlimited keys), one proxy with local " +
		"limits, one with `-redis-url` (a local redis-server), steps back to back. Latency in µs, to the end of the body.\n\n")
	b.WriteString("| mode | rate/s | local p50 | local p99 | redis p50 | redis p99 | added p50 | added p99 | errors l/r |\n" +
		"|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for i := 0; i+1 < len(steps); i += 2 {
		l, r := steps[i], steps[i+1]
		fmt.Fprintf(&b, "| %s | %d | %.0f | %.0f | %.0f | %.0f | %+.0f | %+.0f | %d/%d |\n",
			l.Mode, l.Rate, l.P50, l.P99, r.P50, r.P99, r.P50-l.P50, r.P99-l.P99, l.Errors, r.Errors)
	}
	fmt.Fprintf(&b, "\nRedis ran %d limiter scripts for %d requests through the Redis proxy "+
		"(a Reserve and a Settle each when Redis answers in time; the Settles pipelined). "+
		"Outages (a call over the 50 ms timeout: local limits until the next PING answers): %d.\n", calls, requests, outages)
	return b.String()
}

// redisProcess is a redis-server started for the run.
type redisProcess struct {
	*testproc.Process
	addr string
}

// startRedis runs Debian's redis-server on a free loopback port, keeping
// nothing on disk, and waits until it accepts connections.
func startRedis(dir string) (*redisProcess, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server not found (make redis-server, or apt-get install -y redis-server): %w", err)
	}
	addr, err := testproc.FreeAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	p, err := testproc.StartIn(dir, "redis-server", nil, bin, "--port", port, "--bind", "127.0.0.1",
		"--dir", dir, "--save", "", "--appendonly", "no", "--protected-mode", "no")
	if err != nil {
		return nil, err
	}
	if err := p.WaitFor("Ready to accept connections", startTimeout); err != nil {
		p.Kill()
		return nil, err
	}
	return &redisProcess{Process: p, addr: addr}, nil
}

// scriptCalls is how many EVALSHA and EVAL calls Redis has served.
func scriptCalls(ctx context.Context, url string) (uint64, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return 0, fmt.Errorf("redis url: %w", err)
	}
	c := redis.NewClient(opts)
	defer func() { _ = c.Close() }()
	info, err := c.Info(ctx, "commandstats").Result()
	if err != nil {
		return 0, fmt.Errorf("redis INFO: %w", err)
	}
	var n uint64
	for line := range strings.SplitSeq(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || (name != "cmdstat_evalsha" && name != "cmdstat_eval") {
			continue
		}
		calls, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
		v, err := strconv.ParseUint(calls, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("redis INFO %q: %w", line, err)
		}
		n += v
	}
	return n, nil
}
