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
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/provider"

	"github.com/keypool-dev/keypool-operator/internal/fakeprovider"
	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/proxy"
)

// errType is the error.type a client must find in an error body, per
// provider; the zero value means the request must succeed.
type errType struct{ anthropic, openai string }

func (e errType) of(p provider.Provider) string {
	if p == provider.OpenAI {
		return e.openai
	}
	return e.anthropic
}

// Error types the proxy's clients see, by who produced them.
var (
	provAuth        = errType{"authentication_error", "invalid_request_error"} // provider's 401
	provPermission  = errType{"permission_error", "request_forbidden"}         // provider's 403
	provServer      = errType{"api_error", "server_error"}                     // provider's 500
	provRateLimit   = errType{"rate_limit_error", "requests"}                  // provider's 429
	proxyBadGateway = errType{"api_error", "api_error"}                        // proxy's 502
	proxyRateLimit  = errType{"rate_limit_error", "rate_limit_error"}          // proxy's 429
)

// clientAction is how the client behaves once the response headers are in.
type clientAction int

const (
	readAll          clientAction = iota // read the body to its end
	disconnectStream                     // read the first event, then go away
)

// faultCase is one row of the fault table.
type faultCase struct {
	name   string
	cfg    harnessConfig // the provider is filled in per run
	stream bool
	inject func(h *harness) error // nil: no fault
	client clientAction

	status    int
	err       errType // zero: a success
	attempts  string  // X-Keypool-Attempts; "" when the client never gets headers it can read
	servedBy  int     // key n that X-Keypool-Key names; 0 for none
	truncated bool    // the body must end in a read error, not a clean EOF
	states    map[int]keypool.State
	// check runs extra assertions before the harness is torn down.
	check func(t *testing.T, h *harness, o *outcome)
}

// outcome is what the client saw.
type outcome struct {
	reqErr     error // no response at all
	status     int
	header     http.Header
	body       string
	readErr    error
	elapsed    time.Duration // request sent to body finished
	firstEvent time.Duration // request sent to first SSE event; 0 if none
	events     int
}

const (
	avail    = keypool.StateAvailable
	cooling  = keypool.StateCoolingDown
	rejected = keypool.StateRejected
)

func fault(f fakeprovider.Fault) func(h *harness) error {
	return func(h *harness) error { return h.Fake.SetFault(f) }
}

func faultTable() []faultCase {
	k1 := keyValue(1)
	return []faultCase{
		{
			name: "429 with retry-after", inject: fault(fakeprovider.Fault{Kind: fakeprovider.FaultRateLimit, Key: k1, RetryAfter: 30 * time.Second}),
			status: 200, attempts: "2", servedBy: 2, states: map[int]keypool.State{1: cooling, 2: avail, 3: avail},
			check: func(t *testing.T, h *harness, _ *outcome) {
				// The provider's retry-after, not a default, sets the cooldown.
				if left := time.Until(h.keyStats(1).CooldownUntil); left < 25*time.Second || left > 31*time.Second {
					t.Errorf("k1 cools down for %v, want about 30s (the retry-after)", left)
				}
			},
		},
		{
			name: "429 without retry-after", inject: fault(fakeprovider.Fault{Kind: fakeprovider.FaultRateLimit, Key: k1}),
			status: 200, attempts: "2", servedBy: 2, states: map[int]keypool.State{1: cooling, 2: avail, 3: avail},
			check: func(t *testing.T, h *harness, _ *outcome) {
				if left := time.Until(h.keyStats(1).CooldownUntil); left <= 0 || left > time.Minute {
					t.Errorf("k1 cools down for %v, want a bounded default", left)
				}
			},
		},
		{
			name: "401 revoked key", inject: func(h *harness) error { return h.Fake.RevokeKey(k1) },
			status: 200, attempts: "2", servedBy: 2, states: map[int]keypool.State{1: rejected, 2: avail, 3: avail},
		},
		{
			// A 403 is about what the request asks for: answered as is, no
			// failover, no key retired.
			name: "403 forbidden key", inject: func(h *harness) error { return h.Fake.ForbidKey(k1) },
			status: 403, err: provPermission, attempts: "1", servedBy: 1, states: map[int]keypool.State{1: avail, 2: avail, 3: avail},
		},
		{
			name: "500", inject: fault(fakeprovider.Fault{Kind: fakeprovider.FaultStatus, Key: k1, Status: 500}),
			status: 200, attempts: "2", servedBy: 2, states: map[int]keypool.State{1: avail, 2: avail, 3: avail},
			check: lastErrorContains(1, "500"),
		},
		{
			name: "529 overloaded", stream: true, inject: fault(fakeprovider.Fault{Kind: fakeprovider.FaultStatus, Key: k1, Status: 529}),
			status: 200, attempts: "2", servedBy: 2, states: map[int]keypool.State{1: avail, 2: avail, 3: avail},
			check: lastErrorContains(1, "529"),
		},
		{
			name: "connection refused", cfg: harnessConfig{refuseKey: 1},
			status: 200, attempts: "2", servedBy: 2, states: map[int]keypool.State{1: avail, 2: avail, 3: avail},
			check: lastErrorContains(1, "connection refused"),
		},
		{
			name: "reset before headers", stream: true, inject: fault(fakeprovider.Fault{Kind: fakeprovider.FaultReset, Key: k1}),
			status: 200, attempts: "2", servedBy: 2, states: map[int]keypool.State{1: avail, 2: avail, 3: avail},
			check: func(t *testing.T, h *harness, _ *outcome) {
				if h.keyStats(1).LastError == "" {
					t.Error("k1 has no LastError after its connection was reset")
				}
			},
		},
		{
			name: "reset mid-stream", stream: true, inject: fault(fakeprovider.Fault{Kind: fakeprovider.FaultResetMidStream, Key: k1}),
			status: 200, attempts: "1", servedBy: 1, truncated: true, states: map[int]keypool.State{1: avail, 2: avail, 3: avail},
			check: func(t *testing.T, h *harness, o *outcome) {
				// Once a byte went to the client there is no retry.
				if n := len(h.upstreamHeaders()); n != 1 {
					t.Errorf("upstream saw %d requests, want 1 (no retry after the first byte)", n)
				}
				if o.events < 1 {
					t.Error("the client got no event before the reset")
				}
				// The cut counts against the key, for its circuit breaker.
				if h.keyStats(1).LastError == "" {
					t.Error("the mid-stream reset left no lastError on the key")
				}
			},
		},
		{
			// A JSON answer cut off halfway: the client gets the status and
			// the partial body, then the cut, as from the provider itself.
			name: "reset mid-body (JSON)", inject: fault(fakeprovider.Fault{Kind: fakeprovider.FaultResetMidStream, Key: k1}),
			status: 200, attempts: "1", servedBy: 1, truncated: true, states: map[int]keypool.State{1: avail, 2: avail, 3: avail},
			check: func(t *testing.T, h *harness, _ *outcome) {
				if n := len(h.upstreamHeaders()); n != 1 {
					t.Errorf("upstream saw %d requests, want 1", n)
				}
			},
		},
		{
			name: "headers never arrive", inject: fault(fakeprovider.Fault{Kind: fakeprovider.FaultSlowHeaders, Key: k1, Delay: time.Hour}),
			status: 200, attempts: "2", servedBy: 2, states: map[int]keypool.State{1: avail, 2: avail, 3: avail},
			check: func(t *testing.T, h *harness, o *outcome) {
				lastErrorContains(1, "timeout awaiting response headers")(t, h, o)
				if o.elapsed < headerTimeout {
					t.Errorf("answered after %v, before the %v header timeout", o.elapsed, headerTimeout)
				}
			},
		},
		{
			name: "headers never arrive on any key", inject: fault(fakeprovider.Fault{Kind: fakeprovider.FaultSlowHeaders, Delay: time.Hour}),
			status: 502, err: proxyBadGateway, attempts: "3", servedBy: 3, states: map[int]keypool.State{1: avail, 2: avail, 3: avail},
		},
		{
			// Events 350ms apart: slower than the header timeout, which must
			// not apply to a body that is still flowing.
			name: "slow-drip SSE", stream: true, inject: fault(fakeprovider.Fault{Kind: fakeprovider.FaultSlowStream, Key: k1, Delay: headerTimeout + 50*time.Millisecond}),
			status: 200, attempts: "1", servedBy: 1, states: map[int]keypool.State{1: avail, 2: avail, 3: avail},
			check: func(t *testing.T, h *harness, o *outcome) {
				// Events are flushed one by one, not held until the end.
				if o.firstEvent <= 0 || o.firstEvent > o.elapsed/2 {
					t.Errorf("first event after %v of %v: the stream was buffered", o.firstEvent, o.elapsed)
				}
				if o.events < 4 {
					t.Errorf("%d events, want the whole stream", o.events)
				}
			},
		},
		{
			name: "client disconnects mid-stream", stream: true, client: disconnectStream,
			inject: func(h *harness) error { h.Fake.HoldStreams(); return nil },
			status: 200, attempts: "1", servedBy: 1, states: map[int]keypool.State{1: avail, 2: avail, 3: avail},
			check: func(t *testing.T, h *harness, _ *outcome) {
				// The proxy let go of the upstream stream: the held handler
				// saw its context end.
				if err := waitFor(settleLimit, func() error {
					if n := h.Fake.Stats().HeldStreams; n != 0 {
						return fmt.Errorf("%d upstream streams still held", n)
					}
					return nil
				}); err != nil {
					t.Error(err)
				}
				if n := len(h.upstreamHeaders()); n != 1 {
					t.Errorf("upstream saw %d requests, want 1", n)
				}
			},
		},
		{
			name: "upstream unreachable", cfg: harnessConfig{deadUpstream: true},
			status: 502, err: proxyBadGateway, attempts: "3", servedBy: 3, states: map[int]keypool.State{1: avail, 2: avail, 3: avail},
		},
		{
			name: "500 on every key", inject: fault(fakeprovider.Fault{Kind: fakeprovider.FaultStatus, Status: 500}),
			status: 500, err: provServer, attempts: "3", servedBy: 3, states: map[int]keypool.State{1: avail, 2: avail, 3: avail},
		},
		{
			name: "429 on every key", inject: fault(fakeprovider.Fault{Kind: fakeprovider.FaultRateLimit, RetryAfter: 20 * time.Second}),
			status: 429, err: provRateLimit, attempts: "3", servedBy: 3, states: map[int]keypool.State{1: cooling, 2: cooling, 3: cooling},
			check: func(t *testing.T, h *harness, _ *outcome) {
				// Now the pool itself knows every key is cooling down and
				// answers at once with its own 429 and Retry-After.
				o := h.exchange(t, false, readAll)
				wantError(t, h.cfg.provider, o, 429, proxyRateLimit)
				ra := o.header.Get("Retry-After")
				if ra == "" || ra == "0" || len(ra) > 2 {
					t.Errorf("pool 429 Retry-After %q, want about 20 (seconds)", ra)
				}
				if got := o.header.Get(proxy.HeaderAttempts); got != "0" {
					t.Errorf("pool 429 after %s attempts, want 0", got)
				}
			},
		},
		{
			name: "all keys rejected", inject: func(h *harness) error {
				for n := 1; n <= numKeys; n++ {
					if err := h.Fake.RevokeKey(keyValue(n)); err != nil {
						return err
					}
				}
				return nil
			},
			status: 401, err: provAuth, attempts: "3", servedBy: 3, states: map[int]keypool.State{1: rejected, 2: rejected, 3: rejected},
			check: func(t *testing.T, h *harness, _ *outcome) {
				// With no usable key left the pool answers by itself, in the
				// provider's error shape, without calling the upstream.
				before := len(h.upstreamHeaders())
				o := h.exchange(t, false, readAll)
				if o.status < 400 {
					t.Fatalf("status %d with every key rejected", o.status)
				}
				wantErrorShape(t, h.cfg.provider, o)
				if n := len(h.upstreamHeaders()); n != before {
					t.Errorf("upstream called %d times with every key rejected", n-before)
				}
				t.Logf("next request with every key rejected: %d %s (Retry-After %q)",
					o.status, errorTypeOf(o.body), o.header.Get("Retry-After"))
			},
		},
	}
}

// TestFaults runs every fault for both provider dialects.
func TestFaults(t *testing.T) {
	for _, prov := range []provider.Provider{provider.Anthropic, provider.OpenAI} {
		for _, tc := range faultTable() {
			t.Run(prov.Name()+"/"+tc.name, func(t *testing.T) {
				cfg := tc.cfg
				cfg.provider = prov
				h := newHarness(t, cfg)
				if tc.inject != nil {
					if err := tc.inject(h); err != nil {
						t.Fatal(err)
					}
				}
				o := h.exchange(t, tc.stream, tc.client)
				tc.verify(t, h, o)
				if tc.check != nil {
					tc.check(t, h, o)
				}
				h.quiesce()
				checkNoSecrets(t, h, o)
				h.close()
				t.Logf("RESULT %-40s status=%d attempts=%s key=%s truncated=%v closed=%v elapsed=%v states=%s",
					prov.Name()+"/"+tc.name, o.status, o.header.Get(proxy.HeaderAttempts),
					o.header.Get(proxy.HeaderKey), o.readErr != nil, o.reqErr != nil,
					o.elapsed.Round(time.Millisecond), formatStates(h.States()))
			})
		}
	}
}

// verify checks the row's expectations against what the client saw.
func (tc *faultCase) verify(t *testing.T, h *harness, o *outcome) {
	t.Helper()
	if o.reqErr != nil {
		t.Fatalf("request: %v", o.reqErr)
	}
	if tc.err != (errType{}) {
		wantError(t, h.cfg.provider, o, tc.status, tc.err)
	} else if o.status != tc.status {
		t.Fatalf("status %d, want %d; body %s", o.status, tc.status, o.body)
	}
	if tc.attempts != "" {
		if got := o.header.Get(proxy.HeaderAttempts); got != tc.attempts {
			t.Errorf("%s: %q, want %q", proxy.HeaderAttempts, got, tc.attempts)
		}
	}
	wantKey := ""
	if tc.servedBy > 0 {
		wantKey = keyID(tc.servedBy)
	}
	if got := o.header.Get(proxy.HeaderKey); got != wantKey {
		t.Errorf("%s: %q, want %q", proxy.HeaderKey, got, wantKey)
	}
	switch {
	case tc.truncated && o.readErr == nil:
		t.Error("the body ended cleanly; want the client to see the truncation")
	case !tc.truncated && tc.client == readAll && o.readErr != nil:
		t.Errorf("reading the body: %v", o.readErr)
	}
	if tc.err == (errType{}) && !tc.truncated && tc.client == readAll && !tc.stream {
		// A success is the provider's complete JSON message.
		if !json.Valid([]byte(o.body)) {
			t.Errorf("success body is not JSON: %s", o.body)
		}
	}
	// A key the provider called invalid is re-checked in the background
	// before it is retired: wait for the states the check ends in.
	if err := waitFor(settleLimit, func() error {
		got := h.States()
		for n, want := range tc.states {
			if got[keyID(n)] != want {
				return fmt.Errorf("key %s is %s, want %s (all: %s)", keyID(n), got[keyID(n)], want, formatStates(got))
			}
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
}

// exchange sends one request and reads the answer as the action says.
func (h *harness) exchange(t *testing.T, stream bool, action clientAction) *outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	start := time.Now()
	resp, err := h.request(ctx, stream)
	if err != nil {
		return &outcome{reqErr: err, header: http.Header{}, elapsed: time.Since(start)}
	}
	defer resp.Body.Close()
	o := &outcome{status: resp.StatusCode, header: resp.Header}
	var body strings.Builder
	r := bufio.NewReader(resp.Body)
	for {
		ev, err := readEvent(r)
		body.WriteString(ev)
		if strings.HasSuffix(ev, "\n\n") {
			if o.events == 0 {
				o.firstEvent = time.Since(start)
			}
			o.events++
			if action == disconnectStream {
				cancel() // the client goes away with the stream open
				break
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				o.readErr = err
			}
			break
		}
	}
	if !stream {
		o.events, o.firstEvent = 0, 0
	}
	o.body = body.String()
	o.elapsed = time.Since(start)
	return o
}

// readEvent reads up to and including the blank line that ends an SSE event,
// or whatever is left of a non-SSE body.
func readEvent(r *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				err = fmt.Errorf("truncated body: %w", err)
			}
			return b.String(), err
		}
		if line == "\n" && b.Len() > 1 {
			return b.String(), nil
		}
	}
}

// wantError checks status, content type and the provider-shaped error body.
func wantError(t *testing.T, p provider.Provider, o *outcome, status int, e errType) {
	t.Helper()
	if o.status != status {
		t.Fatalf("status %d, want %d; body %s", o.status, status, o.body)
	}
	wantErrorShape(t, p, o)
	if got := errorTypeOf(o.body); got != e.of(p) {
		t.Errorf("error type %q, want %q; body %s", got, e.of(p), o.body)
	}
}

// wantErrorShape checks that an error body is the provider's JSON error:
// Anthropic {"type":"error","error":{"type","message"}}, OpenAI
// {"error":{"message","type","param","code"}}.
func wantErrorShape(t *testing.T, p provider.Provider, o *outcome) {
	t.Helper()
	if ct := o.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("error Content-Type %q", ct)
	}
	var v struct {
		Type  *string        `json:"type"`
		Error map[string]any `json:"error"`
	}
	if err := json.Unmarshal([]byte(o.body), &v); err != nil {
		t.Fatalf("error body is not JSON: %v: %s", err, o.body)
	}
	if msg, _ := v.Error["message"].(string); msg == "" {
		t.Errorf("error without a message: %s", o.body)
	}
	if typ, _ := v.Error["type"].(string); typ == "" {
		t.Errorf("error without a type: %s", o.body)
	}
	switch p {
	case provider.OpenAI:
		if _, ok := v.Error["param"]; !ok {
			t.Errorf("OpenAI error without param: %s", o.body)
		}
	default:
		if v.Type == nil || *v.Type != "error" {
			t.Errorf(`Anthropic error without "type":"error": %s`, o.body)
		}
	}
}

func errorTypeOf(body string) string {
	var v struct {
		Error struct {
			Type string `json:"type"`
		} `json:"error"`
	}
	_ = json.Unmarshal([]byte(body), &v)
	return v.Error.Type
}

func lastErrorContains(n int, s string) func(*testing.T, *harness, *outcome) {
	return func(t *testing.T, h *harness, _ *outcome) {
		t.Helper()
		if got := h.keyStats(n).LastError; !strings.Contains(got, s) {
			t.Errorf("key %s LastError %q, want it to mention %q", keyID(n), got, s)
		}
	}
}

func formatStates(m map[string]keypool.State) string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strings.TrimPrefix(id, "keys/") + ":" + string(m[id])
	}
	return strings.Join(parts, ",")
}
