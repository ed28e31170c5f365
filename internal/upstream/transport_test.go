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
	"bufio"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// get sends a request through tr and returns the status and body.
func get(t *testing.T, tr http.RoundTripper, method, url, body string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	_ = resp.Body.Close()
	return resp, string(b)
}

// countingServer starts srv's handler with a count of accepted connections.
func countingServer(t *testing.T, h http.Handler, tlsOn bool) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	if tlsOn {
		srv.EnableHTTP2 = true // offered; the transport must choose HTTP/1.1
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv, &conns
}

func TestRoundTripReusesOneConnection(t *testing.T) {
	srv, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["anthropic-ratelimit-requests-remaining"] = []string{"41"} // sent lower-case
		w.Header().Add("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		_, _ = io.WriteString(w, r.Method+" "+r.URL.RequestURI())
	}), false)
	tr := &Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	for i := range 50 {
		resp, body := get(t, tr, http.MethodPost, fmt.Sprintf("%s/v1/messages?i=%d", srv.URL, i), `{"n":1}`)
		if want := fmt.Sprintf("POST /v1/messages?i=%d", i); resp.StatusCode != 200 || body != want {
			t.Fatalf("got %d %q, want 200 %q", resp.StatusCode, body, want)
		}
		if resp.Status != "200 OK" || resp.ContentLength != int64(len(body)) {
			t.Errorf("Status %q ContentLength %d", resp.Status, resp.ContentLength)
		}
		if got := resp.Header.Get("Anthropic-Ratelimit-Requests-Remaining"); got != "41" {
			t.Errorf("lower-case field not canonicalised: %v", resp.Header)
		}
		if got := resp.Header["X-Multi"]; len(got) != 2 || got[0] != "a" || got[1] != "b" {
			t.Errorf("X-Multi = %q, want [a b]", got)
		}
	}
	if n, d := conns.Load(), tr.Dials(); n != 1 || d != 1 {
		t.Errorf("50 sequential requests used %d connections (%d dials), want 1", n, d)
	}
}

func TestIdleConnectionsAgeOut(t *testing.T) {
	srv, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}), false)
	now := time.Unix(1000, 0)
	tr := &Transport{IdleConnTimeout: time.Minute, now: func() time.Time { return now }}
	t.Cleanup(tr.CloseIdleConnections)
	key := hostKey{host: srv.Listener.Addr().String()}
	idle := func() int {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		return len(tr.idle[key])
	}

	// Two requests at once leave two idle connections.
	req1, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req2, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	r1, err := tr.RoundTrip(req1)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := tr.RoundTrip(req2)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.ReadAll(r1.Body)
	_, _ = io.ReadAll(r2.Body)
	if n := idle(); n != 2 {
		t.Fatalf("%d idle connections, want 2", n)
	}

	// A minute on, the next request takes the newest and, returning it,
	// closes the other, which aged out at the bottom of the stack.
	now = now.Add(59 * time.Second)
	get(t, tr, http.MethodGet, srv.URL, "")
	now = now.Add(30 * time.Second)
	get(t, tr, http.MethodGet, srv.URL, "")
	if n := idle(); n != 1 {
		t.Errorf("%d idle connections, want 1: the one unused for 89 s is closed", n)
	}
	// Past the timeout, the last one is not reused either.
	now = now.Add(2 * time.Minute)
	get(t, tr, http.MethodGet, srv.URL, "")
	if n, d := conns.Load(), tr.Dials(); n != 3 || d != 3 {
		t.Errorf("%d connections, %d dials; want 3 and 3", n, d)
	}
}

func TestRequestIsWrittenAsGiven(t *testing.T) {
	got := make(chan *http.Request, 1)
	bodies := make(chan string, 1)
	srv, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- string(b)
	}), false)
	tr := &Transport{}
	t.Cleanup(tr.CloseIdleConnections)

	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/a%2Fb/c?x=1&y=2", strings.NewReader("hello"))
	req.Header["X-Api-Key"] = []string{"k"}
	req.Header["User-Agent"] = []string{""} // net/http's way to say: none
	req.Header["Connection"] = []string{"Upgrade"}
	req.Host = "api.example.com"
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	r, b := <-got, <-bodies
	if r.URL.RawPath != "/a%2Fb/c" || r.URL.RawQuery != "x=1&y=2" || r.Host != "api.example.com" {
		t.Errorf("request line/Host: path %q query %q host %q", r.URL.RawPath, r.URL.RawQuery, r.Host)
	}
	if b != "hello" || r.ContentLength != 5 {
		t.Errorf("body %q, ContentLength %d", b, r.ContentLength)
	}
	if r.Header.Get("X-Api-Key") != "k" || r.Header.Get("Connection") != "" {
		t.Errorf("header fields: %v", r.Header)
	}
	if _, ok := r.Header["User-Agent"]; ok {
		t.Errorf("User-Agent sent: %q", r.Header["User-Agent"])
	}

	// A body of unknown length goes chunked.
	req, _ = http.NewRequest(http.MethodPost, srv.URL, io.MultiReader(strings.NewReader("chunked "), strings.NewReader("body")))
	req.ContentLength = -1
	resp, err = tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if r, b := <-got, <-bodies; b != "chunked body" || len(r.TransferEncoding) != 1 {
		t.Errorf("chunked body %q, TransferEncoding %v", b, r.TransferEncoding)
	}
}

func TestHeaderInjectionIsRefused(t *testing.T) {
	srv, conns := countingServer(t, http.NotFoundHandler(), false)
	tr := &Transport{}
	for _, v := range []string{"a\r\nX-Evil: 1", "a\nb", "a\x00b"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		req.Header["X-Value"] = []string{v}
		if _, err := tr.RoundTrip(req); err == nil {
			t.Errorf("value %q was sent", v)
		}
	}
	if n := conns.Load(); n > 3 {
		t.Errorf("%d connections", n)
	}
}

// streamTwice serves a stream of three events twice, over one connection:
// the server writes each event only once readEvents, reading it, sends on
// next. It checks the second stream reused the connection (the first one's
// end, trailer included, was read).
func streamTwice(t *testing.T, readEvents func(t *testing.T, resp *http.Response, round int, next chan<- struct{})) {
	t.Helper()
	next := make(chan struct{})
	srv, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			_, _ = fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
			<-next
		}
	}), false)
	tr := &Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	for round := range 2 {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		readEvents(t, resp, round, next)
	}
	if d := tr.Dials(); d != 1 {
		t.Errorf("two chunked responses used %d dials, want 1 (the trailer read, the connection reused)", d)
	}
}

func TestStreamArrivesEventByEvent(t *testing.T) {
	streamTwice(t, func(t *testing.T, resp *http.Response, round int, next chan<- struct{}) {
		if resp.ContentLength != -1 || len(resp.TransferEncoding) != 1 {
			t.Fatalf("framing: ContentLength %d, TransferEncoding %v", resp.ContentLength, resp.TransferEncoding)
		}
		br := bufio.NewReader(resp.Body)
		for i := range 3 {
			// Each event is read before the server may write the next one.
			line, err := br.ReadString('\n')
			if err != nil || line != fmt.Sprintf("data: %d\n", i) {
				t.Fatalf("round %d event %d: %q, %v", round, i, line, err)
			}
			_, _ = br.ReadString('\n')
			next <- struct{}{}
		}
		if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
			t.Fatalf("after the last event: %q, %v", rest, err)
		}
		_ = resp.Body.Close()
	})
}

func TestServerClosedIdleConnectionIsNotUsed(t *testing.T) {
	srv, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}), false)
	tr := &Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	get(t, tr, http.MethodPost, srv.URL, "x")
	srv.CloseClientConnections() // the server closes the idle connection
	// The FIN is seen by the peek once it has arrived; await it rather than
	// guess how long it takes.
	deadline := time.Now().Add(5 * time.Second)
	for {
		tr.mu.Lock()
		c := tr.idle[hostKey{host: srv.Listener.Addr().String()}][0]
		tr.mu.Unlock()
		if !c.stillOpen() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a connection the server closed still looks open after 5 s")
		}
		time.Sleep(time.Millisecond)
	}
	if _, body := get(t, tr, http.MethodPost, srv.URL, "x"); body != "ok" {
		t.Fatalf("body %q", body)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

// TestRequestIsSentAgainWhenAReusedConnectionDies: a server that closes a
// kept-alive connection upon the next request (the race the peek cannot
// see) costs an idempotent request nothing: it goes again on a new
// connection. A POST does not: it may have had its effect.
func TestRequestIsSentAgainWhenAReusedConnectionDies(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	var served atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { _ = c.Close() }()
				br := bufio.NewReader(c)
				for n := 0; ; n++ {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					if n == 1 {
						return // the second request on a connection: close, no answer
					}
					served.Add(1)
					_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				}
			}()
		}
	}()
	tr := &Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	url := "http://" + ln.Addr().String()
	for _, tc := range []struct {
		method, idempotencyKey string
		again                  bool
	}{
		{method: http.MethodGet, again: true},
		{method: http.MethodPost, idempotencyKey: "once", again: true},
		{method: http.MethodPost, again: false},
	} {
		get(t, tr, http.MethodGet, url, "") // leaves a connection that dies on its next request
		before, dials := served.Load(), tr.Dials()
		req, _ := http.NewRequest(tc.method, url, strings.NewReader("body"))
		if tc.idempotencyKey != "" {
			req.Header.Set("Idempotency-Key", tc.idempotencyKey)
		}
		resp, err := tr.RoundTrip(req)
		if tc.again {
			if err != nil {
				t.Fatalf("%s %s: not sent again: %v", tc.method, tc.idempotencyKey, err)
			}
			_ = resp.Body.Close()
			if served.Load() != before+1 || tr.Dials() != dials+1 {
				t.Errorf("%s: served %d, dials %d; want one more of each", tc.method, served.Load()-before, tr.Dials()-dials)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s without an idempotency key was sent twice", tc.method)
		}
	}
}

func TestCancelUnblocksAStream(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	srv, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/quick":
			_, _ = io.WriteString(w, "ok")
			return
		case "/held-head":
			arrived <- struct{}{}
			<-release
			return
		}
		_, _ = io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		<-release
	}), false)
	t.Cleanup(func() { close(release) }) // before the server's Close, which awaits the handlers
	tr := &Transport{}
	t.Cleanup(tr.CloseIdleConnections)

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/held", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if _, err := resp.Body.Read(buf); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := resp.Body.Read(buf)
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("blocked Read after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("cancelling the request did not unblock the stream's Read")
	}
	_ = resp.Body.Close()
	get(t, tr, http.MethodGet, srv.URL+"/quick", "")
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2: a cancelled connection is never reused", n)
	}

	// Cancelled while waiting for the response's head.
	ctx, cancel = context.WithCancel(context.Background())
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/held-head", nil)
	go func() {
		<-arrived // the request was written; its head is awaited
		cancel()
	}()
	if _, err = tr.RoundTrip(req); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled request: %v, want context.Canceled", err)
	}
}

func TestClosingABodyEarlyClosesItsConnection(t *testing.T) {
	srv, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(make([]byte, 1<<20))
	}), false)
	tr := &Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := resp.Body.Read(make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if _, err := resp.Body.Read(make([]byte, 10)); err == nil {
		t.Error("Read after Close succeeded")
	}
	_, body := get(t, tr, http.MethodGet, srv.URL, "")
	if len(body) != 1<<20 || conns.Load() != 2 {
		t.Errorf("body %d bytes, %d connections; want 1 MiB and 2", len(body), conns.Load())
	}
}

func TestResponsesWithoutBody(t *testing.T) {
	srv, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		if r.Method == http.MethodHead {
			return
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(http.StatusNoContent)
	}), false)
	tr := &Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	for range 3 {
		resp, body := get(t, tr, http.MethodHead, srv.URL, "")
		if resp.StatusCode != 200 || body != "" || resp.ContentLength != 10 {
			t.Errorf("HEAD: %d %q ContentLength %d", resp.StatusCode, body, resp.ContentLength)
		}
		if resp, body = get(t, tr, http.MethodGet, srv.URL, ""); resp.StatusCode != 204 || body != "" {
			t.Errorf("GET: %d %q", resp.StatusCode, body)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

func TestTLSUpstreamHandshakesOnce(t *testing.T) {
	srv, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Proto)
	}), true)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	tr := &Transport{}
	tr.TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	tr.TLSClientConfig.RootCAs = roots
	t.Cleanup(tr.CloseIdleConnections)
	for range 20 {
		if _, body := get(t, tr, http.MethodPost, srv.URL, "x"); body != "HTTP/1.1" {
			t.Fatalf("protocol %q, want HTTP/1.1", body)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("20 requests over TLS made %d connections (handshakes), want 1", n)
	}

	// Without the test CA among the roots, the server is refused.
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	if _, err := (&Transport{}).RoundTrip(req); err == nil {
		t.Error("a certificate from an unknown authority was accepted")
	}
}

func TestResponseHeaderTimeout(t *testing.T) {
	release := make(chan struct{})
	srv, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }), false)
	t.Cleanup(func() { close(release) }) // before the server's Close, which awaits the handlers
	tr := &Transport{ResponseHeaderTimeout: 50 * time.Millisecond}
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	var ne net.Error
	if _, err := tr.RoundTrip(req); !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("err = %v, want a timeout", err)
	}
}

func TestNextReturnsEachEventAsItArrives(t *testing.T) {
	streamTwice(t, func(t *testing.T, resp *http.Response, round int, next chan<- struct{}) {
		b := resp.Body.(*body)
		for i := range 3 {
			// Each event comes whole, before the server may write the next.
			p, err := b.Next()
			if err != nil || string(p) != fmt.Sprintf("data: %d\n\n", i) {
				t.Fatalf("round %d event %d: %q, %v", round, i, p, err)
			}
			next <- struct{}{}
		}
		if p, err := b.Next(); err != io.EOF || len(p) != 0 {
			t.Fatalf("after the last event: %q, %v; want io.EOF alone", p, err)
		}
		if p, err := b.Next(); err != io.EOF || len(p) != 0 {
			t.Fatalf("a finished body: %q, %v", p, err)
		}
	})
}

func TestNextSaysTheEndOnlyAfterTheLastBytes(t *testing.T) {
	// The last bytes point into the connection's buffer; the end hands the
	// connection back for reuse, so it must come in a call of its own.
	url := rawServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	resp, err := (&Transport{}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	b := resp.Body.(*body)
	if p, err := b.Next(); err != nil || string(p) != "hello" {
		t.Fatalf("Next = %q, %v; want the whole body and no error", p, err)
	}
	if p, err := b.Next(); err != io.EOF || len(p) != 0 {
		t.Fatalf("then %q, %v; want io.EOF alone", p, err)
	}
	if st := b.state.Load(); st != bodyDone {
		t.Fatalf("body state %d after io.EOF, want done", st)
	}

	// A body cut short is an error, as with Read.
	url = rawServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nhello")
	req, _ = http.NewRequest(http.MethodGet, url, nil)
	if resp, err = (&Transport{}).RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	var got []byte
	for err == nil {
		var p []byte
		p, err = resp.Body.(*body).Next()
		got = append(got, p...)
	}
	if err == io.EOF || string(got) != "hello" {
		t.Fatalf("a short body read %q, %v; want the bytes and an error that is not io.EOF", got, err)
	}
}

// rawServer answers every connection with resp, whatever it is asked.
func rawServer(t *testing.T, resp string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { _ = c.Close() }()
				if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
					_, _ = io.WriteString(c, resp)
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

func TestMalformedResponsesAreErrors(t *testing.T) {
	for name, resp := range map[string]string{
		"status line":        "HTTP/1.1 2x0 OK\r\n\r\n",
		"protocol":           "HTTP/2.0 200 OK\r\n\r\n",
		"obsolete folding":   "HTTP/1.1 200 OK\r\nX-A: 1\r\n continued\r\n\r\n",
		"no colon":           "HTTP/1.1 200 OK\r\nX-A\r\n\r\n",
		"key with space":     "HTTP/1.1 200 OK\r\nX A: 1\r\n\r\n",
		"two lengths":        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
		"negative length":    "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"unknown coding":     "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
		"head cut short":     "HTTP/1.1 200 OK\r\nX-A: 1\r\n",
		"switching protocol": "HTTP/1.1 101 Switching Protocols\r\n\r\n",
		"chunk size":         "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
		"chunk overrun":      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc\r\n0\r\n\r\n",
		"chunk cut short":    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
	} {
		t.Run(name, func(t *testing.T) {
			url := rawServer(t, resp)
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			r, err := (&Transport{}).RoundTrip(req)
			if err == nil {
				_, err = io.ReadAll(r.Body) // a body's framing fails as it is read
			}
			if err == nil {
				t.Errorf("%q was accepted", resp)
			}
		})
	}

	// Chunk extensions and a trailer are read past.
	url := rawServer(t, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"+
		"3 ;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n")
	if _, body := get(t, &Transport{}, http.MethodGet, url, ""); body != "abc0123456789" {
		t.Errorf("chunked body %q", body)
	}

	// Interim responses are skipped; a body to the connection's end is read.
	url = rawServer(t, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nX-A:  spaced  \r\n\r\nuntil close")
	tr := &Transport{}
	resp, body := get(t, tr, http.MethodGet, url, "")
	if resp.StatusCode != 200 || body != "until close" || resp.Header.Get("X-A") != "spaced" || !resp.Close {
		t.Errorf("got %d %q X-A=%q Close=%v", resp.StatusCode, body, resp.Header.Get("X-A"), resp.Close)
	}
}
