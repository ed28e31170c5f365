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

package keypool

import (
	"crypto/sha256"
	"fmt"
	"net/url"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/clock"
	"github.com/keypool-dev/keypool-operator/internal/quota"
	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
)

// KeyConfig is one key of a pool.
type KeyConfig struct {
	ID        string // "secret/dataKey": the only name a key has outside the pool
	APIKey    string // the secret value; never logged
	RPMLimit  int64  // requests per minute; 0 = unknown until learned from headers
	ITPMLimit int64  // input tokens per minute; 0 = unknown
	OTPMLimit int64  // output tokens per minute; 0 = unknown
	Priority  int    // higher tiers are used first
	Weight    int    // for StrategyWeighted; <=0 means 1
	// LimitGroup: keys with the same non-empty group share one limiter set.
	// When their configured limits differ, each dimension takes the lowest
	// configured (non-zero) value among them.
	LimitGroup string
}

// limits returns the configured limits as ratelimit amounts.
func (c *KeyConfig) limits() ratelimit.Amounts {
	return ratelimit.Amounts{
		ratelimit.Requests:     c.RPMLimit,
		ratelimit.InputTokens:  c.ITPMLimit,
		ratelimit.OutputTokens: c.OTPMLimit,
	}
}

func (c *KeyConfig) weight() int64 {
	if c.Weight <= 0 {
		return 1
	}
	return int64(c.Weight)
}

// Access holds how the proxy exposes a pool. The engine only stores it and
// swaps it atomically on Update.
type Access struct {
	Upstream          *url.URL
	ClientTokenHashes [][sha256.Size]byte // sha256 of each accepted client token
	// ClientNames[i] names the client holding the token hashed in
	// ClientTokenHashes[i] (its Secret data key); absent or empty means an
	// unnamed client. Names are what accounting, metrics and the fair share
	// are keyed by; a token never is.
	ClientNames          []string
	AllowUnauthenticated bool
	MaxAttempts          int // keys tried per request; <=0 means 1
	// PassThroughPaths are upstream path prefixes forwarded as they are, to
	// any key, without the proxy's object checks (spec.passThroughPaths).
	PassThroughPaths []string
}

// PoolConfig configures a pool; NewKeyPool and Update take it.
type PoolConfig struct {
	Strategy     Strategy // "" means StrategyLeastLoaded
	Keys         []KeyConfig
	QueueTimeout time.Duration // how long Acquire may wait for capacity
	// MaxWaiters bounds how many Acquire calls may wait for capacity at
	// once; an Acquire that would wait beyond it fails at once with
	// ErrQueueFull. Every waiter holds its request (body included) for up
	// to QueueTimeout, so an unbounded queue is unbounded memory. 0 means
	// DefaultMaxWaiters.
	MaxWaiters int
	// Clients are the named clients' weights and waiter caps. A client
	// named only in Access.ClientNames has weight 1.
	Clients []ClientConfig
	Access  Access
	// ModelClasses declare which models share one class of limits, and
	// optionally the class's limits; any other model gets a class of its
	// own, learned from the provider's headers (see MaxLearnedClasses).
	ModelClasses []ModelClass
	// Affinity routes requests with the same AcquireOptions.Affinity to
	// the limit group that served it last while that group has capacity,
	// so that the provider's per-organisation prompt cache is hit.
	Affinity bool
	// AffinityEntries bounds how many affinity values the pool remembers
	// (least recently used first out); 0 means DefaultAffinityEntries.
	AffinityEntries int
	// Clock is nil for the wall clock. It is fixed when the pool is created;
	// Update ignores it. A clock that implements clock.TimerClock also times
	// queued waits.
	Clock clock.Clock
	// NewLimiter makes the limiter of every key and limit group; nil means
	// ratelimit.LocalFactory (this process's memory). A shared factory (see
	// shared.Backend) makes replicas share limits: it is called with
	// "key/<key ID>" or "group/<limit group>", which name the same capacity
	// in every replica. It is fixed when the pool is created; Update ignores
	// it.
	NewLimiter ratelimit.Factory
	// Budgets keeps the clients' budget spend where every replica counts
	// it (shared.Backend.Budgets); nil keeps it in this process. It
	// is fixed when the pool is created; Update ignores it.
	Budgets quota.Store
	// OnTransition is optional. It is called without the pool's lock held,
	// one call at a time and in order, so it may call back into the pool;
	// it should return quickly, since the goroutine that caused the
	// transition (often a request) delivers it.
	OnTransition func(Transition)
}

// validate checks cfg and returns its strategy with the default applied.
func (cfg *PoolConfig) validate() (Strategy, error) {
	strategy := cfg.Strategy
	if strategy == "" {
		strategy = StrategyLeastLoaded
	}
	if !strategy.valid() {
		return "", fmt.Errorf("%w: unknown strategy %q", ErrInvalidConfig, string(cfg.Strategy))
	}
	if len(cfg.Keys) == 0 {
		return "", fmt.Errorf("%w: no keys", ErrInvalidConfig)
	}
	if cfg.MaxWaiters < 0 {
		return "", fmt.Errorf("%w: negative max waiters %d", ErrInvalidConfig, cfg.MaxWaiters)
	}
	if cfg.QueueTimeout < 0 {
		return "", fmt.Errorf("%w: negative queue timeout %s", ErrInvalidConfig, cfg.QueueTimeout)
	}
	names := make(map[string]struct{}, len(cfg.Clients))
	for i := range cfg.Clients {
		c := &cfg.Clients[i]
		if c.Name == "" {
			return "", fmt.Errorf("%w: client %d has an empty name", ErrInvalidConfig, i)
		}
		if _, dup := names[c.Name]; dup {
			return "", fmt.Errorf("%w: duplicate client %q", ErrInvalidConfig, c.Name)
		}
		if c.MaxWaiters < 0 {
			return "", fmt.Errorf("%w: client %q: negative max waiters %d", ErrInvalidConfig, c.Name, c.MaxWaiters)
		}
		if err := c.Quota.Validate(); err != nil {
			return "", fmt.Errorf("%w: client %q: negative quota", ErrInvalidConfig, c.Name)
		}
		names[c.Name] = struct{}{}
	}
	if err := validateClasses(cfg.ModelClasses); err != nil {
		return "", err
	}
	seen := make(map[string]struct{}, len(cfg.Keys))
	for i := range cfg.Keys {
		k := &cfg.Keys[i]
		if k.ID == "" {
			return "", fmt.Errorf("%w: key %d has an empty ID", ErrInvalidConfig, i)
		}
		if _, dup := seen[k.ID]; dup {
			return "", fmt.Errorf("%w: duplicate key ID %q", ErrInvalidConfig, k.ID)
		}
		seen[k.ID] = struct{}{}
		if k.APIKey == "" {
			return "", fmt.Errorf("%w: key %q has an empty APIKey", ErrInvalidConfig, k.ID)
		}
		if err := ratelimit.ValidateLimits(k.limits()); err != nil {
			return "", fmt.Errorf("%w: key %q: %w", ErrInvalidConfig, k.ID, err)
		}
	}
	return strategy, nil
}

// validateClasses checks the declared model classes.
func validateClasses(classes []ModelClass) error {
	names := make(map[string]struct{}, len(classes))
	for i := range classes {
		c := &classes[i]
		if c.Name == "" || c.Name == DefaultClass || c.Name == OverflowClass {
			return fmt.Errorf("%w: model class %d: the name %q is empty or reserved", ErrInvalidConfig, i, c.Name)
		}
		if _, dup := names[c.Name]; dup {
			return fmt.Errorf("%w: duplicate model class %q", ErrInvalidConfig, c.Name)
		}
		names[c.Name] = struct{}{}
		if err := ratelimit.ValidateLimits(c.limits()); err != nil {
			return fmt.Errorf("%w: model class %q: %w", ErrInvalidConfig, c.Name, err)
		}
	}
	return nil
}
