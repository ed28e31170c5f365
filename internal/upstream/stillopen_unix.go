//go:build unix

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
	"errors"
	"syscall"
)

// stillOpen reports whether an idle connection has not been closed by the
// server: a non-blocking peek at its socket sees no end of stream. This is
// what lets the transport do without net/http's reader goroutine per idle
// connection, which notices the close as it happens.
func (c *conn) stillOpen() bool {
	if c.raw == nil {
		return true
	}
	if c.br.Buffered() > 0 {
		return false // bytes nobody asked for: the connection is out of step
	}
	c.peek.open = true
	if err := c.raw.Read(c.peek.fn); err != nil {
		return false
	}
	return c.peek.open
}

// peeker is a connection's non-blocking peek, made once per connection so
// that checking an idle connection allocates nothing.
type peeker struct {
	tls  bool
	open bool
	buf  [1]byte
	fn   func(fd uintptr) bool
}

func (p *peeker) init(tls bool) {
	p.tls = tls
	p.fn = func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), p.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case errors.Is(err, syscall.EAGAIN):
			// nothing to read: open and idle
		case err != nil || n == 0:
			p.open = false // closed or reset by the server
		case !p.tls:
			p.open = false // bytes where none were asked for
		}
		// A TLS 1.3 server may send a session ticket after the handshake:
		// the TLS layer reads it with the next response.
		return true // never wait: this is a peek
	}
}
