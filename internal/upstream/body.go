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
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"golang.org/x/net/http/httpguts"
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
	// framing: remaining bytes for a known length (or of the current
	// chunk), chunked, or neither (read until the connection closes)
	remaining int64
	chunked   bool
	inChunks  bool // a chunk was read: its CRLF precedes the next size line
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
	// As net/http has it: the framing is in TransferEncoding, not the
	// header, and HTTP/1.0 has no transfer codings.
	te := resp.Header["Transfer-Encoding"]
	delete(resp.Header, "Transfer-Encoding")
	if resp.ProtoMajor == 1 && resp.ProtoMinor == 0 {
		te = nil
	}
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
		// A Content-Length beside chunked means nothing.
		delete(resp.Header, "Content-Length")
		resp.TransferEncoding = chunkedCoding
		b.chunked = true
	default:
		n := contentLength(resp.Header)
		if n == -2 {
			return errors.New("malformed response Content-Length")
		}
		if vs := resp.Header["Content-Length"]; len(vs) > 1 {
			resp.Header["Content-Length"] = vs[:1] // all equal: one, as net/http keeps
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

// Buffered is how many bytes of the response (framing included) are read
// from the connection and not yet returned: more than zero means the next
// Read does not wait. Only the body's reader may call it.
func (b *body) Buffered() int {
	if b.state.Load() == bodyDone {
		return 0
	}
	return b.c.br.Buffered()
}

func (b *body) Read(p []byte) (int, error) {
	if b.state.Load() == bodyDone {
		return 0, b.doneErr()
	}
	n, err := b.read(p)
	return n, b.settle(err)
}

// Next returns the body's next bytes straight from the connection's read
// buffer, without copying them: they are valid until the next call to
// Next, Read or Close. It waits for bytes only when none are buffered, and
// returns what is buffered of the current chunk (or length), so a held
// stream needs no buffer of its caller's while it waits, and an event is
// returned as soon as it is in. The end is a call returning no bytes and
// io.EOF.
func (b *body) Next() ([]byte, error) {
	if b.state.Load() == bodyDone {
		return nil, b.doneErr()
	}
	p, err := b.next()
	return p, b.settle(err)
}

// doneErr is what reading a finished body says.
func (b *body) doneErr() error {
	if b.closed.Load() {
		return errBodyClosed
	}
	return io.EOF
}

// settle finishes the body on the end or an error of a read, and says what
// the caller sees.
func (b *body) settle(err error) error {
	switch {
	case err == nil:
		return nil
	case err == io.EOF:
		b.finish(true)
		return io.EOF
	case b.closed.Load():
		return errBodyClosed
	}
	b.finish(false)
	if cerr := b.ctx.Err(); cerr != nil {
		return cerr // the cancellation expired the connection's deadline
	}
	return fmt.Errorf("read response body: %w", err)
}

// next is Next's framing: the buffered bytes of the current chunk or
// length, waiting for one byte when none is buffered.
func (b *body) next() ([]byte, error) {
	if err := b.frame(); err != nil {
		return nil, err
	}
	br := b.c.br
	if br.Buffered() == 0 {
		if _, err := br.Peek(1); err != nil {
			if err == io.EOF && !b.untilEOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	n := br.Buffered()
	if !b.untilEOF && int64(n) > b.remaining {
		n = int(b.remaining)
	}
	p, _ := br.Peek(n) // buffered: no wait, no error
	_, _ = br.Discard(n)
	if !b.untilEOF {
		// The end is said by the next call, never with the last bytes:
		// at the end the connection goes back to the pool, and another
		// request's reads would overwrite p while the caller still has it.
		b.remaining -= int64(n)
	}
	return p, nil
}

func (b *body) read(p []byte) (int, error) {
	if b.untilEOF {
		return b.c.br.Read(p)
	}
	if err := b.frame(); err != nil {
		return 0, err
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.c.br.Read(p)
	b.remaining -= int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err == nil && b.remaining == 0 && !b.chunked {
		err = io.EOF
	}
	return n, err
}

// frame readies the framing of the body's next bytes: past a chunk's end it
// reads the next chunk's size line, and at a known length's end (or after
// the last chunk) it says io.EOF. A body read until the connection closes
// has no framing.
func (b *body) frame() error {
	switch {
	case b.untilEOF:
	case b.chunked && b.remaining == 0:
		return b.nextChunk()
	case b.remaining == 0:
		return io.EOF
	}
	return nil
}

// nextChunk reads up to the next chunk's data (RFC 9112 section 7.1): the
// CRLF ending the previous chunk and the size line, whose extensions are
// ignored. After the last chunk it reads the trailer and says io.EOF. It
// reads no further than a chunk's start, so a stream's Read never waits
// for an event beyond the one it returns.
func (b *body) nextChunk() error {
	if b.inChunks {
		line, err := readChunkLine(b.c.br)
		if err != nil {
			return unexpected(err)
		}
		if len(line) != 0 {
			return errors.New("malformed chunked body: data beyond the chunk's size")
		}
	}
	line, err := readChunkLine(b.c.br)
	if err != nil {
		return unexpected(err)
	}
	size, err := chunkSize(line)
	if err != nil {
		return err
	}
	b.inChunks = true
	if size == 0 {
		if err := b.skipTrailer(); err != nil {
			return unexpected(err)
		}
		return io.EOF
	}
	b.remaining = size
	return nil
}

// readChunkLine reads a line of the chunked framing, which must end in
// CRLF (net/http's reader, which the fuzz test holds this one to, refuses
// a bare LF there).
func readChunkLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, errors.New("malformed chunked body: chunk line too long")
	}
	if err != nil {
		return nil, err
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return nil, errors.New("malformed chunked body: line ends with a bare LF")
	}
	return line[:len(line)-2], nil
}

// chunkSize parses a chunk-size line: hex digits, then optional blanks and
// ;extensions.
func chunkSize(line []byte) (int64, error) {
	var n int64
	i := 0
	for ; i < len(line); i++ {
		d, ok := hexDigit(line[i])
		if !ok {
			break
		}
		if i == 15 {
			return 0, errors.New("malformed chunked body: chunk size too large")
		}
		n = n<<4 | int64(d)
	}
	digits := i
	for ; i < len(line) && (line[i] == ' ' || line[i] == '\t'); i++ {
	}
	if digits == 0 || i < len(line) && line[i] != ';' {
		return 0, fmt.Errorf("malformed chunk size line %q", truncate(line))
	}
	return n, nil
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// skipTrailer reads the trailer section after the last chunk; its fields
// are checked as header fields are, and not passed on (providers send
// none).
func (b *body) skipTrailer() error {
	for {
		line, err := readChunkLine(b.c.br)
		if err != nil {
			return err
		}
		if len(line) == 0 {
			return nil
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !httpguts.ValidHeaderFieldName(str(line[:colon])) || !httpguts.ValidHeaderFieldValue(str(line[colon+1:])) {
			return fmt.Errorf("malformed trailer line %q", truncate(line))
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

// chunkedCoding is every chunked response's TransferEncoding: shared, as
// nobody writes it.
var chunkedCoding = []string{"chunked"}

// chunkedWriter frames writes as HTTP/1.1 chunks, in the connection's
// write buffer (so a chunk's framing allocates nothing).
type chunkedWriter struct{ w *bufio.Writer }

func (cw chunkedWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	head := strconv.AppendInt(cw.w.AvailableBuffer(), int64(len(p)), 16)
	if _, err := cw.w.Write(append(head, '\r', '\n')); err != nil {
		return 0, err
	}
	n, err := cw.w.Write(p)
	if err != nil {
		return n, err
	}
	_, err = cw.w.WriteString("\r\n")
	return n, err
}

func isConnReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }
