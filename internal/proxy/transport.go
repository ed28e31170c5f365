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
	"net"
	"net/http"
	"sync"
	"time"
)

// MaxResponseHeaderBytes bounds an upstream answer's header block; a larger
// one fails the attempt (a 502 for the client) after that many bytes were
// read. Providers send a few KiB. net/http's own default is 10 MiB, which
// MaxInFlight requests could hold at once; at 64 KiB they hold 32 MiB
// ("Memory bound" in docs/concepts/architecture.md).
const MaxResponseHeaderBytes = 64 << 10

var (
	defaultTransportOnce sync.Once
	defaultTransport     *http.Transport
)

// DefaultTransport returns the shared upstream transport, NewTransport(nil),
// created on first use. Sharing one transport shares its connection pools
// across all pools and Servers.
func DefaultTransport() http.RoundTripper {
	defaultTransportOnce.Do(func() { defaultTransport = NewTransport(nil) })
	return defaultTransport
}

// NewTransport returns a new upstream transport trusting tlsConfig's roots
// (nil: the system's). It is net/http's: HTTP/2 where the provider offers
// it, HTTP(S)_PROXY and NO_PROXY from the environment, and enough idle
// connections per provider for every request a replica serves at once, so
// that a burst up to the in-flight cap reuses connections instead of
// dialling (and handshaking) again. Keys are not its business: each
// attempt goes through its key's provider.Authenticate over it.
//
// It has no overall timeout, because a stream may legitimately run for many
// minutes; the client's own cancellation ends a request. The
// response-header timeout is long (10 min) because a non-streaming request
// sends its headers only once the whole completion is generated. It asks
// for no compression, so the body arrives as plain JSON or SSE that the
// usage scanner can read and that is flushed event by event.
func NewTransport(tlsConfig *tls.Config) *http.Transport {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                  http.ProxyFromEnvironment,
		DialContext:            dialer.DialContext,
		TLSClientConfig:        tlsConfig,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           2 * DefaultMaxInFlight,
		MaxIdleConnsPerHost:    DefaultMaxInFlight,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ResponseHeaderTimeout:  10 * time.Minute,
		MaxResponseHeaderBytes: MaxResponseHeaderBytes,
		DisableCompression:     true,
		// Read and write buffers stay at net/http's 4 KiB: larger ones cost
		// memory per idle or streaming connection (about 55 KiB at 32 KiB
		// each, measured with cmd/loadgen) for no latency gain.
	}
}
