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

// Strategy names how a key is chosen within the highest priority tier that has capacity.
type Strategy string

const (
	// StrategyLeastLoaded picks the key whose limit group the request costs
	// the least share of a limit, among those with capacity (see fit.go),
	// and, without known limits or with more than 32 groups in a tier, the
	// key with the highest remaining share of its limits (the lowest share
	// across its known dimensions), breaking ties in turn; keys with no
	// known limits are always tied, so they are used in turn.
	StrategyLeastLoaded Strategy = "least-loaded"
	// StrategyRoundRobin takes the keys in configuration order, skipping
	// keys without capacity.
	StrategyRoundRobin Strategy = "round-robin"
	// StrategyRandom picks uniformly at random among keys with capacity.
	StrategyRandom Strategy = "random"
	// StrategyWeighted is nginx's smooth weighted round-robin over the
	// weights of the keys with capacity.
	StrategyWeighted Strategy = "weighted"
)

func (s Strategy) valid() bool {
	switch s {
	case StrategyLeastLoaded, StrategyRoundRobin, StrategyRandom, StrategyWeighted:
		return true
	}
	return false
}

// KeySelector chooses keys within one priority tier. A pool holds one per
// tier, made for its Strategy; every call happens under the pool's lock, so
// implementations need no locking. The interface is sealed: its methods work
// on the pool's internal records.
type KeySelector interface {
	// Strategy names the selector.
	Strategy() Strategy
	// pick reserves capacity on a key of the tier through a.trySlot or
	// a.tryKey and returns it, trying the keys in the strategy's order.
	// When it returns nil, complete reports whether every key of the tier
	// was tried; if not, the pool tries the rest.
	pick(a *attempt) (k *keyMetadata, complete bool)
	// changed tells the selector that s's limiter outlook (k nil) or the
	// usability of s's key k changed at now.
	changed(s *slot, k *keyMetadata, now int64)
}

// newSelector returns the selector for strategy over t.
func newSelector(strategy Strategy, t *tier) KeySelector {
	switch strategy {
	case StrategyRoundRobin:
		return &roundRobin{t: t}
	case StrategyRandom:
		return &random{t: t}
	case StrategyWeighted:
		return newWeighted(t)
	}
	return newLeastLoaded(t)
}
