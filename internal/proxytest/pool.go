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

package proxytest

import (
	"crypto/sha256"
	"fmt"
	"net/url"

	"github.com/keypool-dev/keypool-operator/internal/keypool"
)

// Access is a pool's access to upstream for clients holding one of tokens,
// with up to maxAttempts keys tried per request. No token means every
// client is let in.
func Access(upstream *url.URL, maxAttempts int, tokens ...string) keypool.Access {
	a := keypool.Access{Upstream: upstream, MaxAttempts: maxAttempts, AllowUnauthenticated: len(tokens) == 0}
	for _, t := range tokens {
		a.ClientTokenHashes = append(a.ClientTokenHashes, sha256.Sum256([]byte(t)))
	}
	return a
}

// KeyID is the ID of the n-th (1-based) key Keys builds.
func KeyID(n int) string { return fmt.Sprintf("keys/k%d", n) }

// Keys returns one key config per value, keys/k1 first: with tiered, each
// key its own priority tier with keys/k1 highest (so failover order is
// fixed); otherwise one tier.
func Keys(values []string, tiered bool) []keypool.KeyConfig {
	out := make([]keypool.KeyConfig, len(values))
	for i, v := range values {
		out[i] = keypool.KeyConfig{ID: KeyID(i + 1), APIKey: v}
		if tiered {
			out[i].Priority = len(values) - 1 - i
		}
	}
	return out
}
