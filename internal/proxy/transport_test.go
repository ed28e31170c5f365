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
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/apitest"
	"github.com/keypool-dev/keypool-operator/internal/provider"
)

// TestNewTransport: HTTP/2 where the upstream offers it, and no compression
// asked for, so that the usage scanner reads the body as sent.
func TestNewTransport(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Proto+" "+r.Header.Get("Accept-Encoding"))
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	tr := NewTransport(srv.Client().Transport.(*http.Transport).TLSClientConfig)
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if string(got) != "HTTP/2.0 " {
		t.Errorf("the upstream saw %q, want HTTP/2.0 without Accept-Encoding", got)
	}
}

// TestHugeUpstreamHeader: an upstream whose answer has a header line without
// end gets the client a well-formed 502 in the provider's error shape, and
// the proxy stops reading it at MaxResponseHeaderBytes: it holds neither the
// line nor the connection.
func TestHugeUpstreamHeader(t *testing.T) {
	const line = 64 << 20 // what the upstream would send if it were let
	var (
		answers sync.WaitGroup // the upstream's handlers
		hungUp  atomic.Int64   // answers the proxy stopped reading before the end
	)
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answers.Add(1)
		defer answers.Done()
		_, _ = io.Copy(io.Discard, r.Body)
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer func() { _ = conn.Close() }()
		_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Huge: ")
		chunk := bytes.Repeat([]byte("a"), 64<<10)
		for sent := 0; sent < line; sent += len(chunk) {
			if _, err := buf.Write(chunk); err != nil {
				hungUp.Add(1)
				return
			}
		}
	})
	e := newEnv(t, envConfig{upstream: upstream, transport: func(http.RoundTripper) http.RoundTripper {
		tr := NewTransport(nil)
		t.Cleanup(tr.CloseIdleConnections)
		return tr
	}})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	resp := e.post(apitest.AnthropicBody("hello", false))
	body := wantStatus(t, resp, http.StatusBadGateway)
	apitest.WantAnthropicError(t, body, "api_error")
	e.waitIdle()
	runtime.ReadMemStats(&after)
	if got := resp.Header.Get(HeaderAttempts); got != "3" {
		t.Errorf("attempts %q, want 3 (a message is safe to repeat on another key)", got)
	}
	// Each attempt allocates up to the bound and the socket buffers hold a
	// few MiB more; reading the line would have allocated at least 64 MiB
	// per attempt.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 32<<20 {
		t.Errorf("the proxy allocated %d MiB for three answers with a %d MiB header line", alloc>>20, line>>20)
	}
	// Every answer started before the client got its 502; a handler the
	// proxy did not hang up on would write the whole line.
	done := make(chan struct{})
	go func() { answers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatal("the upstream is still writing its header line")
	}
	if n := hungUp.Load(); n != 3 {
		t.Errorf("the proxy hung up on %d of 3 answers, want all", n)
	}
}

// TestNoResendOfASentRequest: net/http's transport resends a POST that
// carries an Idempotency-Key when a reused connection breaks after the
// request went out (OpenAI's SDKs send one with every POST). A request
// that is not safe to repeat (a stored response) still reaches the
// upstream once, and the client gets a 502.
func TestNoResendOfASentRequest(t *testing.T) {
	var created atomic.Int64
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/v1/chat/completions" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"usage":{"prompt_tokens":1,"completion_tokens":1}}`)
			return
		}
		created.Add(1)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		_ = conn.Close() // the request was read, maybe acted on; no answer
	})
	e := newEnv(t, envConfig{provider: provider.OpenAI, upstream: upstream, maxAttempts: 1})
	header := map[string]string{"Authorization": "Bearer " + clientToken, "Content-Type": "application/json"}
	// The first request leaves its upstream connection idle for the second.
	wantStatus(t, e.do(t.Context(), http.MethodPost, "/v1/chat/completions", `{"model":"m","messages":[]}`, header),
		http.StatusOK)
	header["Idempotency-Key"] = "stainless-retry-1"
	resp := e.do(t.Context(), http.MethodPost, "/v1/responses", `{"model":"m","input":"hi"}`, header)
	wantStatus(t, resp, http.StatusBadGateway)
	e.waitIdle()
	if n := created.Load(); n != 1 {
		t.Errorf("the upstream saw the request %d times, want once", n)
	}
}
