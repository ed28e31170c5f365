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

package fakeprovider

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// FaultKind names a failure the provider can inject.
type FaultKind string

// Fault kinds. A request is affected by at most one fault: the first active
// one, in the order they were set, that matches its key. Faults apply after
// authentication and body validation, and a request answered by a fault is
// not charged against the limits.
const (
	// FaultStatus answers with Fault.Status (default 500) in the API's error
	// shape: 529 is overloaded_error, other 5xx are api_error/server_error.
	FaultStatus FaultKind = "status"
	// FaultRateLimit answers 429 with the current rate-limit headers and,
	// when Fault.RetryAfter > 0, a retry-after header (whole seconds, ceil).
	FaultRateLimit FaultKind = "rate_limit"
	// FaultReset closes the connection with a TCP reset before any header.
	FaultReset FaultKind = "reset"
	// FaultResetMidStream aborts the response after its first SSE event
	// (for a non-streaming request, after the headers and half the body).
	FaultResetMidStream FaultKind = "reset_mid_stream"
	// FaultSlowHeaders waits Fault.Delay (or until the client gives up)
	// before handling the request normally.
	FaultSlowHeaders FaultKind = "slow_headers"
	// FaultSlowStream waits Fault.Delay between SSE events. It only matches
	// streaming requests.
	FaultSlowStream FaultKind = "slow_stream"
)

// ErrUnknownKey is returned when a key-specific operation names a key that
// is not configured.
var ErrUnknownKey = errors.New("unknown key")

// Fault is one injected failure.
type Fault struct {
	// Kind selects the failure.
	Kind FaultKind
	// Key limits the fault to requests with this API key; empty means all.
	Key string
	// Count is how many matching requests the fault affects before it is
	// used up; zero or less means every request until ClearFaults.
	Count int
	// Status is the HTTP status for FaultStatus.
	Status int
	// RetryAfter is the retry-after for FaultRateLimit; zero sends none.
	RetryAfter time.Duration
	// Delay is the wait for FaultSlowHeaders and FaultSlowStream. It is real
	// time, not Clock time, because it models network latency.
	Delay time.Duration
}

func (f Fault) validate() error {
	switch f.Kind {
	case FaultStatus:
		if f.Status != 0 && (f.Status < 400 || f.Status > 599) {
			return fmt.Errorf("fault status %d: want 4xx or 5xx", f.Status)
		}
	case FaultRateLimit, FaultReset, FaultResetMidStream:
	case FaultSlowHeaders, FaultSlowStream:
		if f.Delay <= 0 {
			return fmt.Errorf("fault %s: delay must be positive", f.Kind)
		}
	default:
		return fmt.Errorf("unknown fault kind %q", f.Kind)
	}
	return nil
}

// faults is the active fault list. The count of active faults is kept
// apart so the common no-fault path takes no lock.
type faults struct {
	mu     sync.Mutex
	list   []Fault
	active atomic.Int64
}

// SetFault activates a fault after those already set.
func (p *Provider) SetFault(f Fault) error {
	if err := f.validate(); err != nil {
		return fmt.Errorf("set fault: %w", err)
	}
	if f.Kind == FaultStatus && f.Status == 0 {
		f.Status = http.StatusInternalServerError
	}
	p.faults.mu.Lock()
	p.faults.list = append(p.faults.list, f)
	p.faults.active.Store(int64(len(p.faults.list)))
	p.faults.mu.Unlock()
	return nil
}

// ClearFaults removes every active fault.
func (p *Provider) ClearFaults() {
	p.faults.mu.Lock()
	p.faults.list = nil
	p.faults.active.Store(0)
	p.faults.mu.Unlock()
}

// Faults returns the active faults; Count is what is left of each.
func (p *Provider) Faults() []Fault {
	p.faults.mu.Lock()
	defer p.faults.mu.Unlock()
	return append([]Fault(nil), p.faults.list...)
}

// takeFault returns the fault that applies to a request, using up one of
// its count.
func (p *Provider) takeFault(key string, stream bool) (Fault, bool) {
	if p.faults.active.Load() == 0 {
		return Fault{}, false
	}
	p.faults.mu.Lock()
	defer p.faults.mu.Unlock()
	for i, f := range p.faults.list {
		if (f.Key != "" && f.Key != key) || (f.Kind == FaultSlowStream && !stream) {
			continue
		}
		if f.Count > 0 {
			p.faults.list[i].Count--
			if f.Count == 1 {
				p.faults.list = append(p.faults.list[:i], p.faults.list[i+1:]...)
				p.faults.active.Store(int64(len(p.faults.list)))
			}
		}
		return f, true
	}
	return Fault{}, false
}

// Key states beyond normal use, stored in keyState.state.
const (
	keyOK int32 = iota
	keyRevoked
	keyForbidden
)

// RevokeKey makes every later request with key fail as the API answers an
// invalid key (401; Gemini's 400 API_KEY_INVALID), as a key deleted in the
// provider's console does.
func (p *Provider) RevokeKey(key string) error { return p.setKeyState(key, keyRevoked) }

// ForbidKey makes every later request with key fail with 403
// permission_error, as a key without access to the model does.
func (p *Provider) ForbidKey(key string) error { return p.setKeyState(key, keyForbidden) }

// RestoreKey undoes RevokeKey and ForbidKey.
func (p *Provider) RestoreKey(key string) error { return p.setKeyState(key, keyOK) }

func (p *Provider) setKeyState(key string, state int32) error {
	ks := p.keys[key]
	if ks == nil {
		return fmt.Errorf("key %q: %w", key, ErrUnknownKey)
	}
	ks.state.Store(state)
	return nil
}

// gate holds streams open until closed.
type gate struct {
	ch   chan struct{}
	once sync.Once
}

func (g *gate) open() { g.once.Do(func() { close(g.ch) }) }

// HoldStreams makes every stream that starts from now on stop after its
// first events (Anthropic: message_start, content_block_start, ping; OpenAI:
// the role chunk) and wait until the returned release func is called or the
// client goes away. A test uses it to prove the first bytes reach the client
// while the upstream still holds the stream open. While a hold is active,
// further calls share it; release is idempotent.
func (p *Provider) HoldStreams() (release func()) {
	p.holdMu.Lock()
	g := p.hold.Load()
	if g == nil {
		g = &gate{ch: make(chan struct{})}
		p.hold.Store(g)
	}
	p.holdMu.Unlock()
	return func() { p.releaseGate(g) }
}

// ReleaseStreams releases the current hold, if any.
func (p *Provider) ReleaseStreams() {
	if g := p.hold.Load(); g != nil {
		p.releaseGate(g)
	}
}

func (p *Provider) releaseGate(g *gate) {
	p.holdMu.Lock()
	if p.hold.Load() == g {
		p.hold.Store(nil)
	}
	p.holdMu.Unlock()
	g.open()
}

// waitHold blocks a stream at the hold gate, if one is active.
func (p *Provider) waitHold(ctx context.Context) error {
	g := p.hold.Load()
	if g == nil {
		return nil
	}
	p.held.Add(1)
	defer p.held.Add(-1)
	select {
	case <-g.ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("hold: %w", ctx.Err())
	}
}

// sleep waits d of real time or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("delay: %w", ctx.Err())
	}
}

// resetConn drops the connection with a TCP RST (linger 0), the way a
// crashing upstream or a middlebox does, before any response byte. Where
// the connection cannot be hijacked (HTTP/2), aborting the handler resets
// the stream instead.
func resetConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	nc := conn
	if tc, ok := conn.(interface{ NetConn() net.Conn }); ok {
		nc = tc.NetConn()
	}
	if tcp, ok := nc.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = conn.Close()
}
