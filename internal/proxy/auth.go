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

// authorized reports whether the request carries one of the pool's client
// tokens, in x-api-key (Anthropic SDKs) or Authorization: Bearer (OpenAI
// SDKs). Either header may match. Only sha256 hashes of the tokens are
// stored, compared in constant time against every entry, so neither the
// token nor its position in the list leaks through timing.
func authorized(acc *keypool.Access, h http.Header) bool {
	if acc.AllowUnauthenticated {
		return true
	}
	if len(acc.ClientTokenHashes) == 0 {
		return false
	}
	ok := false
	if t := h.Get("X-Api-Key"); t != "" {
		ok = tokenMatches(acc.ClientTokenHashes, t)
	}
	if !ok {
		if t, found := bearerToken(h.Get("Authorization")); found {
			ok = tokenMatches(acc.ClientTokenHashes, t)
		}
	}
	return ok
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

func tokenMatches(hashes [][sha256.Size]byte, token string) bool {
	sum := sha256.Sum256([]byte(token))
	match := 0
	for i := range hashes {
		match |= subtle.ConstantTimeCompare(sum[:], hashes[i][:])
	}
	return match == 1
}
