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
	"context"
	"io"
	"net/http"

	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/usage"
)

// respond passes resp to the client: status, end-to-end headers and the body,
// which is never buffered beyond one read. Event streams (and bodies of
// unknown length) are flushed after every read, so each event reaches the
// client as soon as the upstream sent it. The usage scanner sees the same
// bytes, and the lease is settled with what it found however the copy ends.
//
// If the upstream breaks off mid-body, the handler aborts the client's
// response (http.ErrAbortHandler) so the client sees a truncated response
// rather than a clean end; there is no retry once a byte went out.
func (x *exchange) respond(resp *http.Response, lease *keypool.Lease, attempt int) {
	h := x.w.Header()
	copyResponseHeader(h, resp.Header, x.prov)
	h[HeaderKey] = x.s.keyIDValue(lease.KeyID)
	h[HeaderAttempts] = attemptsValue(attempt)

	format := usage.FormatNone
	if resp.Header.Get("Content-Encoding") == "" { // an encoded body cannot be read for usage
		format = usage.FormatOf(resp.Header.Get("Content-Type"))
	}
	x.scan.Reset(format, x.prov.Usage())
	if format != usage.FormatSSE {
		// Not an event stream the filter can read (an error body, an
		// encoded stream): passed on as it comes.
		x.usageFilter = nil
	}
	flush := format == usage.FormatSSE || resp.ContentLength < 0

	x.letGoOfBody() // no attempt sends it again
	x.w.WriteHeader(resp.StatusCode)
	var fl errFlusher
	if flush {
		fl, _ = controllerOf[errFlusher](x.w)
		if fl != nil {
			// Headers go out now: SDKs wait for them before reading events.
			_ = fl.FlushError()
		}
	}
	upstreamErr, clientErr := x.copyBody(resp.Body, fl)
	_ = resp.Body.Close() // before EOF this closes the upstream connection

	if upstreamErr != nil && clientErr == nil {
		// An upstream that keeps cutting answers off is unhealthy even
		// though its headers said 200: count it for the circuit breaker.
		x.req.Failed(upstreamErr)
	}
	if x.usageFilter != nil && clientErr == nil {
		if err := x.usageFilter.flush(x.w); err == nil && fl != nil {
			_ = fl.FlushError()
		}
	}
	t := x.scan.Tokens()
	charged := x.charged(format, resp.StatusCode)
	err := upstreamErr
	if clientErr != nil {
		err = clientErr
	}
	x.end(lease.KeyID, resp.StatusCode, attempt, charged, t, err)
	if upstreamErr != nil && clientErr == nil {
		// Send what was buffered first, so the client sees the status and
		// the partial body, then cut the connection.
		_ = http.NewResponseController(x.w).Flush()
		panic(http.ErrAbortHandler)
	}
}

// copyBody copies body to the client, feeding the usage scanner, flushing
// after every write when fl is set (a stream). It reports whether the upstream or the
// client ended the copy early; a client that went away cancels the request
// context, which also ends the upstream read.
func (x *exchange) copyBody(body io.Reader, fl errFlusher) (upstreamErr, clientErr error) {
	var buf []byte
	if fl != nil {
		b := x.s.streamBufs.Get().(*[streamBufSize]byte)
		defer x.s.streamBufs.Put(b)
		buf = b[:]
	} else {
		b := x.s.bufs.Get().(*[copyBufSize]byte)
		defer x.s.bufs.Put(b)
		buf = b[:]
	}
	ctx := x.r.Context()
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			if werr := x.forward(buf[:n], fl); werr != nil {
				return nil, werr
			}
		}
		if done, upstreamErr, clientErr := endOfCopy(ctx, rerr); done {
			return upstreamErr, clientErr
		}
	}
}

// forward passes p to the usage scanner (and the GenAI recorder) and to the
// client, flushing when fl is set.
func (x *exchange) forward(p []byte, fl errFlusher) error {
	if x.genai != nil {
		x.genai.chunk(p)
	}
	_, _ = x.scan.Write(p)
	if x.usageFilter != nil {
		if err := x.usageFilter.write(x.w, p); err != nil {
			return err
		}
	} else if _, err := x.w.Write(p); err != nil {
		return err
	}
	if fl != nil {
		return fl.FlushError()
	}
	return nil
}

// endOfCopy says whether a copy ends after a read that returned err, and
// whose fault an early end is: a client that went away cancels ctx.
func endOfCopy(ctx context.Context, err error) (done bool, upstreamErr, clientErr error) {
	switch {
	case err == nil:
		return false, nil, nil
	case err == io.EOF:
		return true, nil, nil
	case ctx.Err() != nil:
		return true, nil, ctx.Err()
	}
	return true, err, nil
}
