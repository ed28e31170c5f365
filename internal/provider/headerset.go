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

package provider

import (
	"net/http"
	"strings"
)

// HeaderSet is an allowlist of header names, matched in canonical form:
// exact names plus name prefixes (for families such as X-Stainless-*).
type HeaderSet struct {
	names    map[string]struct{}
	prefixes []string
}

// NewHeaderSet returns the set of names; a name ending in "*" is a prefix.
func NewHeaderSet(names ...string) HeaderSet {
	s := HeaderSet{names: make(map[string]struct{}, len(names))}
	for _, n := range names {
		if p, ok := strings.CutSuffix(n, "*"); ok {
			s.prefixes = append(s.prefixes, http.CanonicalHeaderKey(p))
			continue
		}
		s.names[http.CanonicalHeaderKey(n)] = struct{}{}
	}
	return s
}

// Has reports whether the canonical header name k is in the set.
func (s HeaderSet) Has(k string) bool {
	if _, ok := s.names[k]; ok {
		return true
	}
	for _, p := range s.prefixes {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}
