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
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/usage"
)

// Metric names. Every series carries the labels namespace and pool (the
// KeyPool's name).
const (
	metricRequests      = "keypool_proxy_requests_total"           // + key, code
	metricLatency       = "keypool_proxy_upstream_latency_seconds" // time to response headers
	metricFailovers     = "keypool_proxy_failovers_total"          // + reason
	metricTokens        = "keypool_proxy_tokens_total"             // + direction
	metricQueueWait     = "keypool_proxy_queue_wait_seconds"       // time spent in Acquire
	metricQueueRejected = "keypool_proxy_queue_rejected_total"     // requests answered 429 by the proxy
	metricShed          = "keypool_proxy_shed_total"               // requests refused at a replica cap
	metricClientReqs    = "keypool_proxy_client_requests_total"    // + client, outcome
	metricClientTokens  = "keypool_proxy_client_tokens_total"      // + client, direction
)

// Labels of every series (and the matching log keys).
const (
	labelNamespace = "namespace"
	labelPool      = "pool"
)

const (
	// statusClientClosed is the code label when the client went away before
	// it got an answer (nginx's 499).
	statusClientClosed = 499
	// keyNone is the key label when no key was used.
	keyNone = ""
)

// Failover reasons, indexes into failoverReasonNames.
const (
	reasonRateLimited failoverReason = iota // 429
	reasonRejected                          // 401, 403
	reasonServerError                       // 5xx, incl. 529
	reasonConnection                        // transport error
	numFailoverReasons
)

const directionsCount = 4 // input, output, cache_creation, cache_read

// failoverReason labels why a request moved to another key.
type failoverReason uint8

var failoverReasonNames = [numFailoverReasons]string{"rate_limited", "rejected", "server_error", "connection_error"}

var tokenDirections = [directionsCount]string{"input", "output", "cache_creation", "cache_read"}

// metrics are the proxy's collectors for one prometheus.Registerer, plus a
// cache of the per-pool children so the hot path does no label lookups.
type metrics struct {
	requests      *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	failovers     *prometheus.CounterVec
	tokens        *prometheus.CounterVec
	queueWait     *prometheus.HistogramVec
	queueRejected *prometheus.CounterVec
	shed          *prometheus.CounterVec
	clientReqs    *prometheus.CounterVec
	clientTokens  *prometheus.CounterVec
	keysErr       error // why the KeyStateCollector is not registered, if it is not

	mu    sync.RWMutex
	pools map[poolID]*poolMetrics
}

type poolID struct{ namespace, name string }

var (
	metricsMu           sync.Mutex
	metricsByRegisterer = map[prometheus.Registerer]*metrics{}
)

// metricsFor returns the collectors registered with r, registering them (and
// a KeyStateCollector for reg) on first use, so that several Servers, or a
// restarted one, share one set per Registerer.
func metricsFor(r prometheus.Registerer, reg *keypool.Registry) (*metrics, error) {
	metricsMu.Lock()
	defer metricsMu.Unlock()
	if m, ok := metricsByRegisterer[r]; ok {
		return m, nil
	}
	m := newUnregisteredMetrics()
	var err error
	m.requests, err = register(r, m.requests, err)
	m.latency, err = register(r, m.latency, err)
	m.failovers, err = register(r, m.failovers, err)
	m.tokens, err = register(r, m.tokens, err)
	m.queueWait, err = register(r, m.queueWait, err)
	m.queueRejected, err = register(r, m.queueRejected, err)
	m.shed, err = register(r, m.shed, err)
	m.clientReqs, err = register(r, m.clientReqs, err)
	m.clientTokens, err = register(r, m.clientTokens, err)
	if err != nil {
		return nil, err
	}
	// A conflicting keypool_keys (say, from the controller) must not cost
	// the request metrics: report it apart.
	if _, kerr := register(r, NewKeyStateCollector(reg), nil); kerr != nil {
		m.keysErr = kerr
	}
	if _, cerr := register(r, NewCapacityCollector(reg), nil); cerr != nil {
		m.keysErr = errors.Join(m.keysErr, cerr)
	}
	if _, aerr := register(r, NewAffinityCollector(reg), nil); aerr != nil {
		m.keysErr = errors.Join(m.keysErr, aerr)
	}
	metricsByRegisterer[r] = m
	return m, nil
}

// newUnregisteredMetrics builds the collectors without registering them.
func newUnregisteredMetrics() *metrics {
	pl := []string{labelNamespace, labelPool}
	return &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricRequests,
			Help: "Requests answered by the proxy, by pool, key ID (empty when no key was used) and HTTP status (499: client went away).",
		}, append(pl, "key", "code")),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    metricLatency,
			Help:    "Time from sending a request upstream to its response headers, per attempt.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}, pl),
		failovers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricFailovers,
			Help: "Requests retried on another key, by reason (rate_limited, rejected, server_error, connection_error).",
		}, append(pl, "reason")),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricTokens,
			Help: "Tokens reported by the provider, by direction (input, output, cache_creation, cache_read).",
		}, append(pl, "direction")),
		queueWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    metricQueueWait,
			Help:    "Time requests waited for a key with capacity (every Acquire, including failover attempts).",
			Buckets: []float64{.0001, .001, .01, .1, .5, 1, 2.5, 5, 10, 30, 60},
		}, pl),
		queueRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricQueueRejected,
			Help: "Requests answered 429 by the proxy because no key had capacity within the queue timeout.",
		}, pl),
		shed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricShed,
			Help: "Requests the replica refused with 503 at one of its caps, by cap (connections, in_flight, body_memory).",
		}, []string{"cap"}),
		clientReqs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricClientReqs,
			Help: "Requests of each named client (the data key of its token), by outcome (served, throttled, failed, cancelled).",
		}, append(pl, labelClient, "outcome")),
		clientTokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricClientTokens,
			Help: "Tokens the provider reported for each named client, by direction (input, output, cache_creation, cache_read).",
		}, append(pl, labelClient, "direction")),
		pools: map[poolID]*poolMetrics{},
	}
}

// register registers c with r, or returns the equal collector registered
// before (by another process-level user of the same Registerer).
func register[C prometheus.Collector](r prometheus.Registerer, c C, prev error) (C, error) {
	if prev != nil {
		return c, prev
	}
	if err := r.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("register proxy metrics: %w", err)
	}
	return c, nil
}

// pool returns the cached children for one pool. The lookup does not
// allocate; the strings are cloned on insertion because they are slices of a
// request's path.
func (m *metrics) pool(namespace, name string) *poolMetrics {
	k := poolID{namespace, name}
	m.mu.RLock()
	pm := m.pools[k]
	m.mu.RUnlock()
	if pm != nil {
		return pm
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if pm = m.pools[k]; pm != nil {
		return pm
	}
	k = poolID{strings.Clone(namespace), strings.Clone(name)}
	pm = &poolMetrics{
		m:             m,
		namespace:     k.namespace,
		name:          k.name,
		latency:       m.latency.WithLabelValues(k.namespace, k.name),
		queueWait:     m.queueWait.WithLabelValues(k.namespace, k.name),
		queueRejected: m.queueRejected.WithLabelValues(k.namespace, k.name),
		requests:      map[keyCode]prometheus.Counter{},
	}
	for i, d := range tokenDirections {
		pm.tokens[i] = m.tokens.WithLabelValues(k.namespace, k.name, d)
	}
	for i, r := range failoverReasonNames {
		pm.failovers[i] = m.failovers.WithLabelValues(k.namespace, k.name, r)
	}
	m.pools[k] = pm
	return pm
}

// poolMetrics are one pool's metric children.
type poolMetrics struct {
	m                  *metrics
	namespace, name    string
	latency, queueWait prometheus.Observer
	queueRejected      prometheus.Counter
	tokens             [directionsCount]prometheus.Counter
	failovers          [numFailoverReasons]prometheus.Counter
	mu                 sync.RWMutex
	requests           map[keyCode]prometheus.Counter
	clients            map[string]*clientMetrics // guarded by mu, like requests
}

type keyCode struct {
	key  string
	code int
}

// request counts one answered request.
func (pm *poolMetrics) request(key string, code int) {
	k := keyCode{key, code}
	pm.mu.RLock()
	c := pm.requests[k]
	pm.mu.RUnlock()
	if c == nil {
		pm.mu.Lock()
		if c = pm.requests[k]; c == nil {
			k.key = strings.Clone(key)
			c = pm.m.requests.WithLabelValues(pm.namespace, pm.name, k.key, strconv.Itoa(code))
			pm.requests[k] = c
		}
		pm.mu.Unlock()
	}
	c.Inc()
}

func (pm *poolMetrics) failover(r failoverReason) { pm.failovers[r].Inc() }

func (pm *poolMetrics) addTokens(t usage.Tokens) {
	for i, n := range [directionsCount]int64{t.Input, t.Output, t.CacheCreation, t.CacheRead} {
		if n > 0 {
			pm.tokens[i].Add(float64(n))
		}
	}
}

// ForgetPool removes every metric series of the pool namespace/name, for a
// pool that was deleted: without it the series of deleted pools would stay
// for the life of the process. A request still in flight for the pool may
// record one more series, which the next ForgetPool removes.
func (s *Server) ForgetPool(namespace, name string) {
	s.metrics.forget(namespace, name)
	s.opts.GenAI.forget(namespace, name)
}

// forget drops one pool's cached children and its series in every vector.
func (m *metrics) forget(namespace, name string) {
	m.mu.Lock()
	delete(m.pools, poolID{namespace, name})
	m.mu.Unlock()
	labels := prometheus.Labels{labelNamespace: namespace, labelPool: name}
	m.requests.DeletePartialMatch(labels)
	m.latency.DeletePartialMatch(labels)
	m.failovers.DeletePartialMatch(labels)
	m.tokens.DeletePartialMatch(labels)
	m.queueWait.DeletePartialMatch(labels)
	m.queueRejected.DeletePartialMatch(labels)
	m.clientReqs.DeletePartialMatch(labels)
	m.clientTokens.DeletePartialMatch(labels)
}
