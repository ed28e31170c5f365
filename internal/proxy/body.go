package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/keypool-dev/keypool-operator/internal/provider"
)

// readBody buffers the request body, at most limit bytes, so that it can be
// replayed on failover. On failure it returns the error kind to answer with.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, provider.Error, error) {
	if r.ContentLength > limit {
		// Refuse before reading a byte; net/http closes the connection
		// rather than drain a body this large.
		return nil, provider.ErrTooLarge, fmt.Errorf("request body of %d bytes exceeds the proxy's limit of %d bytes",
			r.ContentLength, limit)
	}
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil, 0, nil
	}
	// MaxBytesReader also tells the server to close the connection if the
	// client sends more than the limit.
	body := http.MaxBytesReader(w, r.Body, limit)
	var (
		buf []byte
		err error
	)
	if r.ContentLength > 0 {
		// The common case: one exactly sized allocation.
		buf = make([]byte, r.ContentLength)
		_, err = io.ReadFull(body, buf)
	} else {
		var b bytes.Buffer
		_, err = b.ReadFrom(body)
		buf = b.Bytes()
	}
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, provider.ErrTooLarge, fmt.Errorf("request body exceeds the proxy's limit of %d bytes", limit)
		}
		return nil, provider.ErrBadRequest, fmt.Errorf("read request body: %w", err)
	}
	return buf, 0, nil
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
