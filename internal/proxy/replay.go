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
	"bytes"
	"errors"
	"io"
	"sync"
)

// The buffered request body is sent once per attempt, each time through a
// replayBody of its own, and let go (its bytes and its share of the body
// budget) as soon as nothing can read it any more: the answer being passed
// on means no attempt sends it again (letGoOfBody), and net/http's transport
// closes every body it was given once it has written it or given up on it.
// A held stream then keeps neither its prompt nor budget for as long as it
// runs. The budget goes back at the latest when the handler returns
// (endOfBody), even if a transport still holds a body: the upstream may
// answer before it read the whole request, and the transport may write the
// rest after the answer was read and closed. The bytes are then the
// collector's once it lets go.

// replayBody is one attempt's request body over the buffered bytes. Every
// attempt gets its own reader because the transport may still read (or
// close) the previous one after RoundTrip returned.
type replayBody struct {
	x *exchange
	// mu: Close may come while a Read runs (http.Request.Body's contract
	// for client requests).
	mu     sync.Mutex
	r      bytes.Reader
	read   bool // the transport has read bytes of it
	closed bool
}

// Read implements io.Reader.
func (b *replayBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.r.Read(p)
	b.read = b.read || n > 0
	return n, err
}

func (b *replayBody) wasRead() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.read
}

// Close is the transport saying it is done with the body: the reader lets
// go of the bytes, and the exchange learns that one reader fewer holds them.
func (b *replayBody) Close() error {
	b.mu.Lock()
	first := !b.closed
	b.closed = true
	b.r.Reset(nil)
	b.mu.Unlock()
	if first {
		b.x.bodyClosed()
	}
	return nil
}

// replayBody is an attempt's request body: the first one is part of the
// exchange, which saves an allocation for every request that needs no
// failover.
func (x *exchange) replayBody(attempt int) io.ReadCloser {
	if attempt > 1 {
		return x.newReplayBody()
	}
	x.bodyRefs.Add(1)
	x.firstBody.x = x
	x.firstBody.r.Reset(x.body.buf)
	x.sending = &x.firstBody
	return &x.firstBody
}

// errMayHaveActed refuses net/http's resend of a request whose body went to
// a connection: the upstream may have acted on it.
var errMayHaveActed = errors.New("the upstream connection failed after the request was sent, " +
	"and the request is not safe to repeat")

// getBody is the request's GetBody: the transport asks for the body again
// to resend the request on a new connection, within RoundTrip. net/http
// does so for a POST when nothing of it was written, but also after it was
// written when the client sent an Idempotency-Key (OpenAI's SDKs send one
// with every POST). A body the transport has read is resent only where the
// proxy's own failover would send it again (safeToRepeat): a batch or a
// file is never created twice. Refused, the attempt fails with the
// transport's error, as any broken connection does.
func (x *exchange) getBody() (io.ReadCloser, error) {
	if x.sending.wasRead() && !x.safeToRepeat() {
		return nil, errMayHaveActed
	}
	return x.newReplayBody(), nil
}

func (x *exchange) newReplayBody() *replayBody {
	x.bodyRefs.Add(1)
	b := &replayBody{x: x}
	b.r.Reset(x.body.buf)
	x.sending = b
	return b
}

// bodyClosed counts a closed body; the last one lets the budget go once the
// exchange let go of the body too. It may run on the transport's goroutine.
func (x *exchange) bodyClosed() {
	if x.bodyRefs.Add(-1) == 0 {
		x.releaseBody()
	}
}

// letGoOfBody says no attempt sends the body again. It runs on the
// handler's goroutine, once the answer to pass on is known.
func (x *exchange) letGoOfBody() {
	if x.bodyLetGo {
		return
	}
	x.bodyLetGo = true
	x.body.buf = nil
	x.bodyClosed()
}

// endOfBody runs when the handler returns: whatever a transport still
// holds, the budget goes back now.
func (x *exchange) endOfBody() {
	x.letGoOfBody()
	x.releaseBody()
}

// releaseBody gives the body's share of the budget back, once: the last
// closed body and the handler's end may race for it.
func (x *exchange) releaseBody() {
	if x.bodyReleased.CompareAndSwap(false, true) {
		x.body.release()
	}
}
