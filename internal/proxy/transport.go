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

package proxy

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/net/http/httpproxy"

	"github.com/keypool-dev/keypool-operator/internal/upstream"
)

// The upstream transports NewTransport makes.
const (
	// TransportLean is upstream.Transport: HTTP/1.1 with keep-alive, the
	// request's goroutine doing the I/O, no goroutines per connection. The
	// default: measured against net/http's with HTTP/2 to a TLS upstream,
	// it added less latency, sustained more and handshook less, at more
	// memory per held stream (a TLS connection each; docs/performance.md).
	TransportLean = "lean"
	// TransportAuto is TransportLean for http:// upstreams and
	// TransportNetHTTP for https:// ones, where HTTP/2 carries every stream
	// on a few connections: less memory per held stream.
	TransportAuto = "auto"
	// TransportNetHTTP is Go's net/http Transport: it also speaks HTTP/2 to
	// upstreams that offer it and sends through HTTP(S)_PROXY.
	TransportNetHTTP = "net/http"
)

var (
	defaultTransportOnce sync.Once
	defaultTransport     http.RoundTripper
)

// DefaultTransport returns the shared upstream transport, TransportLean,
// created on first use. Sharing one transport shares its connection pools
// across all pools and Servers.
func DefaultTransport() http.RoundTripper {
	defaultTransportOnce.Do(func() { defaultTransport, _ = NewTransport(TransportLean, nil) })
	return defaultTransport
}

// NewTransport returns a new upstream transport of the given kind trusting
// tlsConfig's roots (nil: the system's). When the environment names an
// HTTP proxy, every kind is net/http's, the only one that can use it.
//
// None has an overall timeout, because a stream may legitimately run for
// many minutes; the client's own cancellation ends a request. The
// response-header timeout is long (10 min) because a non-streaming request
// sends its headers only once the whole completion is generated. None asks
// for compression, so the body arrives as plain JSON or SSE that the usage
// scanner can read and that is flushed event by event.
func NewTransport(kind string, tlsConfig *tls.Config) (http.RoundTripper, error) {
	if kind != TransportAuto && kind != TransportLean && kind != TransportNetHTTP {
		return nil, fmt.Errorf("unknown upstream transport %q (want %q, %q or %q)",
			kind, TransportAuto, TransportLean, TransportNetHTTP)
	}
	switch {
	case kind == TransportNetHTTP || proxyInEnvironment():
		return newNetHTTPTransport(tlsConfig), nil
	case kind == TransportLean:
		return newLeanTransport(tlsConfig), nil
	}
	return byScheme{plain: newLeanTransport(nil), tls: newNetHTTPTransport(tlsConfig)}, nil
}

func newLeanTransport(tlsConfig *tls.Config) *upstream.Transport {
	return &upstream.Transport{
		TLSClientConfig:       tlsConfig,
		DialTimeout:           10 * time.Second,
		KeepAlive:             30 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 10 * time.Minute,
		IdleConnTimeout:       90 * time.Second,
		// Enough idle connections per provider for every request a replica
		// serves at once, so a burst up to the in-flight cap reuses
		// connections instead of dialling (and, over TLS, handshaking) again.
		MaxIdleConnsPerHost: DefaultMaxInFlight,
	}
}

func newNetHTTPTransport(tlsConfig *tls.Config) *http.Transport {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       tlsConfig,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          2 * DefaultMaxInFlight,
		MaxIdleConnsPerHost:   DefaultMaxInFlight,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 10 * time.Minute,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		// Read and write buffers stay at net/http's 4 KiB: larger ones cost
		// memory per idle or streaming connection (about 55 KiB at 32 KiB
		// each, measured with cmd/loadgen) for no latency gain.
	}
}

// byScheme sends http:// requests with one transport and https:// ones
// with another.
type byScheme struct{ plain, tls http.RoundTripper }

func (t byScheme) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL != nil && req.URL.Scheme == "https" {
		return t.tls.RoundTrip(req)
	}
	return t.plain.RoundTrip(req)
}

// CloseIdleConnections closes both transports' idle connections.
func (t byScheme) CloseIdleConnections() {
	for _, rt := range []http.RoundTripper{t.plain, t.tls} {
		if c, ok := rt.(interface{ CloseIdleConnections() }); ok {
			c.CloseIdleConnections()
		}
	}
}

// proxyInEnvironment reports whether HTTP(S)_PROXY names a proxy, read as
// net/http's ProxyFromEnvironment reads it.
func proxyInEnvironment() bool {
	cfg := httpproxy.FromEnvironment()
	return cfg.HTTPProxy != "" || cfg.HTTPSProxy != ""
}
