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
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keypool-dev/keypool-operator/internal/apitest"
	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/provider"
	"github.com/keypool-dev/keypool-operator/internal/proxytest"
)

// startLimited runs a proxy over e's registry with Start and opts (Listener,
// Logger and Metrics filled in) and returns its address (host:port).
func startLimited(t *testing.T, e *env, opts Options) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts.Listener, opts.Logger = ln, proxytest.Logger(t)
	if opts.Metrics == nil {
		opts.Metrics = prometheus.NewRegistry()
	}
	opts.ShutdownGrace = time.Second
	srv := New(e.reg, opts)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- srv.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Start: %v", err)
		}
	})
	return ln.Addr().String()
}

// rawConn is a client connection written and read by hand.
type rawConn struct {
	t *testing.T
	net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(2 * waitLimit))
	return &rawConn{t: t, Conn: c, r: bufio.NewReader(c)}
}

func (c *rawConn) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.Conn, s); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// response reads one response and its body.
func (c *rawConn) response() (*http.Response, string) {
	c.t.Helper()
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		c.t.Fatalf("read response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("read body: %v", err)
	}
	return resp, string(b)
}

// messagesRequest is a complete authenticated Anthropic request.
func messagesRequest(body string) string {
	return "POST /pools/" + namespace + "/" + poolName + "/v1/messages HTTP/1.1\r\nHost: proxy\r\n" +
		"X-Api-Key: " + clientToken + "\r\nAnthropic-Version: 2023-06-01\r\nContent-Type: application/json\r\n" +
		fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body)) + body
}

// wantShed checks a 503 in the Anthropic shape with a Retry-After.
func wantShed(t *testing.T, resp *http.Response, body string) {
	t.Helper()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503; body %s", resp.StatusCode, body)
	}
	apitest.WantAnthropicError(t, body, "overloaded_error")
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
}

// heapInUse is the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// readersBlocked counts goroutines blocked reading a request body in
// readBody: by then the body buffer exists.
func readersBlocked() int {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "proxy.readBody(") && strings.Contains(g, "waitRead") {
			n++
		}
	}
	return n
}

// TestDeclaredBodiesDoNotPinMemory: four connections declaring 32 MiB bodies
// and sending nothing cost the proxy next to nothing (they pinned 128 MiB
// when the buffer was sized from Content-Length).
func TestDeclaredBodiesDoNotPinMemory(t *testing.T) {
	e := newEnv(t, envConfig{})
	addr := strings.TrimPrefix(e.front.URL, "http://")
	before := heapInUse()
	for range 4 {
		c := dialRaw(t, addr)
		c.send("POST /pools/" + namespace + "/" + poolName + "/v1/messages HTTP/1.1\r\nHost: proxy\r\n" +
			"X-Api-Key: " + clientToken + "\r\nContent-Length: 33554432\r\n\r\n")
	}
	deadline := time.Now().Add(waitLimit)
	for readersBlocked() < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 4 requests reached the body read", readersBlocked())
		}
		runtime.Gosched()
	}
	grown := int64(heapInUse()) - int64(before)
	t.Logf("heap grew by %d KiB with 4 idle 32 MiB bodies", grown>>10)
	if grown > 4<<20 {
		t.Fatalf("heap grew by %d MiB for bodies of which no byte arrived", grown>>20)
	}
}

// TestBodyBufferGrowsWithReceivedBytes: the buffer of a body that has
// received n bytes is at most max(2n, 64 KiB), whatever Content-Length says
// (the budget sees the part above the free 64 KiB).
func TestBodyBufferGrowsWithReceivedBytes(t *testing.T) {
	pr, pw := io.Pipe()
	r, err := http.NewRequest(http.MethodPost, "/", pr)
	if err != nil {
		t.Fatal(err)
	}
	r.ContentLength = 32 << 20
	budget := &counter{max: 1 << 30}
	got := make(chan *requestBody, 1)
	go func() {
		rb := &requestBody{budget: budget}
		_, _ = readBody(rb, nopWriter{}, r, 64<<20)
		got <- rb
	}()
	sent := 0
	for _, n := range []int{1, 20 << 10, 100 << 10} {
		if _, err := pw.Write(make([]byte, n)); err != nil {
			t.Fatal(err)
		}
		sent += n
		// The write returns once readBody has taken the bytes into its
		// buffer, whose capacity the budget mirrors.
		if held := budget.used.Load() + freeBodyBytes; held > int64(max(2*sent, freeBodyBytes)) {
			t.Fatalf("after %d bytes the buffer holds %d", sent, held)
		}
	}
	_ = pw.CloseWithError(io.ErrUnexpectedEOF)
	rb := <-got
	rb.release()
	if used := budget.used.Load(); used != 0 {
		t.Fatalf("budget %d after release", used)
	}
}

// nopWriter is a ResponseWriter for readBody called outside a server.
type nopWriter struct{}

func (nopWriter) Header() http.Header         { return http.Header{} }
func (nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (nopWriter) WriteHeader(int)             {}

// TestSlowHeadersTimeOut: a connection that does not finish its headers is
// closed after ReadHeaderTimeout.
func TestSlowHeadersTimeOut(t *testing.T) {
	e := newEnv(t, envConfig{})
	addr := startLimited(t, e, Options{ReadHeaderTimeout: 200 * time.Millisecond})
	c := dialRaw(t, addr)
	start := time.Now()
	c.send("POST /pools/" + namespace + "/" + poolName + "/v1/messages HTTP/1.1\r\nHost: proxy\r\nX-Slow: ")
	_, err := c.r.ReadByte()
	if err == nil {
		t.Fatal("the server answered half a header block")
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("connection still open after %s", time.Since(start))
	}
}

// TestSlowBodyTimesOut: a body that does not arrive within BodyReadTimeout
// gets 408 in the provider's shape, and the upstream sees nothing.
func TestSlowBodyTimesOut(t *testing.T) {
	e := newEnv(t, envConfig{})
	addr := startLimited(t, e, Options{BodyReadTimeout: 200 * time.Millisecond})
	c := dialRaw(t, addr)
	req := messagesRequest(apitest.AnthropicBody("hi", false))
	c.send(req[:len(req)-5]) // all but the last bytes
	resp, body := c.response()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("status %d, want 408; body %s", resp.StatusCode, body)
	}
	apitest.WantAnthropicError(t, body, "invalid_request_error")
	if n := len(e.requests()); n != 0 {
		t.Fatalf("upstream saw %d requests", n)
	}
}

// TestHeadersOver64KiBGet431: the default header limit is 64 KiB.
func TestHeadersOver64KiBGet431(t *testing.T) {
	e := newEnv(t, envConfig{})
	addr := startLimited(t, e, Options{})
	c := dialRaw(t, addr)
	big := "X-Big: " + strings.Repeat("a", 70<<10) + "\r\n"
	req := messagesRequest(apitest.AnthropicBody("hi", false))
	head, rest, _ := strings.Cut(req, "\r\n")
	c.send(head + "\r\n" + big + rest)
	// Only the status line: net/http hangs up on the unread rest of the
	// request, which may reset the connection before the body is read.
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d, want 431", resp.StatusCode)
	}
	// Headers under the limit still pass.
	c2 := dialRaw(t, addr)
	c2.send(head + "\r\nX-Big: " + strings.Repeat("a", 60<<10) + "\r\n" + rest)
	if resp, body := c2.response(); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d with 60 KiB of headers; body %s", resp.StatusCode, body)
	}
}

// TestConnectionCapSheds503: beyond MaxConnections a connection gets one
// well-formed 503 with Retry-After and is closed, while a client already
// connected keeps being served.
func TestConnectionCapSheds503(t *testing.T) {
	e := newEnv(t, envConfig{})
	reg := prometheus.NewRegistry()
	addr := startLimited(t, e, Options{MaxConnections: 3, Metrics: reg})
	good := dialRaw(t, addr)
	good.send(messagesRequest(apitest.AnthropicBody("hi", false)))
	if resp, body := good.response(); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d; body %s", resp.StatusCode, body)
	}
	dialRaw(t, addr) // two idle connections fill the cap
	dialRaw(t, addr)
	over := dialRaw(t, addr)
	over.send(messagesRequest(apitest.AnthropicBody("hi", false)))
	resp, body := over.response()
	wantShed(t, resp, body)
	if !resp.Close {
		t.Fatal("the over-cap connection is kept open")
	}
	if _, err := over.r.ReadByte(); err != io.EOF {
		t.Fatalf("over-cap connection not closed: %v", err)
	}
	good.send(messagesRequest(apitest.AnthropicBody("again", false)))
	if resp, body := good.response(); resp.StatusCode != http.StatusOK {
		t.Fatalf("well-behaved client got %d; body %s", resp.StatusCode, body)
	}
	wantShedCount(t, reg, capConnections, 1)
}

// wantShedCount checks keypool_proxy_shed_total{cap} in reg.
func wantShedCount(t *testing.T, reg *prometheus.Registry, capName string, want float64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := 0.0
	for _, mf := range mfs {
		if mf.GetName() != metricShed {
			continue
		}
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == capName {
				got = m.GetCounter().GetValue()
			}
		}
	}
	if got != want {
		t.Errorf("%s{cap=%q} = %v, want %v", metricShed, capName, got, want)
	}
}

// TestInFlightCapSheds503: beyond MaxInFlight a request gets a well-formed
// 503 with Retry-After; once the request in flight ends, the next succeeds.
func TestInFlightCapSheds503(t *testing.T) {
	for _, prov := range []provider.Provider{provider.Anthropic, provider.OpenAI} {
		t.Run(prov.Name(), func(t *testing.T) {
			e := newEnv(t, envConfig{provider: prov})
			reg := prometheus.NewRegistry()
			addr := startLimited(t, e, Options{MaxInFlight: 1, Metrics: reg})
			e.base = "http://" + addr + strings.TrimPrefix(e.base, e.front.URL)
			release := e.fake.HoldStreams()
			body := apitest.AnthropicBody
			if prov == provider.OpenAI {
				body = apitest.OpenAIBody
			}
			held := e.post(body("hold", true))
			if held.StatusCode != http.StatusOK {
				t.Fatalf("held stream: %d", held.StatusCode)
			}
			if _, err := apitest.NewSSEReader(held.Body).Next(); err != nil {
				t.Fatal(err)
			}
			resp := e.post(body("hi", false))
			got := wantStatus(t, resp, http.StatusServiceUnavailable)
			if prov == provider.OpenAI {
				apitest.WantOpenAIError(t, got, "overloaded_error", "service_unavailable")
			} else {
				apitest.WantAnthropicError(t, got, "overloaded_error")
			}
			if resp.Header.Get("Retry-After") == "" {
				t.Fatal("503 without Retry-After")
			}
			release()
			_ = readAll(t, held.Body)
			wantStatus(t, e.post(body("hi", false)), http.StatusOK)
			wantShedCount(t, reg, capInFlight, 1)
		})
	}
}

// TestBodyBudgetSheds503: a body that would take the replica's buffered
// bodies over MaxBufferedBodyBytes gets 503; an ordinary one, within the
// free share every request has, is served whatever the budget.
func TestBodyBudgetSheds503(t *testing.T) {
	e := newEnv(t, envConfig{})
	reg := prometheus.NewRegistry()
	addr := startLimited(t, e, Options{MaxBufferedBodyBytes: 64 << 10, Metrics: reg})
	c := dialRaw(t, addr)
	c.send(messagesRequest(apitest.AnthropicBody(strings.Repeat("x", 200<<10), false)))
	resp, body := c.response()
	wantShed(t, resp, body)
	c2 := dialRaw(t, addr)
	c2.send(messagesRequest(apitest.AnthropicBody(strings.Repeat("x", 30<<10), false)))
	if resp, body := c2.response(); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d; body %s", resp.StatusCode, body)
	}
	wantShedCount(t, reg, capBodyMemory, 1)
}

// TestStreamGivesBackItsBodyBudget: once a stream's answer is being copied
// its request body is let go, with its share of the body budget, so a held
// stream does not keep its prompt (or crowd out other bodies) for as long as
// it runs.
func TestStreamGivesBackItsBodyBudget(t *testing.T) {
	e := newEnv(t, envConfig{})
	reg := prometheus.NewRegistry()
	addr := startLimited(t, e, Options{MaxBufferedBodyBytes: 64 << 10, Metrics: reg})
	e.base = "http://" + addr + strings.TrimPrefix(e.base, e.front.URL)
	release := e.fake.HoldStreams()
	defer release()
	// 100 KiB each: 36 KiB of the budget beyond the free share; two at once
	// are more than the 64 KiB budget.
	prompt := strings.Repeat("x", 100<<10)
	held := e.post(apitest.AnthropicBody(prompt, true))
	if held.StatusCode != http.StatusOK {
		t.Fatalf("held stream: %d", held.StatusCode)
	}
	if _, err := apitest.NewSSEReader(held.Body).Next(); err != nil {
		t.Fatal(err)
	}
	if got := wantStatus(t, e.post(apitest.AnthropicBody(prompt, false)), http.StatusOK); got == "" {
		t.Fatal("empty answer beside the held stream")
	}
	wantShedCount(t, reg, capBodyMemory, 0)
	release()
	_ = readAll(t, held.Body)
}

// TestPoolQueueCapAnswers429: with MaxWaiters requests queued for a pool,
// the next request that would wait gets 429 with Retry-After at once, and
// the queued one is still served.
func TestPoolQueueCapAnswers429(t *testing.T) {
	e := newEnv(t, envConfig{
		keys:         []keypool.KeyConfig{{ID: "keys/k1", APIKey: keyValue(1), RPMLimit: 1}},
		queueTimeout: time.Minute,
		maxWaiters:   1,
	})
	wantStatus(t, e.post(apitest.AnthropicBody("first", false)), http.StatusOK)
	queued := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, e.base+"/v1/messages",
			strings.NewReader(apitest.AnthropicBody("queued", false)))
		req.Header.Set("X-Api-Key", clientToken)
		resp, err := e.front.Client().Do(req)
		if err != nil {
			t.Error(err)
		}
		queued <- resp
	}()
	e.waitQueued()

	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	defer cancel()
	resp := e.do(ctx, http.MethodPost, "/v1/messages", apitest.AnthropicBody("third", false),
		map[string]string{"X-Api-Key": clientToken})
	got := wantStatus(t, resp, http.StatusTooManyRequests)
	apitest.WantAnthropicError(t, got, "rate_limit_error")
	if ra := resp.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Fatalf("Retry-After %q", ra)
	}
	// Refused at once, its retry is still booked: without a booking of its
	// own it would take another retry's.
	if b := resp.Header.Get(HeaderRetryBooked); b != "true" {
		t.Fatalf("%s %q on a request refused at once, want true", HeaderRetryBooked, b)
	}

	e.clock.Advance(time.Minute)
	r := <-queued
	if r == nil {
		t.FailNow()
	}
	defer r.Body.Close()
	wantStatus(t, r, http.StatusOK)
	e.waitIdle()
}

// TestLargeImageReservesBoundedEstimate: a request carrying a 5 MiB base64
// image reserves about what Anthropic charges for one image, not 1.3 M
// tokens, so a 30,000 ITPM key keeps serving others while it is in flight.
func TestLargeImageReservesBoundedEstimate(t *testing.T) {
	e := newEnv(t, envConfig{keys: []keypool.KeyConfig{{ID: "keys/k1", APIKey: keyValue(1), ITPMLimit: 30_000}}})
	img := base64.StdEncoding.EncodeToString(append([]byte("\xff\xd8\xff\xe0"), make([]byte, 5<<20)...))
	body := `{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":[` +
		`{"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"` + img + `"}},` +
		`{"type":"text","text":"what is this?"}]}]}`
	release := e.fake.HoldStreams()
	defer release()
	held := e.post(body)
	if held.StatusCode != http.StatusOK {
		t.Fatalf("image request: %d %s", held.StatusCode, readAll(t, held.Body))
	}
	if _, err := apitest.NewSSEReader(held.Body).Next(); err != nil {
		t.Fatal(err)
	}
	st := e.keyStats("keys/k1")
	reserved := 30_000 - st.ITPMRemaining
	t.Logf("a %d-byte body reserved %d input tokens", len(body), reserved)
	// Anthropic charges at most about 1,600 tokens per image.
	if reserved > 2*1600 {
		t.Fatalf("reserved %d input tokens for one image", reserved)
	}
	wantStatus(t, e.post(apitest.AnthropicBody("meanwhile", false)), http.StatusOK)
	release()
	_ = readAll(t, held.Body)
	e.waitIdle()
}
