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

// Package redistest runs a real redis-server for tests, the way envtest runs
// kube-apiserver: on a free loopback port, in a temporary directory, stopped
// when the test ends. It also injects the faults the shared-limits tests
// need: a crash (Kill), a restart on the same port, and a stall (Stop sends
// SIGSTOP, Cont resumes).
//
// redis-server comes from Debian's redis-server package; `make redis-server`
// installs it.
package redistest

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keypool-dev/keypool-operator/internal/testproc"
)

// startTimeout bounds how long a server may take to accept connections.
const startTimeout = 15 * time.Second

// Server is one redis-server process owned by a test.
type Server struct {
	t       testing.TB
	bin     string
	dir     string
	port    int
	persist bool
	extra   []string    // more redis-server arguments
	conf    string      // a config file to start from (Sentinel needs one)
	ready   string      // the log line that says the server accepts connections
	tls     *tls.Config // for the server's own checks; nil: plain TCP
	caFile  string

	mu      sync.Mutex
	proc    *testproc.Process
	stopped bool // SIGSTOPped
}

// Option changes how Start runs the server.
type Option func(*Server)

// WithPersistence keeps the data across Kill and Restart (an append-only
// file fsynced on every write); by default the server keeps nothing on disk.
func WithPersistence() Option { return func(s *Server) { s.persist = true } }

// Start runs redis-server on a free loopback port and waits until it answers
// PING. The server is killed when the test ends. The test fails when
// redis-server is not installed (`make redis-server` installs it).
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server not found (run `make redis-server`, or apt-get install -y redis-server): %v", err)
	}
	addr, err := testproc.FreeAddr()
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	_, portStr, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portStr)
	s := &Server{t: t, bin: bin, dir: t.TempDir(), port: port, ready: "Ready to accept connections"}
	for _, o := range opts {
		o(s)
	}
	t.Cleanup(s.shutdown)
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Port is the server's port.
func (s *Server) Port() int { return s.port }

// URL is the server's redis:// URL (rediss:// WithTLS).
func (s *Server) URL() string {
	if s.tls != nil {
		return "rediss://" + s.Addr()
	}
	return "redis://" + s.Addr()
}

// Client returns a go-redis client for the server, closed when the test ends.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), TLSConfig: s.tls})
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}

// WithArgs passes more arguments to redis-server.
func WithArgs(args ...string) Option { return func(s *Server) { s.extra = append(s.extra, args...) } }

func (s *Server) args() []string {
	var args []string
	if s.conf != "" {
		args = append(args, s.conf)
	}
	port := []string{"--port", strconv.Itoa(s.port)}
	if s.tls != nil {
		port = []string{"--port", "0", "--tls-port", strconv.Itoa(s.port)}
	}
	args = append(args, port...)
	args = append(args,
		"--bind", "127.0.0.1", "--dir", s.dir,
		"--daemonize", "no", "--protected-mode", "no", "--save", "",
		"--loglevel", "notice",
	)
	if s.conf != "" {
		return append(args, s.extra...) // a Sentinel keeps no data
	}
	if s.persist {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	return append(args, s.extra...)
}

// start runs the process and waits for it to answer PING.
func (s *Server) start() error {
	p, err := testproc.StartIn(s.dir, "redis-server", nil, s.bin, s.args()...)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.proc, s.stopped = p, false
	s.mu.Unlock()
	// The log line is the event; PING then proves the port answers.
	if err := p.WaitFor(s.ready, startTimeout); err != nil {
		return err
	}
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1, TLSConfig: s.tls})
	defer func() { _ = c.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis-server on %s does not answer PING: %w\n%s", s.Addr(), err, p.Output())
	}
	return nil
}

// Kill ends the server with SIGKILL (a crash) and waits until it is gone.
func (s *Server) Kill() {
	s.mu.Lock()
	p, stopped := s.proc, s.stopped
	s.proc = nil
	s.mu.Unlock()
	if p == nil {
		return
	}
	if stopped {
		_ = p.Signal(syscall.SIGCONT)
	}
	p.Kill()
}

// Restart kills the server if it runs and starts it again on the same port.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	if err := s.start(); err != nil {
		s.t.Fatal(err)
	}
}

// Stop freezes the server with SIGSTOP: connections stay open and nothing
// answers, like a stalled network or a paused VM.
func (s *Server) Stop() { s.signal(syscall.SIGSTOP, true) }

// Cont resumes a server frozen by Stop.
func (s *Server) Cont() { s.signal(syscall.SIGCONT, false) }

func (s *Server) signal(sig syscall.Signal, stopped bool) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		s.t.Fatalf("redis-server is not running")
	}
	if err := s.proc.Signal(sig); err != nil {
		s.t.Fatalf("signal redis-server: %v", err)
	}
	s.stopped = stopped
}

// shutdown kills the server at the end of the test.
func (s *Server) shutdown() { s.Kill() }
