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
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/keypool-dev/keypool-operator/internal/keypool"
)

// authenticate reports whether the request carries one of the pool's client
// tokens, in x-api-key (Anthropic SDKs) or Authorization: Bearer (OpenAI
// SDKs), and names its client (acc.ClientNames; empty for an unnamed token
// or an open pool). Either header may match. Only sha256 hashes of the
// tokens are stored, compared in constant time against every entry, so
// neither the token nor its position in the list leaks through timing. The
// name is a string the pool already holds: nothing is allocated for it.
func authenticate(acc *keypool.Access, h http.Header) (client string, ok bool) {
	if acc.AllowUnauthenticated {
		return "", true
	}
	if len(acc.ClientTokenHashes) == 0 {
		return "", false
	}
	i := -1
	if t := h.Get("X-Api-Key"); t != "" {
		i = tokenIndex(acc.ClientTokenHashes, t)
	}
	if i < 0 {
		if t, found := bearerToken(h.Get("Authorization")); found {
			i = tokenIndex(acc.ClientTokenHashes, t)
		}
	}
	if i < 0 {
		return "", false
	}
	if i < len(acc.ClientNames) {
		client = acc.ClientNames[i]
	}
	return client, true
}

// bearerToken returns the credentials of an "Authorization: Bearer" value.
// The scheme is case-insensitive (RFC 9110 §11.1).
func bearerToken(v string) (string, bool) {
	const scheme = "bearer "
	if len(v) <= len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return "", false
	}
	t := strings.TrimSpace(v[len(scheme):])
	return t, t != ""
}

// tokenIndex returns the index of token's hash in hashes, or -1. Every
// entry is compared, and the index chosen without a branch on the result.
func tokenIndex(hashes [][sha256.Size]byte, token string) int {
	sum := sha256.Sum256([]byte(token))
	idx := -1
	for i := range hashes {
		idx = subtle.ConstantTimeSelect(subtle.ConstantTimeCompare(sum[:], hashes[i][:]), i, idx)
	}
	return idx
}
