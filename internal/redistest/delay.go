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

package redistest

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// DelayProxy forwards TCP to a Redis, holding each chunk a client sends for
// the current delay first: a slow network or an overloaded server, for the
// tests of what a slow Redis does to its callers.
type DelayProxy struct {
	addr  string
	delay atomic.Int64 // nanoseconds
}

// StartDelayProxy listens on a free loopback port and forwards every
// connection to target (host:port), without delay until SetDelay. It stops
// when the test ends.
func StartDelayProxy(t testing.TB, target string) *DelayProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &DelayProxy{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, s)
			mu.Unlock()
			wg.Add(2)
			go func() { defer wg.Done(); p.pipe(s, c, true) }()
			go func() { defer wg.Done(); p.pipe(c, s, false) }()
		}
	}()
	return p
}

// Addr is the proxy's host:port.
func (p *DelayProxy) Addr() string { return p.addr }

// URL is the proxy's redis:// URL.
func (p *DelayProxy) URL() string { return "redis://" + p.addr }

// SetDelay sets how long each chunk from a client is held (0: none).
func (p *DelayProxy) SetDelay(d time.Duration) { p.delay.Store(int64(d)) }

func (p *DelayProxy) pipe(dst, src net.Conn, delayed bool) {
	defer func() { _ = dst.Close(); _ = src.Close() }()
	buf := make([]byte, 32*1024)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if d := time.Duration(p.delay.Load()); delayed && d > 0 {
				time.Sleep(d) // the injected slowness
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // io.EOF or a closed connection: both ends close
		}
	}
}
