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

package fakeprovider

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestTLSOffersHTTP2AndCountsHandshakes: a client trusting the certificate
// speaks HTTP/2 to the provider, and reused connections add no handshake.
func TestTLSOffersHTTP2AndCountsHandshakes(t *testing.T) {
	p := New(Config{Keys: []Key{{Key: "k1", Org: "o1"}}})
	cfg, certPEM, err := p.TLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(p)
	srv.TLS, srv.EnableHTTP2 = cfg, true
	srv.StartTLS()
	defer srv.Close()

	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(certPEM) {
		t.Fatal("certificate PEM does not parse")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	for range 5 {
		resp, err := client.Get(srv.URL + "/_fake/stats")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Fatalf("protocol %s, want HTTP/2", resp.Proto)
		}
	}
	if got := p.Stats().TLSHandshakes; got != 1 {
		t.Errorf("TLS handshakes = %d after 5 requests on one connection, want 1", got)
	}
}
