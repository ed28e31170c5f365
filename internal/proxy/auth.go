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
	"net/url"
	"strings"

	"github.com/keypool-dev/keypool-operator/internal/keypool"
)

// clientTokenHeaders are the headers the official SDKs put their API key in,
// and so where their users put a pool's client token: Anthropic's x-api-key,
// Azure OpenAI's api-key and Gemini's x-goog-api-key. (OpenAI's is the
// Authorization bearer token.) None of them is ever forwarded.
var clientTokenHeaders = [...]string{"X-Api-Key", "Api-Key", "X-Goog-Api-Key"}

// authenticate reports whether the request carries one of the pool's client
// tokens, in one of clientTokenHeaders, in Authorization: Bearer, or in the
// key query parameter (Google's API-key parameter, which some Gemini
// clients use; the proxy never forwards it, see upstreamQuery), and names
// its client (acc.ClientNames; empty for an unnamed token or an open pool).
// Any of them may match. Only sha256 hashes of the tokens are stored,
// compared in constant time against every entry, so neither the token nor
// its position in the list leaks through timing. The name is a string the
// pool already holds: nothing is allocated for it.
func authenticate(acc *keypool.Access, h http.Header, rawQuery string) (client string, ok bool) {
	if acc.AllowUnauthenticated {
		return "", true
	}
	if len(acc.ClientTokenHashes) == 0 {
		return "", false
	}
	i := -1
	for _, name := range clientTokenHeaders {
		if t := h.Get(name); i < 0 && t != "" {
			i = tokenIndex(acc.ClientTokenHashes, t)
		}
	}
	if t, found := bearerToken(h.Get("Authorization")); i < 0 && found {
		i = tokenIndex(acc.ClientTokenHashes, t)
	}
	if t, found := queryKey(rawQuery); i < 0 && found {
		i = tokenIndex(acc.ClientTokenHashes, t)
	}
	if i < 0 {
		return "", false
	}
	if i < len(acc.ClientNames) {
		client = acc.ClientNames[i]
	}
	return client, true
}

// keyParam is Google's API-key query parameter.
const keyParam = "key"

// queryKey returns the value of the key query parameter, without parsing a
// query that has none.
func queryKey(rawQuery string) (string, bool) {
	if !mayHoldKey(rawQuery) {
		return "", false
	}
	q, _ := url.ParseQuery(rawQuery) // a malformed pair is skipped, the rest kept
	t := q.Get(keyParam)
	return t, t != ""
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
