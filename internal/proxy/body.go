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
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/provider"
)

// firstBodyChunk is the most a body buffer starts with. The buffer then
// doubles as bytes arrive, never past the declared Content-Length or the
// limit: what a request holds is at most twice what its client has sent
// (plus this much), never what its header claims it will send.
const firstBodyChunk = 16 << 10

// freeBodyBytes of every body's buffer are not drawn from the shared body
// budget: ordinary requests (a prompt is a few KiB) are never refused because
// large or trickled bodies hold the budget. What they may hold is bounded by
// MaxInFlight x freeBodyBytes instead.
const freeBodyBytes = 64 << 10

// charged is the share of the body budget a buffer of capacity c holds.
func charged(c int64) int64 { return max(c-freeBodyBytes, 0) }

// errBodyBudget is returned when the replica's body-memory budget is spent.
var errBodyBudget = errors.New("the proxy is buffering as many request bodies as it may; retry shortly")

// requestBody is a request's buffered body and the share of the replica's
// body budget it holds; release gives the share back once nothing reads the
// bytes any more (when the handler returns).
type requestBody struct {
	buf      []byte
	reserved int64
	budget   *counter
}

func (b *requestBody) release() {
	if b.reserved > 0 {
		b.budget.give(b.reserved)
		b.reserved = 0
	}
}

// grow makes room for more bytes, reserving the growth from the budget.
// want is the capacity the body needs at most (Content-Length or limit+1).
func (b *requestBody) grow(want int64) error {
	c := int64(cap(b.buf))
	next := min(max(2*c, firstBodyChunk), want)
	if next <= c {
		next = c + 1 // cannot happen while want > len; a guard against a stall
	}
	if d := charged(next) - charged(c); d > 0 {
		if !b.budget.take(d) {
			return errBodyBudget
		}
		b.reserved += d
	}
	nb := make([]byte, len(b.buf), next)
	copy(nb, b.buf)
	// reserved now matches the new capacity: the old buffer is garbage,
	// which the collector bounds (GOMEMLIMIT in the Deployment).
	b.buf = nb
	return nil
}

// readBody buffers the request body, at most limit bytes, so that it can be
// replayed on failover. It reads incrementally: memory grows with the bytes
// received, never from the Content-Length header, and comes out of budget.
// The caller bounds the time it takes with a read deadline (bodyDeadline).
// On failure it returns the error kind to answer with; the connection must
// then be closed, as the rest of the body is unread. The caller must call
// b.release; b is the caller's, so that it costs no allocation.
func readBody(b *requestBody, w http.ResponseWriter, r *http.Request, limit int64) (provider.Error, error) {
	if r.ContentLength > limit {
		// Refuse before reading a byte; net/http closes the connection
		// rather than drain a body this large.
		return provider.ErrTooLarge, fmt.Errorf("request body of %d bytes exceeds the proxy's limit of %d bytes",
			r.ContentLength, limit)
	}
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return 0, nil
	}
	// MaxBytesReader also tells the server to close the connection if the
	// client sends more than the limit.
	body := http.MaxBytesReader(w, r.Body, limit)
	want := limit + 1 // room to notice a chunked body over the limit
	if r.ContentLength > 0 {
		want = r.ContentLength
	}
	for {
		if len(b.buf) == cap(b.buf) {
			if int64(len(b.buf)) == r.ContentLength {
				break // all declared bytes are in; net/http serves no more
			}
			if err := b.grow(want); err != nil {
				return provider.ErrUnavailable, err
			}
		}
		n, err := body.Read(b.buf[len(b.buf):cap(b.buf)])
		b.buf = b.buf[:len(b.buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			kind, err := bodyErrKind(err, limit)
			return kind, err
		}
	}
	if int64(len(b.buf)) < r.ContentLength {
		return provider.ErrBadRequest, fmt.Errorf("read request body: %w", io.ErrUnexpectedEOF)
	}
	return 0, nil
}

// bodyDeadline bounds, from the end of r's headers, the time its body may
// take to arrive: readBody's reads, and the read of an unread body that
// net/http makes after an early answer (401, 404, 503). Call lift on the
// result once the body is in, so that the server's background read, which
// notices a client leaving, does not fail on it. Without a body (or outside
// a real server) there is no deadline and the result is nil.
func bodyDeadline(w http.ResponseWriter, r *http.Request, timeout time.Duration) readDeadliner {
	if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	d, ok := controllerOf[readDeadliner](w)
	if !ok || d.SetReadDeadline(time.Now().Add(timeout)) != nil {
		return nil
	}
	return d
}

// readDeadliner and errFlusher are the parts of net/http's ResponseWriter
// that http.ResponseController reaches.
type (
	readDeadliner interface{ SetReadDeadline(time.Time) error }
	errFlusher    interface{ FlushError() error }
)

// controllerOf finds the T that w or a writer it wraps implements, as
// http.ResponseController does, without allocating a controller per
// request.
func controllerOf[T any](w http.ResponseWriter) (T, bool) {
	for {
		if c, ok := w.(T); ok {
			return c, true
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			var zero T
			return zero, false
		}
		w = u.Unwrap()
	}
}

// lift removes the read deadline bodyDeadline set, if any.
func lift(d readDeadliner) {
	if d != nil {
		_ = d.SetReadDeadline(time.Time{})
	}
}

// bodyErrKind maps a body read error to the answer.
func bodyErrKind(err error, limit int64) (provider.Error, error) {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return provider.ErrTooLarge, fmt.Errorf("request body exceeds the proxy's limit of %d bytes", limit)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return provider.ErrRequestTimeout, errors.New("the request body did not arrive in time")
	}
	return provider.ErrBadRequest, fmt.Errorf("read request body: %w", err)
}
