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

import "strings"

// ParamSet is an allowlist of query parameter names, matched exactly (query
// names are case-sensitive), plus name prefixes for families such as
// metadata[...].
type ParamSet struct {
	names    map[string]struct{}
	prefixes []string
}

// NewParamSet returns the set of names; a name ending in "*" is a prefix.
func NewParamSet(names ...string) ParamSet {
	s := ParamSet{names: make(map[string]struct{}, len(names))}
	for _, n := range names {
		if p, ok := strings.CutSuffix(n, "*"); ok {
			s.prefixes = append(s.prefixes, p)
			continue
		}
		s.names[n] = struct{}{}
	}
	return s
}

// Has reports whether the decoded parameter name k is in the set.
func (s ParamSet) Has(k string) bool {
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
