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
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/quota"
	"github.com/keypool-dev/keypool-operator/internal/usage"
)

// labelClient is the client label: the name of a client token (its Secret
// data key), taken from the pool's configuration, never from the request,
// so the series are bounded by the configured clients.
const labelClient = "client"

// clientMetrics are one named client's children of one pool.
type clientMetrics struct {
	requests [quota.NumOutcomes]prometheus.Counter
	tokens   [directionsCount]prometheus.Counter
}

// client returns the cached children for a named client; nil for an
// unnamed one (the pool's own series count it). The lookup does not
// allocate.
func (pm *poolMetrics) client(name string) *clientMetrics {
	if name == "" {
		return nil
	}
	pm.mu.RLock()
	cm := pm.clients[name]
	pm.mu.RUnlock()
	if cm != nil {
		return cm
	}
	pm.mu.Lock()
	defer pm.mu.Unlock()
	if cm = pm.clients[name]; cm != nil {
		return cm
	}
	name = strings.Clone(name)
	cm = &clientMetrics{}
	for o := range quota.NumOutcomes {
		cm.requests[o] = pm.m.clientReqs.WithLabelValues(pm.namespace, pm.name, name, o.String())
	}
	for i, d := range tokenDirections {
		cm.tokens[i] = pm.m.clientTokens.WithLabelValues(pm.namespace, pm.name, name, d)
	}
	if pm.clients == nil {
		pm.clients = map[string]*clientMetrics{}
	}
	pm.clients[name] = cm
	return cm
}

// done counts one answered request and its tokens; cm may be nil.
func (cm *clientMetrics) done(o quota.Outcome, t usage.Tokens) {
	if cm == nil {
		return
	}
	cm.requests[o].Inc()
	for i, n := range [directionsCount]int64{t.Input, t.Output, t.CacheCreation, t.CacheRead} {
		if n > 0 {
			cm.tokens[i].Add(float64(n))
		}
	}
}

// clientDone accounts one request of a named client that the proxy
// answered itself, before any key was touched (so it used no tokens), in
// its metrics and in the pool's per-client window (status.clients).
func clientDone(pool *keypool.KeyPool, cm *clientMetrics, client string, o quota.Outcome) {
	if client == "" {
		return
	}
	cm.done(o, usage.Tokens{})
	pool.Clients().Record(client, o, usage.Tokens{})
}
