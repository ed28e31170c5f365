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
	"net/http"
	"net/url"
	"strings"

	"github.com/keypool-dev/keypool-operator/internal/provider"
)

// poolPrefix starts every proxied path: /pools/{namespace}/{name}/v1/...
const poolPrefix = "/pools/"

// route is where a request goes, parsed from its path without allocating:
// all strings are slices of the request's path.
type route struct {
	namespace string
	name      string
	rest      string // "/v1/..." decoded, as the pool's upstream will see it
	rawRest   string // the same, still escaped; "" when the path had no escapes
}

// parseRoute splits r's path into pool and upstream path. ok is false when
// the path is not /pools/{ns}/{name}/..., which is answered with 404. The
// caller still checks validRest, so that an unknown pool is reported as such
// even for a bad path.
func parseRoute(r *http.Request) (rt route, ok bool) {
	rt.namespace, rt.name, rt.rest, ok = splitPoolPath(r.URL.Path)
	if !ok {
		return rt, false
	}
	if r.URL.RawPath != "" {
		// The path had escapes that must reach the upstream as sent (e.g. an
		// encoded slash in an ID); split the escaped form the same way.
		if _, _, raw, rawOK := splitPoolPath(r.URL.RawPath); rawOK {
			rt.rawRest = raw
		}
	}
	return rt, true
}

// splitPoolPath splits "/pools/ns/name/rest" into ns, name and "/rest".
func splitPoolPath(p string) (ns, name, rest string, ok bool) {
	if !strings.HasPrefix(p, poolPrefix) {
		return "", "", "", false
	}
	p = p[len(poolPrefix):]
	i := strings.IndexByte(p, '/')
	if i <= 0 {
		return "", "", "", false
	}
	ns, p = p[:i], p[i+1:]
	j := strings.IndexByte(p, '/')
	if j <= 0 {
		return "", "", "", false
	}
	return ns, p[:j], p[j:], true
}

// validRest reports whether rest may be forwarded: only the provider's API
// (provider.APIRoots), in a canonical form that no upstream could resolve to
// a path outside it (canonicalRest).
func validRest(rest string, prov provider.Provider) bool {
	root := false
	for _, r := range provider.APIRoots(prov) {
		root = root || strings.HasPrefix(rest, r)
	}
	return root && canonicalRest(rest)
}

// upstreamURL is the pool's upstream base joined with the request's path and
// query (see upstreamQuery). The base path (e.g. a gateway prefix) is kept.
func upstreamURL(base *url.URL, rt *route, rawQuery string, prov provider.Provider) url.URL {
	u := *base
	u.RawQuery = upstreamQuery(rawQuery, prov)
	u.Fragment, u.RawFragment = "", ""
	bp := strings.TrimSuffix(base.Path, "/")
	u.Path = bp + rt.rest
	if rt.rawRest != "" {
		u.RawPath = strings.TrimSuffix(base.EscapedPath(), "/") + rt.rawRest
	} else if base.RawPath != "" {
		u.RawPath = strings.TrimSuffix(base.RawPath, "/") + rt.rest
	}
	return u
}

// mayHoldKey reports whether a query may have a key parameter: it has
// "key" or an escape (a name may be spelled %6Bey). Most queries have
// neither and are passed on without being parsed.
func mayHoldKey(rawQuery string) bool {
	return strings.Contains(rawQuery, keyParam) || strings.IndexByte(rawQuery, '%') >= 0
}

// upstreamQuery is the client's query with only the parameters the
// provider's API documents (prov.ForwardsQueryParam), each as sent. The key
// parameter never goes, whatever the provider says: it is a client's
// credential (a client token, or its own Google API key), as its credential
// headers are; the pool key goes in the provider's header. A pair with a
// semicolon goes neither: some servers split on it, which would let a
// parameter ride in an allowed one's value. A query that is all allowed is
// passed on as sent, without allocating.
func upstreamQuery(rawQuery string, prov provider.Provider) string {
	if rawQuery == "" {
		return ""
	}
	all := true
	for pair := range strings.SplitSeq(rawQuery, "&") {
		all = all && forwardsPair(pair, prov)
	}
	if all {
		return rawQuery
	}
	kept := make([]string, 0, strings.Count(rawQuery, "&")+1)
	for pair := range strings.SplitSeq(rawQuery, "&") {
		if forwardsPair(pair, prov) {
			kept = append(kept, pair)
		}
	}
	return strings.Join(kept, "&")
}

// forwardsPair reports whether one name=value pair of a query may go
// upstream. The name is compared decoded, as the upstream reads it (%6Bey is
// key); one that does not decode goes nowhere.
func forwardsPair(pair string, prov provider.Provider) bool {
	if pair == "" || strings.IndexByte(pair, ';') >= 0 {
		return false
	}
	name, _, _ := strings.Cut(pair, "=")
	n, err := url.QueryUnescape(name)
	return err == nil && n != keyParam && prov.ForwardsQueryParam(n)
}
