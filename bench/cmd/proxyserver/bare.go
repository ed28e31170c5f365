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

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"
)

// bareBufSize is the bare proxy's copy buffer: the proxy's stream buffer
// size, so that held streams compare like for like (ReverseProxy's own
// default is a fresh 32 KiB per response).
const bareBufSize = 4 << 10

// serveBare serves the Go yardstick on ln until ctx ends: net/http's server
// and httputil.ReverseProxy in front of up over rt, with no pool, client
// authentication or usage accounting; what a Go reverse proxy costs before
// it does any of the proxy's work. Clients send the upstream's own key.
func serveBare(ctx context.Context, ln net.Listener, up *url.URL, rt http.RoundTripper) error {
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(up)
			r.Out.Host = up.Host
		},
		Transport:     rt,
		FlushInterval: -1, // every write, as the proxy flushes streams
		BufferPool:    newBarePool(),
	}
	srv := &http.Server{Handler: fullDuplex(rp), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("bare proxy: %w", err)
	}
	return nil
}

// fullDuplex serves h with the client's body left open while the answer is
// written. Without it, net/http's server reads the rest of the body and
// closes it as the handler writes its header, while net/http's transport
// may still be reading it for its end; the read fails and the transport
// closes the upstream connection under the streaming answer, cutting about
// 1% of streams (bench/performance.md). The proxy reads bodies whole first.
func fullDuplex(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).EnableFullDuplex() // HTTP/2 is full duplex already
		h.ServeHTTP(w, r)
	})
}

// barePool lends ReverseProxy its copy buffers.
type barePool struct{ p sync.Pool }

func newBarePool() *barePool {
	b := &barePool{}
	b.p.New = func() any { return new([bareBufSize]byte) }
	return b
}

func (b *barePool) Get() []byte { return b.p.Get().(*[bareBufSize]byte)[:] }

func (b *barePool) Put(buf []byte) {
	if len(buf) == bareBufSize {
		b.p.Put((*[bareBufSize]byte)(buf))
	}
}
