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
	"net"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/keypool-dev/keypool-operator/internal/objectid"
)

// Defaults for Options fields left zero.
const (
	DefaultAddr                = ":8080"
	DefaultMaxRequestBodyBytes = 32 << 20
	DefaultShutdownGrace       = 30 * time.Second

	// The defaults below bound a replica's memory under hostile clients; see
	// "Memory bound" in docs/concepts/architecture.md for how they add up to less
	// than the Deployment's memory limit.
	DefaultMaxHeaderBytes       = 64 << 10
	DefaultReadHeaderTimeout    = 10 * time.Second
	DefaultBodyReadTimeout      = 60 * time.Second
	DefaultIdleTimeout          = 2 * time.Minute
	DefaultMaxConnections       = 1536
	DefaultMaxInFlight          = 512
	DefaultMaxBufferedBodyBytes = 96 << 20
)

// Options configure a Server. The zero value is usable.
type Options struct {
	// Addr is the TCP address Start listens on; default ":8080".
	Addr string
	// Listener, when set, is used by Start instead of listening on Addr
	// (tests, socket activation). Start closes it.
	Listener net.Listener
	// Logger receives "proxy listening" and, at V(1), one line per request.
	// Keys and client tokens are never logged.
	Logger logr.Logger
	// MaxRequestBodyBytes bounds the request body, which is buffered so it can
	// be replayed on failover; larger bodies get 413. Default 32 MiB.
	MaxRequestBodyBytes int64
	// ObjectIDs seals the IDs of provider objects (files, batches, stored
	// responses) handed to clients, and opens them on the way in (see
	// objects.go). Nil: the object APIs are refused.
	ObjectIDs *objectid.Sealer
	// Transport sends requests upstream. Default: DefaultTransport().
	Transport http.RoundTripper
	// Metrics is where the proxy's collectors are registered (once per
	// Registerer). Default: controller-runtime's metrics.Registry, which the
	// manager serves on its metrics endpoint.
	Metrics prometheus.Registerer
	// MaxHeaderBytes bounds a request's header block; larger ones get 431.
	// Default 64 KiB.
	MaxHeaderBytes int
	// ReadHeaderTimeout is how long a connection may take to send a
	// request's headers before it is closed. Default 10s.
	ReadHeaderTimeout time.Duration
	// BodyReadTimeout is how long a request body may take to arrive, from
	// the end of its headers; a slower one gets 408. There is no write
	// timeout: a stream may last many minutes. Default 60s.
	BodyReadTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle this long. Default 2m.
	IdleTimeout time.Duration
	// MaxConnections bounds the client connections Start serves at once.
	// A connection beyond it gets one 503 with Retry-After and is closed;
	// beyond MaxConnections plus an eighth, further connections wait in the
	// kernel's accept backlog. Default 1536.
	MaxConnections int
	// MaxInFlight bounds the requests handled at once; more get 503 with
	// Retry-After. Default 512.
	MaxInFlight int
	// MaxBufferedBodyBytes bounds the request-body bytes held in memory by
	// all requests together (bodies are buffered for failover); a request
	// whose body does not fit gets 503 with Retry-After. The first 64 KiB of
	// every body are not counted (MaxInFlight bounds them). Default 96 MiB.
	MaxBufferedBodyBytes int64
	// ShutdownGrace is how long Start lets in-flight requests and streams run
	// after its context is done before closing their connections. Default 30s.
	ShutdownGrace time.Duration
	// GenAI, when set, traces every proxied request and records the GenAI
	// client histograms with OpenTelemetry (genai.go); nil costs nothing.
	GenAI *GenAI
}

func (o *Options) setDefaults() {
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if o.MaxRequestBodyBytes <= 0 {
		o.MaxRequestBodyBytes = DefaultMaxRequestBodyBytes
	}
	if o.Transport == nil {
		o.Transport = DefaultTransport()
	}
	if o.Metrics == nil {
		o.Metrics = ctrlmetrics.Registry
	}
	if o.ShutdownGrace <= 0 {
		o.ShutdownGrace = DefaultShutdownGrace
	}
	o.setLimitDefaults()
}
