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
	"net/textproto"
	"strings"

	"github.com/keypool-dev/keypool-operator/internal/provider"
)

// connectionListed reports whether k is named in a Connection header, which
// makes it hop-by-hop even when the provider's allowlist has it.
func connectionListed(conn []string, k string) bool {
	for _, v := range conn {
		for f := range strings.SplitSeq(v, ",") {
			if f = textproto.TrimString(f); f != "" && strings.EqualFold(f, k) {
				return true
			}
		}
	}
	return false
}

// outboundHeader builds the upstream request's header from the client's:
// only the fields the provider's API reads pass (value slices are shared,
// not copied). The client is untrusted, so everything else stays here: its
// credentials, hop-by-hop fields, headers that would pick another account
// for the pool's key (OpenAI-Organization), and whatever it made up.
//
// Accept-Encoding is never on an allowlist, so the upstream answers
// uncompressed: the usage scanner reads the body as it passes and streams
// must be flushed event by event.
func outboundHeader(in http.Header, prov provider.Provider) http.Header {
	conn := in["Connection"]
	out := make(http.Header, 8)
	for k, v := range in {
		if prov.ForwardsRequestHeader(k) && (conn == nil || !connectionListed(conn, k)) {
			out[k] = v
		}
	}
	if _, ok := out["User-Agent"]; !ok {
		// Keep net/http from adding its own User-Agent: the proxy is transparent.
		out["User-Agent"] = emptyValue
	}
	return out
}

var emptyValue = []string{""}

// copyResponseHeader copies the upstream response's fields that the
// provider's allowlist lets back to the client: not the key's organization,
// project or rate-limit headers, nor cookies. The upstream's Date goes on
// too, as an intermediary passes it (RFC 9110 section 6.6.1): net/http then
// formats no date of its own, which it would do at the deepest point of a
// stream's call stack, growing the stack every held stream keeps.
func copyResponseHeader(dst, src http.Header, prov provider.Provider) {
	conn := src["Connection"]
	for k, v := range src {
		if (k == "Date" || prov.ForwardsResponseHeader(k)) && (conn == nil || !connectionListed(conn, k)) {
			dst[k] = v
		}
	}
}
