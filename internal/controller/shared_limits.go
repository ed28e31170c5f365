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

package controller

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	llmv1alpha1 "github.com/keypool-dev/keypool-operator/api/v1alpha1"
	"github.com/keypool-dev/keypool-operator/internal/quota"
	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
	"github.com/keypool-dev/keypool-operator/internal/ratelimit/shared"
)

// sharedLimitsDegraded is 1 while the Redis holding the shared limits is
// unreachable and this replica serves with local limits.
var sharedLimitsDegraded = prometheus.NewGauge(prometheus.GaugeOpts{
	Name: "keypool_shared_limits_degraded",
	Help: "1 while Redis (shared limits) is unreachable and this replica uses local limits at limit/replicas.",
})

// sharedLimitsCallErrors counts calls Redis answered with an error about
// one limiter (a corrupt value, WRONGTYPE): that limiter alone served from
// local limits for a probe interval.
var sharedLimitsCallErrors = prometheus.NewCounterFunc(prometheus.CounterOpts{
	Name: "keypool_shared_limits_call_errors_total",
	Help: "Redis calls answered with an error about one limiter (a corrupt value); that limiter used local limits meanwhile.",
}, func() float64 {
	if b := metricsBackend.Load(); b != nil {
		return float64(b.CallErrors())
	}
	return 0
})

// metricsBackend is the backend the process's metrics read.
var metricsBackend atomic.Pointer[shared.Backend]

func init() { ctrlmetrics.Registry.MustRegister(sharedLimitsDegraded, sharedLimitsCallErrors) }

// SharedLimitsOptions configures limits shared through Redis.
type SharedLimitsOptions struct {
	// URL is redis://host:port or rediss://host:port (TLS); without password.
	URL string
	// Mode is shared.ModeSingle (""), shared.ModeCluster or shared.ModeSentinel.
	Mode string
	// PoolSize is the connections per Redis node (0: shared.DefaultPoolSize).
	PoolSize int
	// CAFile is a PEM bundle of the CAs that sign Redis's certificate.
	CAFile string
	// Password comes from the environment (a Secret), never from a flag.
	Password string
	// Timeout bounds every Redis call (0: shared.DefaultTimeout).
	Timeout time.Duration
	// Replicas is how many manager replicas serve: without Redis each keeps
	// limit / Replicas.
	Replicas int
	// ProbeInterval is how often Redis is PINGed (0: every second).
	ProbeInterval time.Duration
}

// SharedLimits gives every pool limiters shared by the replicas through
// Redis, and turns Redis being unreachable into the pools' Degraded
// condition (reason SharedLimitsUnavailable), a metric and a log line.
type SharedLimits struct {
	backend *shared.Backend
	close   func() error
}

// NewSharedLimits connects to Redis. It does not fail when Redis is down
// (the pools start on local limits and switch when it answers), only when
// the options are unusable.
func NewSharedLimits(opts SharedLimitsOptions, publisher *StatusPublisher, log logr.Logger) (*SharedLimits, error) {
	c, err := shared.Connect(shared.ClientOptions{URL: opts.URL, Mode: opts.Mode, Password: opts.Password,
		Timeout: opts.Timeout, PoolSize: opts.PoolSize, CAFile: opts.CAFile})
	if err != nil {
		return nil, fmt.Errorf("shared limits: %w", err)
	}
	// The outage is logged once below; go-redis's own lines (one per failed
	// dial) only at debug level.
	shared.SetLogger(func(msg string) { log.V(1).Info("redis client", "message", msg) })
	s := &SharedLimits{close: c.Close}
	s.backend = shared.NewBackend(c, shared.Options{
		Timeout:       opts.Timeout,
		Replicas:      opts.Replicas,
		ProbeInterval: opts.ProbeInterval,
		OnDegraded: func(degraded bool, err error) {
			if degraded {
				sharedLimitsDegraded.Set(1)
				log.Error(err, "Redis unreachable: serving with local limits at limit/replicas", "replicas", opts.Replicas)
			} else {
				sharedLimitsDegraded.Set(0)
				log.Info("Redis reachable again: limits are shared")
			}
			if publisher != nil {
				publisher.refreshAll()
			}
		},
		OnCallError: func(key string, err error) {
			log.Error(err, "Redis answered an error for one limiter: it serves with local limits at "+
				"limit/replicas until Redis answers it (a corrupt value there heals when the key is deleted)",
				"redisKey", key)
		},
	})
	metricsBackend.Store(s.backend)
	return s, nil
}

// Close stops the background work and closes the connection.
func (s *SharedLimits) Close() error {
	if s == nil {
		return nil
	}
	s.backend.Close()
	return s.close()
}

// factory returns the limiter factory of the pool nn; nil (local limits)
// without shared limits.
func (s *SharedLimits) factory(nn types.NamespacedName) ratelimit.Factory {
	if s == nil {
		return nil
	}
	return s.backend.Factory(nn.Namespace + "/" + nn.Name)
}

// budgets returns where the pool nn keeps its clients' budget spend: Redis
// with shared limits, nil (the pool's memory) without.
func (s *SharedLimits) budgets(nn types.NamespacedName) quota.Store {
	if s == nil {
		return nil
	}
	return s.backend.Budgets(nn.Namespace + "/" + nn.Name)
}

// Degraded reports whether Redis is unreachable.
func (s *SharedLimits) Degraded() bool { return s != nil && s.backend.Degraded() }

// sharedLimitsProblem is the problem a pool reports while Redis is away.
var sharedLimitsProblem = problem{
	reason:  llmv1alpha1.ReasonSharedLimitsUnavailable,
	message: "Redis (shared limits) is unreachable: each replica serves with local limits at limit/replicas",
}

// withSharedLimits adds the shared-limits problem to r, first so that it
// names the Degraded condition, while Redis is unreachable.
func (p *StatusPublisher) withSharedLimits(r report) report {
	if !p.shared.Load().Degraded() {
		return r
	}
	r.problems = append([]problem{sharedLimitsProblem}, r.problems...)
	return r
}

// UseSharedLimits makes the status of every pool say when shared limits
// are unavailable.
func (p *StatusPublisher) UseSharedLimits(s *SharedLimits) { p.shared.Store(s) }

// refreshAll has every pool's status written on the next pass.
func (p *StatusPublisher) refreshAll() {
	p.mu.Lock()
	for _, rec := range p.pools {
		rec.reportDirty = true
	}
	p.mu.Unlock()
	p.poke()
}
