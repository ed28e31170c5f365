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
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// endpoint is where a measurement sends Anthropic /v1/messages requests.
type endpoint struct {
	name   string // "direct", "nginx", "bare" or "proxy"
	url    string
	header http.Header
	tls    *tls.Config // trusts the fake provider's certificate under -tls
}

// transport is a client transport for ep: HTTP/2 where the endpoint offers
// it over TLS, as the providers' SDKs use it.
func (ep endpoint) transport(idlePerHost int) *http.Transport {
	tr := &http.Transport{
		MaxIdleConnsPerHost: idlePerHost,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	if ep.tls != nil {
		// A clone: enabling HTTP/2 adds "h2" to the configuration's
		// NextProtos, which must not leak into other transports.
		tr.TLSClientConfig, tr.ForceAttemptHTTP2 = ep.tls.Clone(), true
	}
	return tr
}

// requireLoopback refuses any URL whose host is not 127.0.0.1: the harness
// only ever loads processes it started itself on the loopback interface.
func requireLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("parse %q: %w", raw, err)
	}
	host, _, err := net.SplitHostPort(u.Host)
	if err != nil {
		return fmt.Errorf("url %q: %w", raw, err)
	}
	if host != "127.0.0.1" {
		return fmt.Errorf("url %q: the load harness only targets 127.0.0.1", raw)
	}
	return nil
}

// newEndpoint returns an endpoint for base+path that authenticates with
// x-api-key: token.
func newEndpoint(name, base, path, token string) (endpoint, error) {
	if err := requireLoopback(base); err != nil {
		return endpoint{}, err
	}
	return endpoint{
		name: name,
		url:  strings.TrimSuffix(base, "/") + path,
		header: http.Header{
			"X-Api-Key":         {token},
			"Content-Type":      {"application/json"},
			"Anthropic-Version": {"2023-06-01"},
		},
	}, nil
}

// prompt is the request text: about 1.1 KB, asking the fake for 64 output
// tokens (8 text deltas when streaming), the same request as the proxy's Go
// benchmarks.
var prompt = strings.Repeat("benchmark prompt text ", 50) + "[[output_tokens=64]]"

// requestBody is an Anthropic Messages request, streaming or not.
func requestBody(stream bool) []byte {
	return fmt.Appendf(nil,
		`{"model":"claude-sonnet-4-5","max_tokens":256,"stream":%t,"messages":[{"role":"user","content":%q}]}`,
		stream, prompt)
}

// modeStream maps a mode name to whether it streams.
func modeStream(mode string) bool { return mode == modeSSE }

// The request modes and the targets the harness measures.
const (
	modeJSON     = "json"
	modeSSE      = "sse"
	targetDirect = "direct"
	targetNginx  = "nginx"
	// targetBare is the Go yardstick: net/http's server and
	// httputil.ReverseProxy with no pool (proxyserver -bare).
	targetBare  = "bare"
	targetProxy = "proxy"
)

// perfKeys are the fake provider's n unlimited keys.
func perfKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("perf-key-%d", i+1)
	}
	return keys
}
