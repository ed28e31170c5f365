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

package upstream

import (
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkRoundTrip is one POST with a 1 KB body and a 1 KB answer over
// loopback, through this transport and net/http's, on a kept-alive
// connection (warm) and on a new one every time (cold: dial, and over TLS
// the handshake, which is what a replica's first requests to a provider
// cost).
func BenchmarkRoundTrip(b *testing.B) {
	answer := strings.Repeat("x", 1024)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, answer)
	})
	body := strings.Repeat("y", 1024)
	for _, tlsOn := range []bool{false, true} {
		srv := httptest.NewUnstartedServer(h)
		name := "http"
		if tlsOn {
			srv.EnableHTTP2 = true
			srv.StartTLS()
			name = "https"
		} else {
			srv.Start()
		}
		roots := x509.NewCertPool()
		if tlsOn {
			roots.AddCert(srv.Certificate())
		}
		transports := map[string]func() roundTripCloser{
			"lean": func() roundTripCloser {
				t := &Transport{}
				if tlsOn {
					t.TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
					t.TLSClientConfig.RootCAs = roots
				}
				return t
			},
			"net-http": func() roundTripCloser {
				t := &http.Transport{DisableCompression: true, ForceAttemptHTTP2: true}
				if tlsOn {
					t.TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
					t.TLSClientConfig.RootCAs = roots
				}
				return t
			},
		}
		for _, tr := range []string{"lean", "net-http"} {
			for _, cold := range []bool{false, true} {
				b.Run(name+"/"+tr+"/"+map[bool]string{false: "warm", true: "cold"}[cold], func(b *testing.B) {
					t := transports[tr]()
					defer t.CloseIdleConnections()
					b.ReportAllocs()
					for b.Loop() {
						if cold {
							t.CloseIdleConnections()
						}
						req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/messages", strings.NewReader(body))
						resp, err := t.RoundTrip(req)
						if err != nil {
							b.Fatal(err)
						}
						if _, err := io.Copy(io.Discard, resp.Body); err != nil {
							b.Fatal(err)
						}
						_ = resp.Body.Close()
					}
				})
			}
		}
		srv.Close()
	}
}

type roundTripCloser interface {
	http.RoundTripper
	CloseIdleConnections()
}
