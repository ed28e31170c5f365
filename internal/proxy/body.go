package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// firstBodyChunk is the most a body buffer starts with. The buffer then
// doubles as bytes arrive, never past the declared Content-Length or the
// limit: what a request holds is at most twice what its client has sent
// (plus this much), never what its header claims it will send.
const firstBodyChunk = 16 << 10

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
	if !b.budget.take(next - c) {
		return errBodyBudget
	}
	b.reserved += next - c
	nb := make([]byte, len(b.buf), next)
	copy(nb, b.buf)
	// reserved is now the new capacity: the old buffer is garbage, which
	// the collector bounds (GOMEMLIMIT in the Deployment).
	b.buf = nb
	return nil
}

// readBody buffers the request body, at most limit bytes, so that it can be
// replayed on failover. It reads incrementally: memory grows with the bytes
// received, never from the Content-Length header, and comes out of budget.
// The whole body must arrive within timeout. On failure it returns the error
// kind to answer with. The caller must call release on the result.
func readBody(w http.ResponseWriter, r *http.Request, limit int64, budget *counter, timeout time.Duration) (*requestBody, errKind, error) {
	b := &requestBody{budget: budget}
	if r.ContentLength > limit {
		// Refuse before reading a byte; net/http closes the connection
		// rather than drain a body this large.
		return b, errTooLarge, fmt.Errorf("request body of %d bytes exceeds the proxy's limit of %d bytes", r.ContentLength, limit)
	}
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return b, errKind{}, nil
	}
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(time.Now().Add(timeout)) == nil {
		// Clear it once the body is in: the server's background read that
		// notices a client leaving must not fail on it.
		defer func() { _ = rc.SetReadDeadline(time.Time{}) }()
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
				return b, errUnavailable, err
			}
		}
		n, err := body.Read(b.buf[len(b.buf):cap(b.buf)])
		b.buf = b.buf[:len(b.buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			kind, err := bodyErrKind(err, limit)
			return b, kind, err
		}
	}
	if int64(len(b.buf)) < r.ContentLength {
		return b, errBadRequest, fmt.Errorf("read request body: %w", io.ErrUnexpectedEOF)
	}
	return b, errKind{}, nil
}

// bodyErrKind maps a body read error to the answer.
func bodyErrKind(err error, limit int64) (errKind, error) {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return errTooLarge, fmt.Errorf("request body exceeds the proxy's limit of %d bytes", limit)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return errRequestTimeout, errors.New("the request body did not arrive in time")
	}
	return errBadRequest, fmt.Errorf("read request body: %w", err)
}

// replayBody is one attempt's request body over the buffered bytes. Every
// attempt gets its own reader because the transport may still read (or
// close) the previous one after RoundTrip returned.
type replayBody struct{ bytes.Reader }

func (*replayBody) Close() error { return nil }

func newReplayBody(b []byte) *replayBody {
	rb := &replayBody{}
	rb.Reset(b)
	return rb
}
