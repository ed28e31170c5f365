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
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/net/http/httpguts"
)

// conn is one keep-alive connection, used by one request at a time.
type conn struct {
	t         *Transport
	key       hostKey
	nc        net.Conn        // the connection, TLS or TCP
	raw       syscall.RawConn // the TCP socket under it, for stillOpen; nil if unknown
	br        *bufio.Reader
	bw        *bufio.Writer // while a request is written: pooled, so that a held stream holds none
	idleSince time.Time
	reused    bool // taken from the idle pool, not freshly dialled
	peek      peeker
	expire    func() // makes blocked I/O return: the request's cancellation, made once
}

func newConn(t *Transport, key hostKey, nc, tcp net.Conn) *conn {
	c := &conn{
		t:   t,
		key: key,
		nc:  nc,
		br:  bufio.NewReaderSize(nc, bufSize(t.ReadBufferSize)),
	}
	c.expire = func() { _ = c.nc.SetDeadline(aLongTimeAgo) }
	if sc, ok := tcp.(syscall.Conn); ok {
		c.raw, _ = sc.SyscallConn()
		c.peek.init(key.tls)
	}
	return c
}

func bufSize(n int) int {
	if n > 0 {
		return n
	}
	return DefaultBufferSize
}

// aLongTimeAgo is a deadline in the past: setting it makes blocked reads
// and writes return at once.
var aLongTimeAgo = time.Unix(1, 0)

// roundTrip writes req and reads the response's head. The request's
// context cancels a blocked write or read by expiring the connection's
// deadline; no goroutine waits for it.
func (c *conn) roundTrip(ctx context.Context, req *http.Request) (*http.Response, error) {
	stop := func() bool { return true }
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, c.expire)
	}
	resp, err := c.exchange(req)
	if err != nil {
		stop()
		return nil, err
	}
	b := resp.Body.(*body)
	b.stop = stop
	if b.state.Load() == bodyDone { // no body: the connection is free again
		b.release()
	}
	return resp, nil
}

func (c *conn) exchange(req *http.Request) (*http.Response, error) {
	c.bw = c.t.writer(c.nc)
	werr := c.writeRequest(req)
	c.t.putWriter(c.bw)
	c.bw = nil
	closeBody(req)
	if werr != nil {
		if c.reused {
			return nil, fmt.Errorf("write request: %w: %w", errNothingRead, werr)
		}
		return nil, fmt.Errorf("write request: %w", werr)
	}
	if d := c.t.ResponseHeaderTimeout; d > 0 {
		_ = c.nc.SetReadDeadline(time.Now().Add(d))
	}
	resp, err := c.readResponse(req)
	if err != nil {
		var ne net.Error
		if c.t.ResponseHeaderTimeout > 0 && errors.As(err, &ne) && ne.Timeout() && req.Context().Err() == nil {
			return nil, fmt.Errorf("timeout awaiting response headers: %w", err)
		}
		return nil, err
	}
	if c.t.ResponseHeaderTimeout > 0 {
		// Cleared before the context is checked: a cancellation after this
		// point expires the deadline again (AfterFunc), one before it shows
		// in ctx.Err().
		_ = c.nc.SetReadDeadline(time.Time{})
		if err := req.Context().Err(); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// writeRequest writes the request line, Host, the header fields, the
// framing and the body.
func (c *conn) writeRequest(req *http.Request) error {
	w := c.bw
	u := req.URL
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	_, _ = w.WriteString(method)
	_ = w.WriteByte(' ')
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	_, _ = w.WriteString(path)
	if u.RawQuery != "" {
		_ = w.WriteByte('?')
		_, _ = w.WriteString(u.RawQuery)
	}
	_, _ = w.WriteString(" HTTP/1.1\r\nHost: ")
	host := req.Host
	if host == "" {
		host = u.Host
	}
	if !httpguts.ValidHeaderFieldValue(host) {
		return errors.New("invalid Host")
	}
	_, _ = w.WriteString(host)
	_, _ = w.WriteString("\r\n")
	if err := writeFields(w, req.Header); err != nil {
		return err
	}
	hasBody := req.Body != nil && req.Body != http.NoBody
	chunked := hasBody && req.ContentLength <= 0
	switch {
	case chunked:
		_, _ = w.WriteString("Transfer-Encoding: chunked\r\n")
	case hasBody || method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch:
		_, _ = w.WriteString("Content-Length: ")
		_, _ = w.Write(strconv.AppendInt(w.AvailableBuffer(), req.ContentLength, 10))
		_, _ = w.WriteString("\r\n")
	}
	_, _ = w.WriteString("\r\n")
	if hasBody {
		if err := c.writeBody(req, chunked); err != nil {
			return err
		}
	}
	return w.Flush()
}

// writeFields writes h's fields but those the transport writes itself.
func writeFields(w *bufio.Writer, h http.Header) error {
	for k, vs := range h {
		// Invalid names and values (a line break would smuggle in another
		// field, or another request) are refused as net/http refuses them.
		if skipRequestField(k) || !httpguts.ValidHeaderFieldName(k) {
			continue
		}
		for _, v := range vs {
			if k == "User-Agent" && v == "" {
				continue // net/http's way to send no User-Agent
			}
			if !httpguts.ValidHeaderFieldValue(v) {
				return fmt.Errorf("invalid value for header %s", k)
			}
			_, _ = w.WriteString(k)
			_, _ = w.WriteString(": ")
			_, _ = w.WriteString(v)
			_, _ = w.WriteString("\r\n")
		}
	}
	return nil
}

func (c *conn) writeBody(req *http.Request, chunked bool) error {
	if !chunked {
		n, err := io.Copy(c.bw, req.Body)
		if err != nil {
			return fmt.Errorf("read request body: %w", err)
		}
		if n != req.ContentLength {
			return fmt.Errorf("request body is %d bytes, ContentLength says %d", n, req.ContentLength)
		}
		return nil
	}
	cw := chunkedWriter{c.bw}
	if _, err := io.Copy(cw, req.Body); err != nil {
		return fmt.Errorf("read request body: %w", err)
	}
	_, err := c.bw.WriteString("0\r\n\r\n")
	return err
}

// skipRequestField reports the fields the transport writes itself or that
// belong to one connection only.
func skipRequestField(k string) bool {
	switch k {
	case "Host", "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive",
		"Proxy-Connection", "Te", "Trailer", "Upgrade":
		return true
	}
	return false
}
