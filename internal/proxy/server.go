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
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/provider"

	"github.com/go-logr/logr"

	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/quota"
)

// Server life-cycle states, for Ready.
const (
	stateIdle int32 = iota
	stateServing
	stateStopping
)

// copyBufSize is the read size for JSON response bodies: large enough for a
// whole typical response in one read. streamBufSize is the read size for
// streams: a stream's reader waits in Read between events holding its
// buffer, so with thousands of streams open the buffer is most of their
// memory, while one SSE event is a few hundred bytes.
const (
	copyBufSize   = 32 << 10
	streamBufSize = 4 << 10
)

// Server is the proxy. It is an http.Handler (mount it anywhere, or use
// httptest) and a controller-runtime Runnable (Start) that runs on every
// replica (NeedLeaderElection is false).
type Server struct {
	reg        *keypool.Registry
	opts       Options
	log        logr.Logger
	transport  http.RoundTripper
	metrics    *metrics
	state      atomic.Int32
	stopping   chan struct{}  // closed when graceful shutdown begins
	bufs       sync.Pool      // *[copyBufSize]byte
	streamBufs sync.Pool      // *[streamBufSize]byte
	checks     sync.WaitGroup // key re-checks running (keycheck.go)
	inFlight   counter        // requests being handled, up to MaxInFlight
	bodyBytes  counter        // request-body bytes buffered, up to MaxBufferedBodyBytes
	keyIDs     keyIDValues    // X-Keypool-Key values
	keyRTs     keyTransports  // each key's provider.Authenticate over transport
}

// New returns a proxy over the pools of reg. It registers the proxy's metrics
// with opts.Metrics (once per Registerer); if that fails (a conflicting
// collector of the same name) it logs the error and serves without metrics
// rather than refusing to start the data plane.
func New(reg *keypool.Registry, opts Options) *Server {
	opts.setDefaults()
	s := &Server{
		reg:       reg,
		opts:      opts,
		log:       opts.Logger,
		transport: opts.Transport,
		stopping:  make(chan struct{}),
	}
	s.bufs.New = func() any { return new([copyBufSize]byte) }
	s.streamBufs.New = func() any { return new([streamBufSize]byte) }
	s.inFlight.max = int64(opts.MaxInFlight)
	s.bodyBytes.max = opts.MaxBufferedBodyBytes
	m, err := metricsFor(opts.Metrics, reg)
	if err != nil {
		s.log.Error(err, "proxy metrics disabled")
		m = newUnregisteredMetrics()
	}
	if m.keysErr != nil {
		s.log.Error(m.keysErr, "proxy keypool_keys metric disabled")
	}
	s.metrics = m
	return s
}

// NeedLeaderElection implements controller-runtime's LeaderElectionRunnable:
// the proxy serves on every replica, leader or not.
func (s *Server) NeedLeaderElection() bool { return false }

// Ready is a readiness check (a controller-runtime healthz.Checker): nil once
// Start is listening, an error before that and from the moment shutdown
// begins, so that the Service stops sending traffic while in-flight requests
// finish.
func (s *Server) Ready(_ *http.Request) error {
	switch s.state.Load() {
	case stateServing:
		return nil
	case stateStopping:
		return errors.New("proxy is shutting down")
	default:
		return errors.New("proxy is not listening yet")
	}
}

// Start listens on Options.Addr (or serves Options.Listener) until ctx is
// done, then shuts down gracefully: it stops accepting connections, lets
// in-flight requests and streams finish for up to Options.ShutdownGrace, and
// then closes whatever is left. It returns nil after a shutdown, or the error
// that kept it from serving. Call it at most once per Server.
func (s *Server) Start(ctx context.Context) error {
	ln := s.opts.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", s.opts.Addr); err != nil {
			return fmt.Errorf("proxy listen on %s: %w", s.opts.Addr, err)
		}
	}
	ln = newLimitListener(ln, s.opts.MaxConnections)
	srv := &http.Server{
		Handler: s,
		// No ReadTimeout/WriteTimeout: a stream may last many minutes. Slow
		// clients are bounded while sending headers here and while sending
		// the body by readBody's deadline.
		ReadHeaderTimeout: s.opts.ReadHeaderTimeout,
		IdleTimeout:       s.opts.IdleTimeout,
		MaxHeaderBytes:    s.opts.MaxHeaderBytes,
		ConnContext:       connContext,
		ErrorLog:          log.New(serverLogWriter{s.log}, "", 0),
	}
	served := make(chan error, 1)
	// Ready as soon as the socket is bound: connections queue in the backlog
	// until Serve accepts them.
	s.state.Store(stateServing)
	go func() { served <- srv.Serve(ln) }()
	s.log.Info("proxy listening", "addr", ln.Addr().String())

	select {
	case err := <-served:
		s.state.Store(stateStopping)
		return fmt.Errorf("proxy serve: %w", err)
	case <-ctx.Done():
	}

	s.state.Store(stateStopping)
	close(s.stopping)
	s.log.Info("proxy shutting down", "grace", s.opts.ShutdownGrace.String())
	// The grace period is measured from now, not from ctx, which is done.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		// Streams outlived the grace period: cut them off. The clients see a
		// truncated response, as they would from a crashed replica.
		s.log.Info("proxy grace period over, closing remaining connections", "reason", err.Error())
		_ = srv.Close()
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		s.log.Error(err, "proxy serve ended unexpectedly")
	}
	s.log.Info("proxy stopped")
	return nil
}

// ServeHTTP handles /pools/{namespace}/{name}/v1/... .
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	deadline := bodyDeadline(w, r, s.opts.BodyReadTimeout)
	if overCap(r) {
		s.shed(w, r, capConnections, "the proxy replica is serving as many connections as it may; retry shortly")
		return
	}
	if !s.inFlight.take(1) {
		s.shed(w, r, capInFlight, "the proxy replica is handling as many requests as it may; retry shortly")
		return
	}
	defer s.inFlight.give(1)
	rt, ok := parseRoute(r)
	if !ok {
		provider.Guess(r, r.URL.Path).WriteError(w, provider.ErrNotFound,
			"no route: the proxy serves /pools/{namespace}/{name}/v1/...")
		return
	}
	// A pool that does not exist answers as one that refuses the token, so
	// that callers without a token cannot probe which pools exist (see
	// unauthorized).
	pool, ok := s.reg.Get(rt.namespace, rt.name)
	var acc *keypool.Access // loaded once: the request is served as it was authorised
	if ok {
		acc = pool.Access()
	}
	client, authed := "", false
	if ok {
		client, authed = authenticate(acc, r.Header, r.URL.RawQuery)
	}
	if !authed {
		s.unauthorized(w, r, &rt, pool)
		return
	}
	prov := pool.Provider()
	pm := s.metrics.pool(rt.namespace, rt.name)
	cm := pm.client(client)
	if !validRest(rt.rest, prov) {
		pm.request(keyNone, http.StatusNotFound)
		clientDone(pool, cm, client, quota.OutcomeServed)
		prov.WriteError(w, provider.ErrNotFound,
			"only the provider API (under "+strings.Join(provider.APIRoots(prov), ", ")+") is proxied")
		return
	}
	rb := requestBody{budget: &s.bodyBytes}
	kind, err := readBody(&rb, w, r, s.opts.MaxRequestBodyBytes)
	if err != nil {
		rb.release()
		s.bodyFailed(w, r, prov, pool, pm, cm, client, kind, err)
		return
	}
	lift(deadline)
	obj, refused := s.objects(r, &rt, &rb, acc, prov, pool, client)
	if refused != nil {
		rb.release()
		pm.request(keyNone, refused.kind.Status())
		clientDone(pool, cm, client, quota.OutcomeOf(refused.kind.Status()))
		refused.write(w, prov)
		return
	}
	x := &exchange{
		obj:    obj,
		s:      s,
		w:      w,
		r:      r,
		pool:   pool,
		prov:   prov,
		pm:     pm,
		cm:     cm,
		client: client,
		route:  rt,
		body:   rb,
		header: outboundHeader(r.Header, prov),
		url:    upstreamURL(acc.Upstream, &rt, r.URL.RawQuery, prov),
		start:  time.Now(),
		facts:  prov.ReadRequest(r.Method, rt.rest, rb.buf),
	}
	// Read before anything rewrites the body: the facts point into it.
	x.model = prov.Model(rt.rest, &x.facts)
	x.bodyRefs.Store(1)
	defer x.endOfBody()
	x.genai = s.opts.GenAI.start(x)
	x.run(acc.MaxAttempts)
}

// unauthorized answers a request no pool's token list admits. A pool that
// does not exist (nil) answers alike, byte for byte: the error shape is the
// one the request looks like (provider.Guess), never the pool's provider's,
// which would tell a caller without a token that the pool exists and what it
// serves. The SDK a client uses still reads its own shape. The rejections
// are out of ServeHTTP, whose frame every request's stack keeps for as long
// as it is served.
func (s *Server) unauthorized(w http.ResponseWriter, r *http.Request, rt *route, pool *keypool.KeyPool) {
	if pool != nil { // no metrics otherwise: the labels would be whatever a caller puts in the path
		s.metrics.pool(rt.namespace, rt.name).request(keyNone, http.StatusUnauthorized)
	}
	provider.Guess(r, rt.rest).WriteError(w, provider.ErrUnauthorized,
		fmt.Sprintf("no KeyPool %s/%s accepts this client token", rt.namespace, rt.name))
}

// bodyFailed answers a request whose body could not be read (kind says
// why), unless its client left.
func (s *Server) bodyFailed(w http.ResponseWriter, r *http.Request, prov provider.Provider, pool *keypool.KeyPool,
	pm *poolMetrics, cm *clientMetrics, client string, kind provider.Error, err error) {
	// The rest of the body is unread: do not wait for it.
	w.Header().Set("Connection", "close")
	// net/http cancels the request's context on any failed body read,
	// the read deadline included: only a client that left gets nothing.
	if kind != provider.ErrRequestTimeout && r.Context().Err() != nil {
		pm.request(keyNone, statusClientClosed)
		clientDone(pool, cm, client, quota.OutcomeCancelled)
		return
	}
	pm.request(keyNone, kind.Status())
	clientDone(pool, cm, client, quota.OutcomeOf(kind.Status()))
	if kind == provider.ErrUnavailable { // the body budget is spent
		s.metrics.shed.WithLabelValues(capBodyMemory).Inc()
		w.Header().Set("Retry-After", overCapRetryAfter)
	}
	prov.WriteError(w, kind, err.Error())
}

// serverLogWriter routes net/http's own error log (TLS handshakes, panics in
// handlers, accept errors) to the proxy's logr.Logger.
type serverLogWriter struct{ log logr.Logger }

func (w serverLogWriter) Write(p []byte) (int, error) {
	w.log.Info("http server", "message", strings.TrimSpace(string(p)))
	return len(p), nil
}
