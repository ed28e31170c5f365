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
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"
)

// TTFB is the time from sending a streaming request to the first body read
// that returns bytes (the first SSE event), direct, through nginx (when it
// was measured) and through the proxy. Durations are in microseconds; Added
// is the proxy's minus direct, NginxAdded nginx's minus direct.
type TTFB struct {
	Samples       int     `json:"samples"` // per endpoint
	DirectP50     float64 `json:"direct_p50_us"`
	DirectP99     float64 `json:"direct_p99_us"`
	NginxP50      float64 `json:"nginx_p50_us,omitempty"`
	NginxP99      float64 `json:"nginx_p99_us,omitempty"`
	ProxyP50      float64 `json:"proxy_p50_us"`
	ProxyP99      float64 `json:"proxy_p99_us"`
	AddedP50      float64 `json:"added_p50_us"`
	AddedP99      float64 `json:"added_p99_us"`
	NginxAddedP50 float64 `json:"nginx_added_p50_us,omitempty"`
	NginxAddedP99 float64 `json:"nginx_added_p99_us,omitempty"`
	BareP50       float64 `json:"bare_p50_us,omitempty"`
	BareP99       float64 `json:"bare_p99_us,omitempty"`
	BareAddedP50  float64 `json:"bare_added_p50_us,omitempty"`
	BareAddedP99  float64 `json:"bare_added_p99_us,omitempty"`
	Load          string  `json:"loadavg"`
}

// measureTTFB sends n sequential streaming requests to each target, taking
// the targets in turn so that all see the same machine load.
func measureTTFB(ctx context.Context, targets []endpoint, n int) (TTFB, error) {
	out := TTFB{Samples: n, Load: loadavg()}
	clients := make(map[string]*http.Client, len(targets))
	for _, ep := range targets {
		clients[ep.name] = &http.Client{Transport: ep.transport(4), Timeout: 10 * time.Second}
		defer clients[ep.name].CloseIdleConnections()
	}
	body := requestBody(true)
	samples := make(map[string][]time.Duration, len(targets))
	for i := range n + 5 {
		for _, ep := range targets {
			d, err := firstEvent(ctx, clients[ep.name], ep, body)
			if err != nil {
				return out, err
			}
			if i >= 5 { // the first few warm the connections
				samples[ep.name] = append(samples[ep.name], d)
			}
		}
	}
	d, p := samples[targetDirect], samples[targetProxy]
	out.DirectP50, out.DirectP99 = quantile(d, 0.50), quantile(d, 0.99)
	out.ProxyP50, out.ProxyP99 = quantile(p, 0.50), quantile(p, 0.99)
	out.AddedP50, out.AddedP99 = out.ProxyP50-out.DirectP50, out.ProxyP99-out.DirectP99
	if ng := samples[targetNginx]; ng != nil {
		out.NginxP50, out.NginxP99 = quantile(ng, 0.50), quantile(ng, 0.99)
		out.NginxAddedP50, out.NginxAddedP99 = out.NginxP50-out.DirectP50, out.NginxP99-out.DirectP99
	}
	if g := samples[targetBare]; g != nil {
		out.BareP50, out.BareP99 = quantile(g, 0.50), quantile(g, 0.99)
		out.BareAddedP50, out.BareAddedP99 = out.BareP50-out.DirectP50, out.BareP99-out.DirectP99
	}
	return out, nil
}

// firstEvent times one streaming request up to its first body bytes, then
// drains the rest so the connection is reused.
func firstEvent(ctx context.Context, c *http.Client, ep endpoint, body []byte) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.url, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("ttfb request: %w", err)
	}
	req.Header = ep.header.Clone()
	buf := make([]byte, 4096)
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, fmt.Errorf("ttfb %s: %w", ep.name, err)
	}
	defer func() { _ = resp.Body.Close() }()
	var n int
	for n == 0 && err == nil {
		n, err = resp.Body.Read(buf)
	}
	elapsed := time.Since(start)
	if resp.StatusCode != http.StatusOK || !bytes.HasPrefix(buf[:n], []byte("event:")) {
		return 0, fmt.Errorf("ttfb %s: status %d, first bytes %q", ep.name, resp.StatusCode, buf[:min(n, 64)])
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, fmt.Errorf("ttfb %s: drain: %w", ep.name, err)
	}
	return elapsed, nil
}

// quantile returns the q-quantile of ds in microseconds (nearest rank).
func quantile(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := min(int(q*float64(len(s))), len(s)-1)
	return float64(s[i].Nanoseconds()) / 1e3
}
