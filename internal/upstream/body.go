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
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

// The states of a body: while it is read it owns the connection; once
// done (read to the end, or closed) it never touches it again, because the
// connection may already serve another request.
const (
	bodyReading int32 = iota
	bodyDone
)

// body is a response body read from its connection. Read and Close may
// be called from different goroutines (a client leaving closes the body
// a stream is blocked reading).
type body struct {
	c      *conn
	ctx    context.Context // the request's
	stop   func() bool     // stops the request's cancellation watch
	state  atomic.Int32
	closed atomic.Bool // closed before the end: Read says so
	// framing: remaining bytes for a known length, or a chunked reader,
	// or neither (read until the connection closes)
	remaining int64
	chunked   io.Reader
	untilEOF  bool
	keepAlive bool // the connection may be reused after the end
}

// frameBody sets resp.Body and ContentLength from the response's framing
// (RFC 9112 section 6.3).
func (c *conn) frameBody(req *http.Request, resp *http.Response) error {
	b := &body{c: c, ctx: req.Context(), keepAlive: keepAlive(resp)}
	resp.Body = b
	resp.ContentLength = -1
	noBody := req.Method == http.MethodHead || resp.StatusCode == http.StatusNoContent ||
		resp.StatusCode == http.StatusNotModified || resp.StatusCode < 200
	te := resp.Header["Transfer-Encoding"]
	switch {
	case noBody:
		resp.ContentLength = 0
		if req.Method == http.MethodHead {
			resp.ContentLength = contentLength(resp.Header)
		}
		b.state.Store(bodyDone)
	case len(te) > 0:
		if !strings.EqualFold(strings.TrimSpace(te[len(te)-1]), "chunked") {
			return fmt.Errorf("unsupported response Transfer-Encoding %q", te[len(te)-1])
		}
		delete(resp.Header, "Content-Length")
		resp.TransferEncoding = []string{"chunked"}
		b.chunked = httputil.NewChunkedReader(c.br)
	default:
		n := contentLength(resp.Header)
		if n == -2 {
			return errors.New("malformed response Content-Length")
		}
		resp.ContentLength = n
		if n < 0 {
			b.untilEOF, b.keepAlive = true, false
			resp.Close = true
		} else {
			b.remaining = n
			if n == 0 {
				b.state.Store(bodyDone)
			}
		}
	}
	if !b.keepAlive {
		resp.Close = true
	}
	return nil
}

// contentLength is the Content-Length field's value: -1 when absent, -2
// when malformed or given twice differently.
func contentLength(h http.Header) int64 {
	vs := h["Content-Length"]
	if len(vs) == 0 {
		return -1
	}
	for _, v := range vs[1:] {
		if v != vs[0] {
			return -2
		}
	}
	n, err := strconv.ParseInt(vs[0], 10, 64)
	if err != nil || n < 0 {
		return -2
	}
	return n
}

// keepAlive reports whether the connection may carry another request
// after this response.
func keepAlive(resp *http.Response) bool {
	for _, v := range resp.Header["Connection"] {
		for f := range strings.SplitSeq(v, ",") {
			switch strings.ToLower(strings.TrimSpace(f)) {
			case "close":
				return false
			case "keep-alive":
				if resp.ProtoMinor == 0 {
					return true
				}
			}
		}
	}
	return resp.ProtoMinor >= 1
}

var errBodyClosed = errors.New("read on a closed response body")

func (b *body) Read(p []byte) (int, error) {
	if b.state.Load() == bodyDone {
		if b.closed.Load() {
			return 0, errBodyClosed
		}
		return 0, io.EOF
	}
	n, err := b.read(p)
	if err == nil {
		return n, nil
	}
	if err == io.EOF {
		b.finish(true)
		return n, io.EOF
	}
	if b.closed.Load() {
		return n, errBodyClosed
	}
	b.finish(false)
	if cerr := b.ctx.Err(); cerr != nil {
		return n, cerr // the cancellation expired the connection's deadline
	}
	return n, fmt.Errorf("read response body: %w", err)
}

func (b *body) read(p []byte) (int, error) {
	switch {
	case b.chunked != nil:
		n, err := b.chunked.Read(p)
		if err == io.EOF {
			if terr := b.skipTrailer(); terr != nil {
				return n, terr
			}
		}
		return n, err
	case b.untilEOF:
		return b.c.br.Read(p)
	}
	if b.remaining == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.c.br.Read(p)
	b.remaining -= int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err == nil && b.remaining == 0 {
		err = io.EOF
	}
	return n, err
}

// skipTrailer reads the trailer section after the last chunk; its fields
// are not passed on (providers send none).
func (b *body) skipTrailer() error {
	for {
		line, err := readLine(b.c.br)
		if err != nil {
			return err
		}
		if len(line) == 0 {
			return nil
		}
	}
}

// Close ends the body. Before the end, the connection is closed: what
// remains of the response cannot be skipped for free, and closing it
// unblocks a Read waiting on it in another goroutine.
func (b *body) Close() error {
	if b.state.Load() == bodyDone {
		return nil
	}
	b.closed.Store(true)
	b.finish(false)
	return nil
}

// finish ends the body once: the connection goes back to the pool when
// the response ended cleanly and may be reused, and is closed otherwise.
func (b *body) finish(clean bool) {
	if !b.state.CompareAndSwap(bodyReading, bodyDone) {
		return
	}
	if !clean || !b.keepAlive {
		b.stop()
		_ = b.c.nc.Close()
		return
	}
	b.release()
}

// release hands the connection back, unless the request's cancellation
// already fired (its deadline is spent).
func (b *body) release() {
	if !b.keepAlive || !b.stop() {
		_ = b.c.nc.Close()
		return
	}
	b.c.t.putIdle(b.c)
}

// chunkedWriter frames writes as HTTP/1.1 chunks.
type chunkedWriter struct{ w io.Writer }

func newChunkedWriter(w io.Writer) io.Writer { return chunkedWriter{w} }

func (cw chunkedWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var size [18]byte
	head := strconv.AppendInt(size[:0], int64(len(p)), 16)
	head = append(head, '\r', '\n')
	if _, err := cw.w.Write(head); err != nil {
		return 0, err
	}
	n, err := cw.w.Write(p)
	if err != nil {
		return n, err
	}
	_, err = cw.w.Write([]byte("\r\n"))
	return n, err
}

func isConnReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }
