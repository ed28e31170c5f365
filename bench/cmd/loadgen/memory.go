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
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Memory is the proxy process's resident memory (VmRSS) in MiB.
type Memory struct {
	// RestOnePool: the load-test proxy (one pool) after start, before load.
	RestOnePool float64 `json:"rest_one_pool_mib"`
	// PeakUnderLoad: the highest RSS sampled during any proxy step.
	PeakUnderLoad float64 `json:"peak_under_load_mib"`
	// RestHundredPools: a second proxy with 100 pools of 10 keys, idle.
	RestHundredPools float64 `json:"rest_100_pools_x_10_keys_mib"`
	// Held is the memory of streams held open, one entry per -streams count.
	Held []HeldStreams `json:"held"`
}

// HeldStreams: Streams streaming requests were held open through a fresh
// proxy (the fake's hold gate stops them after the ping event);
// PerStreamKiB is (RSS with them open - RSS before) / Streams.
type HeldStreams struct {
	// Target is what held them: "proxy", or "bare" for the Go yardstick
	// (empty in results from before the yardstick: the proxy).
	Target        string  `json:"target,omitempty"`
	Streams       int     `json:"held_streams"`
	BeforeStreams float64 `json:"before_streams_mib"`
	WithStreams   float64 `json:"with_streams_mib"`
	PerStreamKiB  float64 `json:"per_stream_kib"`
	// PerStreamHeapKiB is the Go heap (HeapAlloc, from the proxy's pprof
	// endpoint) per held stream. It can be larger than the RSS figure
	// because buffers whose pages were never written are not resident yet.
	PerStreamHeapKiB float64 `json:"per_stream_heap_kib"`
	// PerStreamStackKiB is the goroutine stacks (the heap profile's Stack
	// in use) per held
	// stream, and GoroutinesPerStream how many goroutines each one keeps:
	// with the heap, where a stream's memory goes.
	PerStreamStackKiB   float64 `json:"per_stream_stack_kib"`
	GoroutinesPerStream float64 `json:"goroutines_per_stream"`
	// PerStreamOwnHeapKiB is the in-use heap per held stream allocated with
	// a frame of this module's code on the stack (the proxy's work, and
	// whatever it asked of net/http or the transport), PerStreamGoHeapKiB
	// the rest: net/http's server and the runtime on their own, which any
	// Go server built on net/http pays (see heapByOwner).
	PerStreamOwnHeapKiB float64 `json:"per_stream_own_heap_kib"`
	PerStreamGoHeapKiB  float64 `json:"per_stream_go_heap_kib"`
	// HeapTop is the file holding `go tool pprof -top` of the proxy's
	// in-use heap while the streams were held.
	HeapTop string `json:"heap_top,omitempty"`
	Load    string `json:"loadavg"`
}

// adminClient reaches the fake provider's /_fake/ endpoints; under -tls it
// trusts the fake's certificate.
var adminClient = http.DefaultClient

// adminPost calls one of the fake provider's /_fake/ endpoints.
func adminPost(ctx context.Context, fakeURL, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fakeURL+path, nil)
	if err != nil {
		return fmt.Errorf("admin %s: %w", path, err)
	}
	resp, err := adminClient.Do(req)
	if err != nil {
		return fmt.Errorf("admin %s: %w", path, err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("admin %s: status %d", path, resp.StatusCode)
	}
	return nil
}

// fakeStats is what loadgen reads from the fake provider's /_fake/stats.
type fakeStats struct {
	HeldStreams   int64  `json:"held_streams"`
	TLSHandshakes uint64 `json:"tls_handshakes"`
}

// readFakeStats reads the fake provider's counters.
func readFakeStats(ctx context.Context, fakeURL string) (fakeStats, error) {
	var st fakeStats
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fakeURL+"/_fake/stats", nil)
	if err != nil {
		return st, fmt.Errorf("stats: %w", err)
	}
	resp, err := adminClient.Do(req)
	if err != nil {
		return st, fmt.Errorf("stats: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return st, fmt.Errorf("decode stats: %w", err)
	}
	return st, nil
}

// memSnapshot is a process's RSS, Go heap and goroutine stacks, in MiB,
// and its goroutines.
type memSnapshot struct {
	rss, heap, stack float64
	goroutines       int
	// ownHeap and goHeap are in-use heap bytes by owner (heapByOwner).
	ownHeap, goHeap int64
}

// snapshot reads the RSS of pid, and HeapAlloc, the stacks in use and the
// goroutine count from its pprof endpoint.
func snapshot(ctx context.Context, pid int, pprofURL string) (memSnapshot, error) {
	rss, err := rssMiB(pid)
	if err != nil {
		return memSnapshot{}, err
	}
	m := memSnapshot{rss: rss}
	if m.ownHeap, m.goHeap, err = heapByOwner(ctx, pprofURL); err != nil {
		return m, err
	}
	heap, err := pprofText(ctx, pprofURL+"/debug/pprof/heap?debug=1")
	if err != nil {
		return m, err
	}
	if m.heap, err = memStat(heap, "# HeapAlloc = "); err != nil {
		return m, err
	}
	if m.stack, err = memStat(heap, "# Stack = "); err != nil { // "in use / from the OS"
		return m, err
	}
	g, err := pprofText(ctx, pprofURL+"/debug/pprof/goroutine?debug=1")
	if err != nil {
		return m, err
	}
	first, _, _ := strings.Cut(g, "\n")
	if _, err := fmt.Sscanf(first, "goroutine profile: total %d", &m.goroutines); err != nil {
		return m, fmt.Errorf("goroutine count in %q: %w", first, err)
	}
	return m, nil
}

// pprofText fetches a text profile from a net/http/pprof server.
func pprofText(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Errorf("profile: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("profile: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return "", fmt.Errorf("read profile: %w", err)
	}
	return string(raw), nil
}

// memStat reads the (first) number of a "# Name = N" line of a debug=1
// heap profile, in MiB.
func memStat(profile, prefix string) (float64, error) {
	for line := range strings.SplitSeq(profile, "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			v, _, _ = strings.Cut(strings.TrimSpace(v), " ")
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, fmt.Errorf("parse %s%q: %w", prefix, v, err)
			}
			return n / (1 << 20), nil
		}
	}
	return 0, fmt.Errorf("no %q in the heap profile", strings.TrimSpace(prefix))
}

// measureStreams holds n streams open through the proxy and returns its
// memory before and while they are open, saving the top of its in-use heap
// to heapTop (unless empty) while they are. It always releases the hold.
func measureStreams(ctx context.Context, fakeURL string, proxy endpoint, proxyPID int, pprofURL string,
	n int, heapTop string) (before, with memSnapshot, err error) {
	if before, err = snapshot(ctx, proxyPID, pprofURL); err != nil {
		return before, with, err
	}
	if err := adminPost(ctx, fakeURL, "/_fake/hold"); err != nil {
		return before, with, err
	}
	released := false
	release := func() {
		if !released {
			released = true
			_ = adminPost(context.WithoutCancel(ctx), fakeURL, "/_fake/release")
		}
	}
	defer release()

	client := &http.Client{Transport: proxy.transport(n), Timeout: time.Minute}
	defer client.CloseIdleConnections()
	body := string(requestBody(true))
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, proxy.url, strings.NewReader(body))
			if err != nil {
				return
			}
			req.Header = proxy.header.Clone()
			resp, err := client.Do(req)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		})
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := readFakeStats(ctx, fakeURL)
		if err != nil {
			return before, with, err
		}
		held := st.HeldStreams
		if held >= int64(n) {
			break
		}
		if time.Now().After(deadline) {
			return before, with, fmt.Errorf("only %d of %d streams reached the hold gate", held, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // let the proxy's buffers settle
	with, err = snapshot(ctx, proxyPID, pprofURL)
	if err == nil && heapTop != "" {
		err = saveHeapTop(ctx, pprofURL, heapTop)
	}
	release()
	wg.Wait()
	return before, with, err
}

// saveHeapTop writes `go tool pprof -top` of the in-use heap of the
// process behind pprofURL to path.
func saveHeapTop(ctx context.Context, pprofURL, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	profile := path + ".pprof"
	if err := fetchProfileURL(ctx, pprofURL+"/debug/pprof/heap", profile); err != nil {
		return err
	}
	defer func() { _ = os.Remove(profile) }()
	return profileTop(ctx, profile, path, "-sample_index=inuse_space")
}
