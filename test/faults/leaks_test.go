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

package faults

import (
	"fmt"
	"net"
	"net/http"
	"runtime"
	"sync"
	"time"
)

// connCounter follows a server's connections through its ConnState hook.
// A hijacked connection leaves the server's hands (the fake provider's
// reset fault hijacks and closes it at once), so it counts as closed.
type connCounter struct {
	mu    sync.Mutex
	conns map[net.Conn]http.ConnState
}

func newConnCounter() *connCounter { return &connCounter{conns: map[net.Conn]http.ConnState{}} }

func (c *connCounter) hook(conn net.Conn, s http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch s {
	case http.StateClosed, http.StateHijacked:
		delete(c.conns, conn)
	default:
		c.conns[conn] = s
	}
}

// open is the number of connections the server holds.
func (c *connCounter) open() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.conns)
}

// states counts the open connections by state, for failure messages.
func (c *connCounter) states() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for _, s := range c.conns {
		out[s.String()]++
	}
	return out
}

// stableGoroutines returns the goroutine count once it stops falling, so a
// baseline is not taken while an earlier test's goroutines still exit.
func stableGoroutines() int {
	n := runtime.NumGoroutine()
	for range 50 {
		time.Sleep(10 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m >= n {
			return m
		}
		n = m
	}
	return n
}

// waitGoroutines waits, up to limit, for the goroutine count to come back to
// base; on failure the error carries every goroutine's stack.
func waitGoroutines(base int, limit time.Duration) error {
	err := waitFor(limit, func() error {
		if n := runtime.NumGoroutine(); n > base {
			return fmt.Errorf("%d goroutines, %d before", n, base)
		}
		return nil
	})
	if err == nil {
		return nil
	}
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return fmt.Errorf("goroutines leaked: %w\n%s", err, buf)
}
