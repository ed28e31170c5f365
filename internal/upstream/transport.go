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
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for Transport fields left zero.
const (
	DefaultDialTimeout            = 10 * time.Second
	DefaultKeepAlive              = 30 * time.Second
	DefaultTLSHandshakeTimeout    = 10 * time.Second
	DefaultIdleConnTimeout        = 90 * time.Second
	DefaultMaxIdleConnsPerHost    = 64
	DefaultBufferSize             = 4 << 10
	DefaultMaxResponseHeaderBytes = 1 << 20
)

// Transport is an http.RoundTripper for HTTP/1.1 over TCP or TLS, with a
// pool of keep-alive connections per host. The zero value is usable.
//
// It does what net/http's Transport does for a reverse proxy's upstream
// hop, without its two goroutines per connection: the caller's goroutine
// writes the request and reads the response, so a request costs no
// goroutine hand-offs and a held stream no extra stacks. It does not
// speak HTTP/2, use HTTP proxies, or decompress.
type Transport struct {
	// TLSClientConfig configures https upstreams; nil: the system roots.
	// NextProtos is always http/1.1.
	TLSClientConfig *tls.Config
	// DialTimeout bounds connecting (default 10s); TLSHandshakeTimeout the
	// TLS handshake (default 10s); KeepAlive is the TCP keep-alive period
	// (default 30s).
	DialTimeout, TLSHandshakeTimeout, KeepAlive time.Duration
	// ResponseHeaderTimeout bounds the wait for the response's headers
	// after the request is written; zero: no bound but the request's
	// context.
	ResponseHeaderTimeout time.Duration
	// IdleConnTimeout is how long an idle connection may be reused
	// (default 90s); MaxIdleConnsPerHost how many are kept per host
	// (default 64).
	IdleConnTimeout     time.Duration
	MaxIdleConnsPerHost int
	// ReadBufferSize and WriteBufferSize size each connection's buffers
	// (default 4 KiB); a response's header block must fit
	// MaxResponseHeaderBytes (default 1 MiB).
	ReadBufferSize, WriteBufferSize int
	MaxResponseHeaderBytes          int

	mu      sync.Mutex
	idle    map[hostKey][]*conn
	writers sync.Pool        // *bufio.Writer, lent to a connection while it writes a request
	now     func() time.Time // tests' clock; nil: time.Now
	dials   atomic.Int64
	tlsCfg  map[string]*tls.Config // per server name, cloned once
}

// hostKey names a pool of connections: a struct, so looking it up costs
// no string concatenation.
type hostKey struct {
	tls  bool
	host string // URL.Host, with or without a port
}

// Dials is how many connections the transport has opened: requests over
// Dials is the connection reuse.
func (t *Transport) Dials() int64 { return t.dials.Load() }

// CloseIdleConnections closes the connections waiting for reuse.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.mu.Unlock()
	for _, cs := range idle {
		for _, c := range cs {
			_ = c.nc.Close()
		}
	}
}

// RoundTrip sends req and returns the response, whose body the caller must
// read to the end or close. A request that fails on a reused connection
// before any byte of a response arrived (the server had closed it while it
// was idle) is sent once more on a new connection when, as net/http has
// it, repeating it is harmless: an idempotent method or an
// Idempotency-Key, and a body that can be replayed (GetBody) or none.
// Anything else is the caller's to repeat or not: the proxy knows which
// provider calls have side effects.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	key, err := keyOf(req)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	ctx := req.Context()
	for retried := false; ; retried = true {
		c, err := t.getConn(ctx, key)
		if err != nil {
			closeBody(req)
			return nil, err
		}
		resp, err := c.roundTrip(ctx, req)
		if err == nil {
			return resp, nil
		}
		_ = c.nc.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if retried || !c.reused || !errors.Is(err, errNothingRead) || !replayable(req) {
			return nil, err
		}
		if req.Body != nil && req.Body != http.NoBody {
			body, gerr := req.GetBody()
			if gerr != nil {
				return nil, fmt.Errorf("replay request body: %w", gerr)
			}
			r := *req // a shallow copy: the caller's request is not changed
			r.Body = body
			req = &r
		}
	}
}

// replayable reports whether req may be sent twice.
func replayable(req *http.Request) bool {
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return false
	}
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, ok := req.Header["Idempotency-Key"]
	if !ok {
		_, ok = req.Header["X-Idempotency-Key"]
	}
	return ok
}

func keyOf(req *http.Request) (hostKey, error) {
	u := req.URL
	if u == nil || u.Host == "" {
		return hostKey{}, errors.New("upstream: request has no URL host")
	}
	switch u.Scheme {
	case "http":
		return hostKey{host: u.Host}, nil
	case "https":
		return hostKey{tls: true, host: u.Host}, nil
	}
	return hostKey{}, fmt.Errorf("upstream: unsupported scheme %q", u.Scheme)
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// getConn returns an idle connection to key that is still open, or dials
// a new one.
func (t *Transport) getConn(ctx context.Context, key hostKey) (*conn, error) {
	now := t.clock()
	for {
		t.mu.Lock()
		cs := t.idle[key]
		if len(cs) == 0 {
			t.mu.Unlock()
			break
		}
		// The most recently used first: it is the least likely to have been
		// closed by the server, and the others age out.
		c := cs[len(cs)-1]
		cs[len(cs)-1] = nil
		t.idle[key] = cs[:len(cs)-1]
		t.mu.Unlock()
		if now.Sub(c.idleSince) < t.idleConnTimeout() && c.stillOpen() {
			c.reused = true
			return c, nil
		}
		_ = c.nc.Close()
	}
	return t.dial(ctx, key)
}

// putIdle keeps c for reuse, or closes it when the host has enough idle
// connections.
func (t *Transport) putIdle(c *conn) {
	now, key := t.clock(), c.key
	c.idleSince = now
	var expired []*conn
	t.mu.Lock()
	if t.idle == nil {
		t.idle = map[hostKey][]*conn{}
	}
	cs := t.idle[key]
	// The oldest are at the bottom, where getConn (which takes from the
	// top) would not see them age: close those past the idle timeout here,
	// so a burst's connections do not stay open (and, once the server
	// closed them, half-closed) for the life of the process.
	n := 0
	for n < len(cs) && now.Sub(cs[n].idleSince) >= t.idleConnTimeout() {
		n++
	}
	if n > 0 {
		expired = append(expired, cs[:n]...)
		cs = append(cs[:0], cs[n:]...)
	}
	if len(cs) < t.maxIdle() {
		cs = append(cs, c)
		c = nil
	}
	t.idle[key] = cs
	t.mu.Unlock()
	for _, e := range expired {
		_ = e.nc.Close()
	}
	if c != nil {
		_ = c.nc.Close()
	}
}

func (t *Transport) dial(ctx context.Context, key hostKey) (*conn, error) {
	host, addr := hostPort(key)
	d := net.Dialer{Timeout: orDefault(t.DialTimeout, DefaultDialTimeout), KeepAlive: orDefault(t.KeepAlive, DefaultKeepAlive)}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	t.dials.Add(1)
	raw := nc
	if key.tls {
		tc := tls.Client(nc, t.tlsConfig(host))
		hctx, cancel := context.WithTimeout(ctx, orDefault(t.TLSHandshakeTimeout, DefaultTLSHandshakeTimeout))
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			_ = nc.Close()
			return nil, fmt.Errorf("tls handshake with %s: %w", addr, err)
		}
		nc = tc
	}
	return newConn(t, key, nc, raw), nil
}

// tlsConfig is the TLS configuration for a server name: the user's, with
// the name set and HTTP/1.1 as the only protocol, cloned once per name.
func (t *Transport) tlsConfig(serverName string) *tls.Config {
	t.mu.Lock()
	defer t.mu.Unlock()
	if cfg, ok := t.tlsCfg[serverName]; ok {
		return cfg
	}
	cfg := &tls.Config{}
	if t.TLSClientConfig != nil {
		cfg = t.TLSClientConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = serverName
	}
	cfg.NextProtos = []string{"http/1.1"}
	if t.tlsCfg == nil {
		t.tlsCfg = map[string]*tls.Config{}
	}
	t.tlsCfg[serverName] = cfg
	return cfg
}

// hostPort splits key's host into the TLS server name and the address to
// dial, adding the scheme's default port.
func hostPort(key hostKey) (host, addr string) {
	if h, _, err := net.SplitHostPort(key.host); err == nil {
		return h, key.host
	}
	port := "80"
	if key.tls {
		port = "443"
	}
	h := key.host
	if len(h) > 1 && h[0] == '[' && h[len(h)-1] == ']' {
		h = h[1 : len(h)-1]
	}
	return h, net.JoinHostPort(h, port)
}

func (t *Transport) writer(w io.Writer) *bufio.Writer {
	if bw, ok := t.writers.Get().(*bufio.Writer); ok {
		bw.Reset(w)
		return bw
	}
	return bufio.NewWriterSize(w, bufSize(t.WriteBufferSize))
}

func (t *Transport) putWriter(bw *bufio.Writer) {
	bw.Reset(nil) // drops the connection and any error
	t.writers.Put(bw)
}

func (t *Transport) clock() time.Time {
	if t.now != nil {
		return t.now()
	}
	return time.Now()
}

func (t *Transport) idleConnTimeout() time.Duration {
	return orDefault(t.IdleConnTimeout, DefaultIdleConnTimeout)
}

func (t *Transport) maxIdle() int {
	if t.MaxIdleConnsPerHost > 0 {
		return t.MaxIdleConnsPerHost
	}
	return DefaultMaxIdleConnsPerHost
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// errNothingRead marks a failure before any byte of a response arrived.
var errNothingRead = errors.New("connection closed before a response")
