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
