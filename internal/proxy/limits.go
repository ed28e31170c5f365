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
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/provider"

	"github.com/keypool-dev/keypool-operator/internal/keypool"
)

// overCapRetryAfter is the Retry-After of a request shed at a replica's
// connection, in-flight or body-memory cap: these caps free up as soon as
// other requests end, so a short wait (or another replica) is the advice.
const overCapRetryAfter = "1"

// overCapHeaderTimeout is how long a connection accepted beyond
// MaxConnections has to send its request headers and get its 503: such a
// connection is only served to tell its client to come back.
const overCapHeaderTimeout = 2 * time.Second

// setLimitDefaults fills the memory-bounding fields left zero.
func (o *Options) setLimitDefaults() {
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if o.ReadHeaderTimeout <= 0 {
		o.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if o.BodyReadTimeout <= 0 {
		o.BodyReadTimeout = DefaultBodyReadTimeout
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = DefaultMaxConnections
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	if o.MaxBufferedBodyBytes <= 0 {
		o.MaxBufferedBodyBytes = DefaultMaxBufferedBodyBytes
	}
}

// limitListener bounds the connections being served. Up to soft connections
// are served normally; the next hard-soft ones are served one 503 each (see
// overCap) so that their clients learn to retry instead of hanging; beyond
// hard, Accept waits for a connection to close, and new ones queue in the
// kernel's backlog, costing the process nothing.
type limitListener struct {
	net.Listener
	soft   int64
	slots  chan struct{} // one token per accepted, open connection; cap hard
	active atomic.Int64
	closed chan struct{}
	once   sync.Once
}

func newLimitListener(ln net.Listener, soft int) *limitListener {
	hard := soft + max(soft/8, 1)
	return &limitListener{
		Listener: ln,
		soft:     int64(soft),
		slots:    make(chan struct{}, hard),
		closed:   make(chan struct{}),
	}
}

// Accept waits for a free slot, then accepts.
func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.closed:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	lc := &limitedConn{Conn: c, l: l}
	if l.active.Add(1) > l.soft {
		lc.over = true
		lc.deadline = time.Now().Add(overCapHeaderTimeout)
		_ = c.SetDeadline(lc.deadline)
	}
	return lc, nil
}

// Close closes the listener and releases a goroutine waiting in Accept.
func (l *limitListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// limitedConn gives its slot back when closed. An over-cap connection's
// deadline never moves past the one set at Accept, whatever net/http asks
// for, so it cannot outstay its 503.
type limitedConn struct {
	net.Conn
	l        *limitListener
	over     bool
	deadline time.Time
	once     sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.active.Add(-1)
		<-c.l.slots
	})
	return err
}

func (c *limitedConn) clamp(t time.Time) time.Time {
	if c.over && (t.IsZero() || t.After(c.deadline)) {
		return c.deadline
	}
	return t
}

func (c *limitedConn) SetDeadline(t time.Time) error     { return c.Conn.SetDeadline(c.clamp(t)) }
func (c *limitedConn) SetReadDeadline(t time.Time) error { return c.Conn.SetReadDeadline(c.clamp(t)) }
func (c *limitedConn) SetWriteDeadline(t time.Time) error {
	return c.Conn.SetWriteDeadline(c.clamp(t))
}

// overCapKey marks, in a request's context, a connection accepted beyond
// MaxConnections.
type overCapKey struct{}

// connContext is http.Server.ConnContext: it tells the handler which
// connections are over the cap.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if lc, ok := c.(*limitedConn); ok && lc.over {
		return context.WithValue(ctx, overCapKey{}, true)
	}
	return ctx
}

func overCap(r *http.Request) bool {
	v, _ := r.Context().Value(overCapKey{}).(bool)
	return v
}

// counter is a non-blocking semaphore of n units.
type counter struct {
	used atomic.Int64
	max  int64
}

// take reserves n units if they fit.
func (c *counter) take(n int64) bool {
	if c.used.Add(n) > c.max {
		c.used.Add(-n)
		return false
	}
	return true
}

func (c *counter) give(n int64) { c.used.Add(-n) }

// The caps a request can be shed at, as the shed metric names them.
const (
	capConnections = "connections"
	capInFlight    = "in_flight"
	capBodyMemory  = "body_memory"
)

// shed answers a request the replica has no room for with 503 in the
// provider's shape (the pool's, when the path names one) and a Retry-After,
// and closes the connection: it frees a connection slot, and net/http does
// not wait for a body nobody will read.
func (s *Server) shed(w http.ResponseWriter, r *http.Request, capName, msg string) {
	s.metrics.shed.WithLabelValues(capName).Inc()
	h := w.Header()
	h.Set("Retry-After", overCapRetryAfter)
	h.Set("Connection", "close")
	s.providerOf(r).WriteError(w, provider.ErrUnavailable, msg)
}

// providerOf is the error shape for r before it is routed: its pool's
// provider, else a guess.
func (s *Server) providerOf(r *http.Request) provider.Provider {
	rt, ok := parseRoute(r)
	if !ok {
		return provider.Guess(r, r.URL.Path)
	}
	if pool, ok := s.reg.Get(rt.namespace, rt.name); ok {
		return pool.Provider()
	}
	return provider.Guess(r, rt.rest)
}

// queueFull answers a request that found no capacity and no room in its
// pool's queue of waiting requests: 429 with the pool's Retry-After, booked
// for the client's retry when the pool could.
func (x *exchange) queueFull(exhausted *keypool.ExhaustedError, attempts int) {
	retry := time.Duration(0)
	if exhausted != nil {
		retry = exhausted.RetryAfter
	}
	h := x.w.Header()
	h.Set("Retry-After", retryAfterSeconds(retry))
	h[HeaderAttempts] = attemptsValue(attempts)
	advice := retryAdvice(h, exhausted)
	x.pm.queueRejected.Inc()
	x.prov.WriteError(x.w, provider.ErrRateLimited, "KeyPool "+x.route.namespace+"/"+x.route.name+
		" has as many requests waiting for capacity as it may queue; "+advice)
	x.finish(keyNone, http.StatusTooManyRequests, attempts, keypool.ErrQueueFull)
}
