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
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"golang.org/x/oauth2/google"
)

// A credential that is more than a header value (an AWS key pair with its
// region, a Google service-account key) is one Secret data entry holding a
// JSON object; its RoundTripper parses it once. Nothing of it ever goes
// into an error, a log or an answer: a credential the RoundTripper cannot
// use is answered, without reaching the upstream, with the provider's own
// "credential refused" error, so the pool re-checks and retires the key as
// it would a key the provider refused.

// validRegion reports whether s may name a cloud region: it becomes part of
// an upstream host name, so only lowercase letters, digits and dashes.
func validRegion(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// localAnswer is a response the RoundTripper makes itself, for r, with a
// JSON body.
func localAnswer(r *http.Request, status int, h http.Header, body []byte) *http.Response {
	if h == nil {
		h = http.Header{}
	}
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	return &http.Response{
		Status: strconv.Itoa(status) + " " + http.StatusText(status), StatusCode: status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: r,
	}
}

// closeBody closes a request body the RoundTripper does not send, as
// http.RoundTripper's contract asks.
func closeBody(r *http.Request) {
	if r.Body != nil {
		_ = r.Body.Close()
	}
}

// closeIdle closes base's idle connections, so that
// http.Client.CloseIdleConnections reaches through a credential's
// RoundTripper.
func closeIdle(base http.RoundTripper) {
	if c, ok := base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// CredentialURL is where a pool entry of p sends the credential itself
// rather than requests (a service-account key's token endpoint), so that
// the operator can hold it to the upstreams the cluster admin allows; ok is
// false for a provider whose credentials go nowhere else.
func CredentialURL(p Provider, value string) (*url.URL, bool) {
	if p != Vertex {
		return nil, false
	}
	var k struct {
		TokenURI string `json:"token_uri"`
	}
	_ = json.Unmarshal([]byte(value), &k)
	if k.TokenURI == "" {
		k.TokenURI = google.Endpoint.TokenURL // what x/oauth2/google uses then
	}
	u, err := url.Parse(k.TokenURI)
	if err != nil {
		return &url.URL{Scheme: "invalid"}, true
	}
	return u, true
}
