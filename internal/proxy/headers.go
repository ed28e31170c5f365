package proxy

import (
	"net/http"
	"net/textproto"
	"strings"
)

// isHopByHop reports the fields that describe one connection rather than the
// message (RFC 9110 §7.6.1, plus the historic Keep-Alive and Proxy-Connection
// that net/http/httputil also drops). Keys are canonical.
func isHopByHop(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// connectionListed reports whether k is named in a Connection header, which
// makes it hop-by-hop too.
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

// outboundHeader builds the upstream request's header from the client's: the
// end-to-end fields pass through (value slices are shared, not copied), while
// hop-by-hop fields and the client's credentials are dropped.
//
// Accept-Encoding is dropped too, so that the upstream answers uncompressed:
// the usage scanner reads the body as it passes and streams must be flushed
// event by event (the default transport also disables compression).
func outboundHeader(in http.Header) http.Header {
	conn := in["Connection"]
	out := make(http.Header, len(in)+1)
	for k, v := range in {
		switch k {
		case "X-Api-Key", "Authorization", "Accept-Encoding", "Content-Length", "Host", "Expect":
			// Expect: 100-continue negotiates the client's hop; the body is
			// already here, and forwarding it would delay every attempt.
			continue
		}
		if isHopByHop(k) || (conn != nil && connectionListed(conn, k)) {
			continue
		}
		out[k] = v
	}
	if _, ok := out["User-Agent"]; !ok {
		// Keep net/http from adding its own User-Agent: the proxy is transparent.
		out["User-Agent"] = emptyValue
	}
	return out
}

var emptyValue = []string{""}

// copyResponseHeader copies the upstream response's end-to-end fields to the
// client's response.
func copyResponseHeader(dst, src http.Header) {
	conn := src["Connection"]
	for k, v := range src {
		if isHopByHop(k) || (conn != nil && connectionListed(conn, k)) {
			continue
		}
		dst[k] = v
	}
}
