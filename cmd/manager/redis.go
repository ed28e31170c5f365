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

	"github.com/keypool-dev/keypool-operator/internal/controller"
	"github.com/keypool-dev/keypool-operator/internal/ratelimit/shared"
)

// bindRedisFlags binds the flags of the shared limits into o. The password
// is no flag: it comes from REDIS_PASSWORD, so that it shows neither in the
// pod spec's args nor in ps.
func bindRedisFlags(fs *flag.FlagSet, o *controller.SharedLimitsOptions) {
	fs.StringVar(&o.URL, "redis-url", "", "Share the pools' limits among replicas through this Redis "+
		"(redis://host:port or rediss://host:port for TLS; ?addr=host:port adds seed nodes or Sentinels, "+
		"?master_name=NAME names the Sentinel master; the password comes from the REDIS_PASSWORD "+
		"environment variable, never from the URL). Empty: limits are local to each replica.")
	fs.StringVar(&o.Mode, "redis-mode", shared.ModeSingle, "What --redis-url names: single (one server or a "+
		"proxy), cluster (Redis Cluster seed nodes) or sentinel (Sentinels watching the master ?master_name).")
	fs.DurationVar(&o.Timeout, "redis-timeout", shared.DefaultTimeout,
		"How long a request may wait for Redis before its limiter serves from local limits for as long; "+
			"failures in a row over a second make an outage.")
	fs.IntVar(&o.PoolSize, "redis-pool-size", 0,
		"Connections per Redis node; 0: --proxy-max-in-flight plus 64, so that every request in flight "+
			"can wait for Redis at once.")
	fs.StringVar(&o.CAFile, "redis-ca-file", "", "PEM bundle of the CAs that sign the Redis server's "+
		"certificate (rediss:// with a private CA); empty: the system's CAs.")
	fs.IntVar(&o.Replicas, "replicas", 2, "Manager replicas serving the proxy: while Redis is unreachable, "+
		"each keeps limit/replicas of every key. Only used with --redis-url.")
}

// redisPoolSize is the connections per Redis node: what --redis-pool-size
// says, or enough for every request in flight plus the background sender
// and the probe.
func redisPoolSize(flagValue, maxInFlight int) int {
	if flagValue > 0 {
		return flagValue
	}
	if maxInFlight <= 0 {
		return shared.DefaultPoolSize
	}
	return maxInFlight + 64
}
