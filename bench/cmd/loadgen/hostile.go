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
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The hostile-client run (-hostile): a proxy replica with the default flags,
// the Deployment's GOMEMLIMIT, under slow-header connections and clients
// declaring 32 MiB bodies and trickling them, while a well-behaved client
// sends requests. It samples the proxy's RSS and checks that it stays under
// the Deployment's memory limit and that every well-behaved request succeeds.

// hostileConfig is the -hostile run's part of the command line.
type hostileConfig struct {
	slowHeaders  int           // connections sending headers slowly
	bodies       int           // clients declaring 32 MiB bodies
	duration     time.Duration // length of the attack
	memLimitMiB  float64       // the Deployment's memory limit
	goMemLimit   string        // the Deployment's GOMEMLIMIT
	trickleEvery time.Duration // pause between a body client's chunks
}

// Bounds of the hostile run.
const (
	maxHostileConns = 5000
	declaredBody    = 32 << 20
	headerLine      = 1 << 10 // bytes per slow header line
	headerEvery     = 150 * time.Millisecond
	bodyChunk       = 64 << 10 // bytes per body trickle
)

// hostileCounts are the attack's outcomes, counted as they happen.
type hostileCounts struct {
	headerConns, headerClosed, header431, header503, headerOther atomic.Int64
	bodyReqs, body503, body408, body413, bodyClosed, bodyOther   atomic.Int64
	bodyBytesSent                                                atomic.Int64

	mu     sync.Mutex
	others map[string]int // "slow-header 400", "body 200", ...: answers no column counts
}

// other counts an answer no column of the table has.
func (c *hostileCounts) other(kind string, code int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.others == nil {
		c.others = map[string]int{}
	}
	c.others[fmt.Sprintf("%s %d", kind, code)]++
}

// goodResult is the well-behaved client's record.
type goodResult struct {
	ok, failed int
	lat        []time.Duration
	samples    []string
}

// runHostile performs the hostile-client run and prints its table.
func runHostile(ctx context.Context, cfg config) error {
	h := cfg.hostile
	tmp, err := os.MkdirTemp("", "loadgen-hostile-")
	if err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	logf("building the fake provider and the proxy server in %s", tmp)
	fakeBin, proxyBin, err := buildBinaries(ctx, tmp)
	if err != nil {
		return err
	}
	fake, err := startProcess("fakeprovider", fakeBin, "-addr", loopbackAny, "-keys", "perf-key-1")
	if err != nil {
		return err
	}
	defer fake.stop()
	// The replica as deployed: default proxy flags, the Deployment's GOMEMLIMIT.
	if err := os.Setenv("GOMEMLIMIT", h.goMemLimit); err != nil {
		return fmt.Errorf("set GOMEMLIMIT: %w", err)
	}
	proxy, err := startProcess("proxyserver", proxyBin, proxyArgs(fake.url, "perf-key-1", 1, 1, nil)...)
	_ = os.Unsetenv("GOMEMLIMIT")
	if err != nil {
		return err
	}
	defer proxy.stop()
	u, err := url.Parse(proxy.url)
	if err != nil {
		return fmt.Errorf("proxy url: %w", err)
	}
	addr := u.Host
	ep, err := newEndpoint(targetProxy, proxy.url, "/pools/perf/pool-0/v1/messages", "perf-client-token")
	if err != nil {
		return err
	}
	time.Sleep(time.Second)
	rest, err := rssMiB(proxy.pid())
	if err != nil {
		return err
	}

	// The well-behaved client connects before the attack, as a service
	// already using the proxy would.
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true}, Timeout: 30 * time.Second}
	if err := goodRequest(ctx, client, ep); err != nil {
		return fmt.Errorf("well-behaved request before the attack: %w", err)
	}

	logf("attack: %d slow-header connections, %d clients declaring 32 MiB bodies, for %s",
		h.slowHeaders, h.bodies, h.duration)
	sampler := sampleRSS(proxy.pid())
	actx, cancel := context.WithTimeout(ctx, h.duration)
	defer cancel()
	var (
		counts hostileCounts
		wg     sync.WaitGroup
	)
	for i := range h.slowHeaders {
		wg.Go(func() { slowHeaderClient(actx, addr, i, &counts) })
	}
	for range h.bodies {
		wg.Go(func() { bodyClient(actx, addr, h.trickleEvery, &counts) })
	}
	good := make(chan goodResult, 1)
	go func() { good <- goodClient(actx, client, ep) }()
	g := <-good
	wg.Wait()
	peak := sampler.stop()
	hwm, err := procStatusMiB(proxy.pid(), "VmHWM:")
	if err != nil {
		return err
	}
	after, err := rssMiB(proxy.pid())
	if err != nil {
		return err
	}
	table := hostileTable(h, rest, peak, hwm, after, &counts, &g)
	fmt.Print(table)
	if err := os.MkdirAll(cfg.out, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", cfg.out, err)
	}
	if err := os.WriteFile(filepath.Join(cfg.out, "attack.md"), []byte(table), 0o644); err != nil {
		return fmt.Errorf("write attack.md: %w", err)
	}
	logf("wrote %s/attack.md", cfg.out)
	if hwm >= h.memLimitMiB || g.failed > 0 || g.ok == 0 {
		return errors.New("the replica did not hold: see the table")
	}
	return nil
}

// slowHeaderClient opens a connection, sends a request line and then one
// 1 KiB header line every headerEvery, never ending the header block, and
// reconnects whenever the proxy closes it, until ctx is done.
func slowHeaderClient(ctx context.Context, addr string, id int, c *hostileCounts) {
	line := fmt.Sprintf("X-Pad: %s\r\n", strings.Repeat("p", headerLine-10))
	for ctx.Err() == nil {
		conn, answered, stop, err := dialAwaitingAnswer(ctx, addr)
		if err != nil {
			time.Sleep(10 * time.Millisecond) // not a spin while the proxy refuses
			continue
		}
		c.headerConns.Add(1)
		_, err = fmt.Fprintf(conn, "POST /pools/perf/pool-0/v1/messages?c=%d HTTP/1.1\r\nHost: proxy\r\n", id)
		tick := time.NewTicker(headerEvery)
		for err == nil {
			select {
			case <-ctx.Done():
				err = ctx.Err()
			case <-tick.C:
				_, err = io.WriteString(conn, line)
			}
		}
		tick.Stop()
		code := <-answered
		stop()
		_ = conn.Close()
		if ctx.Err() != nil {
			return
		}
		switch code {
		case 0:
			c.headerClosed.Add(1)
		case http.StatusRequestHeaderFieldsTooLarge:
			c.header431.Add(1)
		case http.StatusServiceUnavailable:
			c.header503.Add(1)
		default:
			c.headerOther.Add(1)
			c.other("slow-header", code)
		}
	}
}

// bodyClient sends authenticated requests declaring 32 MiB bodies and
// trickles 64 KiB every trickleEvery until the proxy answers, then starts
// over, until ctx is done.
func bodyClient(ctx context.Context, addr string, every time.Duration, c *hostileCounts) {
	chunk := make([]byte, bodyChunk)
	for ctx.Err() == nil {
		conn, answered, stop, err := dialAwaitingAnswer(ctx, addr)
		if err != nil {
			time.Sleep(10 * time.Millisecond) // not a spin while the proxy refuses
			continue
		}
		c.bodyReqs.Add(1)
		_, err = fmt.Fprintf(conn, "POST /pools/perf/pool-0/v1/messages HTTP/1.1\r\nHost: proxy\r\n"+
			"X-Api-Key: perf-client-token\r\nAnthropic-Version: 2023-06-01\r\nContent-Type: application/json\r\n"+
			"Content-Length: %d\r\n\r\n", declaredBody)
		tick := time.NewTicker(every)
		code := -1
		for sent := 0; err == nil && sent < declaredBody; {
			select {
			case <-ctx.Done():
				err = ctx.Err()
			case code = <-answered:
				err = errors.New("answered")
			case <-tick.C:
				var n int
				n, err = conn.Write(chunk)
				sent += n
				c.bodyBytesSent.Add(int64(n))
			}
		}
		tick.Stop()
		if code == -1 {
			code = <-answered
		}
		stop()
		_ = conn.Close()
		if ctx.Err() != nil {
			return
		}
		switch code {
		case 0:
			c.bodyClosed.Add(1)
		case http.StatusServiceUnavailable:
			c.body503.Add(1)
		case http.StatusRequestTimeout:
			c.body408.Add(1)
		case http.StatusRequestEntityTooLarge:
			c.body413.Add(1)
		default:
			c.bodyOther.Add(1)
			c.other("body", code)
		}
	}
}

// goodClient sends one request every 100 ms until ctx is done.
func goodClient(ctx context.Context, client *http.Client, ep endpoint) goodResult {
	var g goodResult
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return g
		case <-tick.C:
		}
		start := time.Now()
		// Its own deadline, not the attack's: a request the attack's end
		// cut off would be counted as a failure it was not.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		err := goodRequest(rctx, client, ep)
		cancel()
		if err != nil {
			g.failed++
			if len(g.samples) < 3 {
				g.samples = append(g.samples, err.Error())
			}
			continue
		}
		g.ok++
		g.lat = append(g.lat, time.Since(start))
	}
}

// goodRequest sends one ordinary request and wants 200.
func goodRequest(ctx context.Context, client *http.Client, ep endpoint) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.url, strings.NewReader(string(requestBody(false))))
	if err != nil {
		return fmt.Errorf("request: %w", err)
	}
	req.Header = ep.header.Clone()
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("send: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %.200s", resp.StatusCode, body)
	}
	return nil
}

// procStatusMiB reads a kB field of /proc/PID/status, in MiB.
func procStatusMiB(pid int, field string) (float64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read status of %d: %w", pid, err)
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				return 0, fmt.Errorf("parse %s %q: %w", field, rest, err)
			}
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("no %s in /proc status", field)
}

// hostileTable renders the run; every figure comes from the run.
func hostileTable(h hostileConfig, rest, peak, hwm, after float64, c *hostileCounts, g *goodResult) string {
	var b strings.Builder
	verdict := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "NO"
	}
	slices.Sort(g.lat)
	pct := func(p float64) string {
		if len(g.lat) == 0 {
			return "-"
		}
		return g.lat[min(int(p*float64(len(g.lat))), len(g.lat)-1)].Round(100 * time.Microsecond).String()
	}
	fmt.Fprintf(&b, "## Memory under attack (loadgen -hostile)\n\n")
	fmt.Fprintf(&b, "Proxy replica with default flags, GOMEMLIMIT=%s, attacked for %s on 127.0.0.1.\n\n", h.goMemLimit, h.duration)
	fmt.Fprintf(&b, "| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| slow-header connections held open | %d (opened %d times in all) |\n", h.slowHeaders, c.headerConns.Load())
	fmt.Fprintf(&b, "| ... closed by the proxy without an answer (header timeout) | %d |\n", c.headerClosed.Load())
	fmt.Fprintf(&b, "| ... answered 431 (headers over the limit) | %d |\n", c.header431.Load())
	fmt.Fprintf(&b, "| ... answered 503 (connection cap) | %d |\n", c.header503.Load())
	fmt.Fprintf(&b, "| ... answered otherwise | %d |\n", c.headerOther.Load())
	fmt.Fprintf(&b, "| clients declaring 32 MiB bodies | %d (%d requests, %.0f MiB of body sent) |\n",
		h.bodies, c.bodyReqs.Load(), float64(c.bodyBytesSent.Load())/(1<<20))
	fmt.Fprintf(&b, "| ... answered 503 (body memory budget) | %d |\n", c.body503.Load())
	fmt.Fprintf(&b, "| ... answered 408 (body read timeout) | %d |\n", c.body408.Load())
	fmt.Fprintf(&b, "| ... answered 413 | %d |\n", c.body413.Load())
	fmt.Fprintf(&b, "| ... closed without an answer | %d |\n", c.bodyClosed.Load())
	fmt.Fprintf(&b, "| ... answered otherwise | %d |\n", c.bodyOther.Load())
	fmt.Fprintf(&b, "| well-behaved requests succeeded | %d of %d |\n", g.ok, g.ok+g.failed)
	fmt.Fprintf(&b, "| well-behaved latency p50 / p99 / max | %s / %s / %s |\n", pct(0.5), pct(0.99), pct(1))
	fmt.Fprintf(&b, "| proxy RSS at rest | %.1f MiB |\n", rest)
	fmt.Fprintf(&b, "| proxy RSS peak sampled every 50 ms | %.1f MiB |\n", peak)
	fmt.Fprintf(&b, "| proxy VmHWM (peak RSS of its life) | %.1f MiB |\n", hwm)
	fmt.Fprintf(&b, "| proxy RSS after the attack | %.1f MiB |\n", after)
	fmt.Fprintf(&b, "| Deployment memory limit | %.0f MiB |\n\n", h.memLimitMiB)
	fmt.Fprintf(&b, "Peak RSS under the limit: %s (%.1f of %.0f MiB). Every well-behaved request succeeded: %s (%d of %d).\n",
		verdict(hwm < h.memLimitMiB), hwm, h.memLimitMiB, verdict(g.failed == 0 && g.ok > 0), g.ok, g.ok+g.failed)
	others := make([]string, 0, len(c.others))
	for k, n := range c.others {
		others = append(others, fmt.Sprintf("%s: %d", k, n))
	}
	slices.Sort(others)
	if len(others) > 0 {
		fmt.Fprintf(&b, "\nOther answers (client, status: count): %s.\n", strings.Join(others, ", "))
	}
	for _, s := range g.samples {
		fmt.Fprintf(&b, "\nwell-behaved failure: %s\n", s)
	}
	return b.String()
}

// dialAwaitingAnswer connects to addr and reads, in the background, what the
// proxy answers on the connection, if anything: its status arrives on
// answered (0 when the proxy closed without answering). The connection is
// closed when ctx is done; stop lifts that.
func dialAwaitingAnswer(ctx context.Context, addr string) (conn net.Conn, answered chan int, stop func() bool, err error) {
	conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, nil, err
	}
	stop = context.AfterFunc(ctx, func() { _ = conn.Close() })
	answered = make(chan int, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			answered <- 0
			return
		}
		_ = resp.Body.Close()
		answered <- resp.StatusCode
	}()
	return conn, answered, stop, nil
}
