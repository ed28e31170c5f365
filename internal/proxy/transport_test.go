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
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/keypool-dev/keypool-operator/internal/upstream"
)

func TestNewTransportKinds(t *testing.T) {
	for _, env := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"} {
		t.Setenv(env, "")
	}
	lean, err := NewTransport(TransportLean, nil)
	if _, ok := lean.(*upstream.Transport); err != nil || !ok {
		t.Errorf("lean: %T, %v", lean, err)
	}
	netHTTP, err := NewTransport(TransportNetHTTP, nil)
	if _, ok := netHTTP.(*http.Transport); err != nil || !ok {
		t.Errorf("net/http: %T, %v", netHTTP, err)
	}
	if _, err := NewTransport("h3", nil); err == nil {
		t.Error("an unknown kind was accepted")
	}

	// auto: http:// goes the lean way, https:// net/http's (HTTP/2).
	auto, err := NewTransport(TransportAuto, nil)
	if err != nil {
		t.Fatal(err)
	}
	bs := auto.(byScheme)
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, r.Proto) }))
	defer plain.Close()
	tlsSrv := httptest.NewUnstartedServer(plain.Config.Handler)
	tlsSrv.EnableHTTP2 = true
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	bs.tls.(*http.Transport).TLSClientConfig = tlsSrv.Client().Transport.(*http.Transport).TLSClientConfig
	defer bs.CloseIdleConnections()
	for url, want := range map[string]string{plain.URL: "HTTP/1.1", tlsSrv.URL: "HTTP/2.0"} {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		resp, err := bs.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if string(got) != want {
			t.Errorf("%s: %s, want %s", url, got, want)
		}
	}
	if d := bs.plain.(*upstream.Transport).Dials(); d != 1 {
		t.Errorf("the lean transport dialled %d times, want 1 (the http:// request)", d)
	}

	// An HTTP proxy in the environment: net/http's, whatever the kind.
	t.Setenv("HTTPS_PROXY", "http://proxy.example:3128")
	for _, kind := range []string{TransportAuto, TransportLean} {
		if rt, _ := NewTransport(kind, nil); rt == nil {
			t.Errorf("%s with a proxy: nil", kind)
		} else if _, ok := rt.(*http.Transport); !ok {
			t.Errorf("%s with a proxy: %T, want net/http's", kind, rt)
		}
	}
}
