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

import "net/http"

// HeaderAuth returns a RoundTripper that sends every request over base with
// value in the canonical header name: the Authenticate of an API that takes
// its key in a header.
//
// The header value is made once, here, so that an attempt costs no
// allocation: the proxy builds one RoundTripper per key value and reuses it
// (proxy.keyTransports). For the same reason RoundTrip sets the header on
// the request it is given rather than on a copy, which http.RoundTripper's
// contract asks for: every request the proxy sends upstream (an attempt, a
// key check) is made for that one send and seen by nothing else, and a
// copy of the request and its header would cost several allocations per
// attempt. Wrap it around such requests only.
func HeaderAuth(base http.RoundTripper, name, value string) http.RoundTripper {
	return &headerAuth{base: base, name: http.CanonicalHeaderKey(name), value: []string{value}}
}

type headerAuth struct {
	base  http.RoundTripper
	name  string
	value []string // shared by every request: the transport only reads it
}

// RoundTrip implements http.RoundTripper.
func (a *headerAuth) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header == nil {
		r.Header = http.Header{}
	}
	r.Header[a.name] = a.value
	return a.base.RoundTrip(r)
}

// CloseIdleConnections closes base's idle connections, so that
// http.Client.CloseIdleConnections reaches through.
func (a *headerAuth) CloseIdleConnections() {
	if c, ok := a.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
