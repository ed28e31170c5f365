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
	"flag"

	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/proxy"
)

// bindProxyLimits binds the flags that bound a replica's memory under
// hostile clients straight into the proxy's options, and the per-pool queue
// cap into maxQueuedPerPool. The defaults fit the Deployment's memory limit;
// see "Memory bound" in docs/concepts/architecture.md.
func bindProxyLimits(fs *flag.FlagSet, o *proxy.Options, maxQueuedPerPool *int) {
	fs.Int64Var(&o.MaxRequestBodyBytes, "proxy-max-body-bytes", proxy.DefaultMaxRequestBodyBytes,
		"Largest request body the proxy accepts (it is buffered for failover); larger ones get 413.")
	fs.Int64Var(&o.MaxBufferedBodyBytes, "proxy-max-buffered-body-bytes", proxy.DefaultMaxBufferedBodyBytes,
		"Request-body bytes all requests of a replica may hold in memory together; beyond it requests get 503.")
	fs.IntVar(&o.MaxHeaderBytes, "proxy-max-header-bytes", proxy.DefaultMaxHeaderBytes,
		"Largest request header block; larger ones get 431.")
	fs.IntVar(&o.MaxConnections, "proxy-max-connections", proxy.DefaultMaxConnections,
		"Client connections a replica serves at once; the next ones get 503 and are closed.")
	fs.IntVar(&o.MaxInFlight, "proxy-max-in-flight", proxy.DefaultMaxInFlight,
		"Requests a replica handles at once; more get 503.")
	fs.IntVar(maxQueuedPerPool, "proxy-max-queued-per-pool", keypool.DefaultMaxWaiters,
		"Requests of one KeyPool that may wait for a key's capacity at once (spec.queueTimeout); more get 429.")
	fs.DurationVar(&o.ReadHeaderTimeout, "proxy-read-header-timeout", proxy.DefaultReadHeaderTimeout,
		"How long a client may take to send a request's headers.")
	fs.DurationVar(&o.BodyReadTimeout, "proxy-body-read-timeout", proxy.DefaultBodyReadTimeout,
		"How long a client may take to send a request body; slower ones get 408.")
	fs.DurationVar(&o.IdleTimeout, "proxy-idle-timeout", proxy.DefaultIdleTimeout,
		"How long an idle keep-alive client connection stays open.")
}
