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

package controller

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"strings"

	"github.com/keypool-dev/keypool-operator/internal/provider"
)

// DefaultAllowedUpstreams are the origins allowed when the cluster admin
// names none: the built-in providers' official APIs, Bedrock's and Vertex
// AI's in every region, and Google's token endpoint, where Vertex
// service accounts get their access tokens (Azure OpenAI has none: each
// resource has its own endpoint, which the admin allows by name).
var DefaultAllowedUpstreams = provider.Anthropic.DefaultUpstream() + "," + provider.OpenAI.DefaultUpstream() +
	"," + provider.Gemini.DefaultUpstream() +
	",https://bedrock-runtime.*.amazonaws.com,https://bedrock.*.amazonaws.com" +
	"," + provider.Vertex.DefaultUpstream() + ",https://*-aiplatform.googleapis.com,https://oauth2.googleapis.com"

// The schemes an upstream may have.
const (
	schemeHTTP  = "http"
	schemeHTTPS = "https"
)

// origin is what an allowed upstream is compared on: the scheme, host and
// port, normalised (lowercase, the scheme's default port spelled out).
type origin struct {
	scheme, host, port string
}

// UpstreamAllowlist is the set of upstream origins the cluster admin allows
// KeyPools to send keys to. A KeyPool author chooses among them, never beyond:
// the keys and the clients' requests go only where the admin said.
type UpstreamAllowlist struct {
	origins map[origin]struct{}
	// patterns are origins whose host has a "*" in a label, matching any
	// run of characters within that one label (bedrock-runtime.*.amazonaws.com,
	// *-aiplatform.googleapis.com: a cloud's regional endpoints).
	patterns []origin
}

// ParseAllowedUpstreams parses a comma-separated list of origins such as
// "https://api.anthropic.com,http://127.0.0.1:9090". An entry is a scheme,
// a host and an optional port; a path, query or user is an error, so that
// an entry never looks narrower than what it allows. A "*" in a host label
// matches within that label only, never across a dot.
func ParseAllowedUpstreams(list string) (*UpstreamAllowlist, error) {
	a := &UpstreamAllowlist{origins: map[origin]struct{}{}}
	for _, raw := range strings.Split(list, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("allowed upstream %q: %w", raw, err)
		}
		if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil || u.Opaque != "" {
			return nil, fmt.Errorf("allowed upstream %q: want an origin (scheme://host[:port]), without path, query or user", raw)
		}
		o, err := originOf(u)
		if err != nil {
			return nil, fmt.Errorf("allowed upstream %q: %w", raw, err)
		}
		if strings.Contains(o.host, "*") {
			a.patterns = append(a.patterns, o)
			continue
		}
		a.origins[o] = struct{}{}
	}
	if len(a.origins)+len(a.patterns) == 0 {
		return nil, fmt.Errorf("no allowed upstream in %q", list)
	}
	return a, nil
}

// Allows reports whether u's origin is allowed. Any path below an allowed
// origin is allowed; a URL with a user is not (it would send credentials
// nobody vetted).
func (a *UpstreamAllowlist) Allows(u *url.URL) bool {
	if u == nil || u.User != nil {
		return false
	}
	o, err := originOf(u)
	if err != nil {
		return false
	}
	if _, ok := a.origins[o]; ok {
		return true
	}
	for _, p := range a.patterns {
		if p.scheme == o.scheme && p.port == o.port && hostMatches(p.host, o.host) {
			return true
		}
	}
	return false
}

// hostMatches reports whether host matches pattern label by label (the same
// number of labels; "*" within a label matches any characters of it).
func hostMatches(pattern, host string) bool {
	pl, hl := strings.Split(pattern, "."), strings.Split(host, ".")
	if len(pl) != len(hl) {
		return false
	}
	for i := range pl {
		if ok, err := path.Match(pl[i], hl[i]); !ok || err != nil {
			return false
		}
	}
	return true
}

// originOf normalises u's scheme, host and port.
func originOf(u *url.URL) (origin, error) {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	switch {
	case scheme != schemeHTTP && scheme != schemeHTTPS:
		return origin{}, fmt.Errorf("scheme %q is not http or https", u.Scheme)
	case port == "" && scheme == schemeHTTPS:
		port = "443"
	case port == "":
		port = "80"
	}
	// A trailing dot names the same host (a fully qualified name).
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "" {
		return origin{}, fmt.Errorf("no host")
	}
	if ip := net.ParseIP(host); ip != nil {
		host = ip.String() // one spelling per address (::1, 0:0::1)
	}
	return origin{scheme: scheme, host: host, port: strings.TrimLeft(port, "0")}, nil
}
