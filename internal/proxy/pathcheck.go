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

import "strings"

// canonicalRest reports whether a decoded upstream path stays what the
// proxy checked, however the upstream (or a gateway in front of it) reads
// it: canonical (canonicalPath) as decoded once by net/http, and still
// canonical after one more percent-decode, which a server that decodes
// twice performs; so %252e%252e, ..%252f and %255c are refused along with
// .., ..%2f and \.
func canonicalRest(rest string) bool {
	if !canonicalPath(rest) {
		return false
	}
	return strings.IndexByte(rest, '%') < 0 || canonicalPath(unescapeValid(rest))
}

// canonicalPath reports whether p (starting with "/") has no "." or ".."
// segment, no empty segment except a trailing slash's, no backslash (which
// some servers take for a slash) and no control character.
func canonicalPath(p string) bool {
	for i := 0; i < len(p); i++ {
		if c := p[i]; c == '\\' || c < 0x20 || c == 0x7f {
			return false
		}
	}
	// Segment by segment, without splitting: this runs on every request.
	for rest := p[1:]; ; {
		seg, after, more := strings.Cut(rest, "/")
		if seg == "." || seg == ".." || (seg == "" && more) {
			return false
		}
		if !more {
			return true
		}
		rest = after
	}
}

// unescapeValid decodes every well-formed %XX of s and leaves anything else
// as it is, as a lenient server does (url.PathUnescape refuses the whole
// string for one malformed escape).
func unescapeValid(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}
