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
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestFaultStatus(t *testing.T) {
	f := newFixture(t, orgAConfig(Limits{RPM: 100}))
	if err := f.p.SetFault(Fault{Kind: FaultStatus, Status: 529, Count: 2}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		resp, body := mustDo(t)(f.postAnthropic(t, t.Context(), "k1", anthropicBody("hi", 10, false)))
		if resp.StatusCode != 529 || !strings.Contains(string(body), `"overloaded_error"`) {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
	}
	if resp, _ := mustDo(t)(f.postAnthropic(t, t.Context(), "k1", anthropicBody("hi", 10, false))); resp.StatusCode != http.StatusOK {
		t.Fatalf("fault outlived its count: %d", resp.StatusCode)
	}
	if len(f.p.Faults()) != 0 {
		t.Errorf("used-up fault still listed: %v", f.p.Faults())
	}

	// A keyed fault leaves other keys alone; OpenAI gets its own shape.
	if err := f.p.SetFault(Fault{Kind: FaultStatus, Status: 503, Key: "k2"}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		resp, body := mustDo(t)(f.postOpenAI(t, t.Context(), "k2", openaiBody("hi", false, false)))
		if resp.StatusCode != 503 || !strings.Contains(string(body), `"server_error"`) {
			t.Fatalf("k2: %d %s", resp.StatusCode, body)
		}
	}
	if resp, _ := mustDo(t)(f.postOpenAI(t, t.Context(), "k1", openaiBody("hi", false, false))); resp.StatusCode != http.StatusOK {
		t.Fatalf("k1 hit k2's fault: %d", resp.StatusCode)
	}
	f.p.ClearFaults()
	if resp, _ := mustDo(t)(f.postOpenAI(t, t.Context(), "k2", openaiBody("hi", false, false))); resp.StatusCode != http.StatusOK {
		t.Fatalf("after ClearFaults: %d", resp.StatusCode)
	}
	if k := f.p.Stats().Keys["k2"]; k.Errors != 2 || k.OK != 1 {
		t.Errorf("stats %+v", k)
	}
	// Faulted requests are not charged: 4 OK requests so far.
	resp, _ := mustDo(t)(f.postAnthropic(t, t.Context(), "k1", anthropicBody("hi", 10, false)))
	if got := resp.Header.Get("anthropic-ratelimit-requests-remaining"); got != "96" {
		t.Errorf("remaining %s, want 96", got)
	}
	if err := f.p.SetFault(Fault{Kind: "bogus"}); err == nil {
		t.Error("bogus fault accepted")
	}
}

func TestFaultRateLimit(t *testing.T) {
	f := newFixture(t, orgAConfig(Limits{RPM: 100}))
	_ = f.p.SetFault(Fault{Kind: FaultRateLimit, RetryAfter: 2500 * time.Millisecond, Count: 1})
	_ = f.p.SetFault(Fault{Kind: FaultRateLimit, Count: 1})
	resp, body := mustDo(t)(f.postAnthropic(t, t.Context(), "k1", anthropicBody("hi", 10, false)))
	if resp.StatusCode != 429 || resp.Header.Get("retry-after") != "3" || !strings.Contains(string(body), "rate_limit_error") {
		t.Fatalf("%d retry-after %q %s", resp.StatusCode, resp.Header.Get("retry-after"), body)
	}
	checkHeaders(t, resp.Header, map[string]string{"anthropic-ratelimit-requests-remaining": "100"})
	resp, _ = mustDo(t)(f.postOpenAI(t, t.Context(), "k1", openaiBody("hi", false, false)))
	if resp.StatusCode != 429 || resp.Header.Get("retry-after") != "" {
		t.Fatalf("%d retry-after %q", resp.StatusCode, resp.Header.Get("retry-after"))
	}
	if k := f.p.Stats().Keys["k1"]; k.RateLimited != 2 {
		t.Errorf("stats %+v", k)
	}
}

func TestRevokeAndForbid(t *testing.T) {
	f := newFixture(t, orgAConfig(Limits{}))
	if err := f.p.RevokeKey("k1"); err != nil {
		t.Fatal(err)
	}
	if err := f.p.ForbidKey("k2"); err != nil {
		t.Fatal(err)
	}
	resp, body := mustDo(t)(f.postAnthropic(t, t.Context(), "k1", anthropicBody("hi", 10, false)))
	if resp.StatusCode != 401 || !strings.Contains(string(body), "authentication_error") {
		t.Errorf("revoked: %d %s", resp.StatusCode, body)
	}
	resp, body = mustDo(t)(f.postAnthropic(t, t.Context(), "k2", anthropicBody("hi", 10, false)))
	if resp.StatusCode != 403 || !strings.Contains(string(body), "permission_error") {
		t.Errorf("forbidden: %d %s", resp.StatusCode, body)
	}
	resp, body = mustDo(t)(f.postOpenAI(t, t.Context(), "k2", openaiBody("hi", false, false)))
	if resp.StatusCode != 403 || !strings.Contains(string(body), `"error"`) {
		t.Errorf("forbidden (openai): %d %s", resp.StatusCode, body)
	}
	if err := f.p.RestoreKey("k1"); err != nil {
		t.Fatal(err)
	}
	if resp, _ := mustDo(t)(f.postAnthropic(t, t.Context(), "k1", anthropicBody("hi", 10, false))); resp.StatusCode != 200 {
		t.Errorf("restored: %d", resp.StatusCode)
	}
	if err := f.p.RevokeKey("nope"); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("revoke unknown key: %v", err)
	}
}

func TestFaultReset(t *testing.T) {
	f := newFixture(t, orgAConfig(Limits{}))
	_ = f.p.SetFault(Fault{Kind: FaultReset, Count: 1})
	resp, err := f.postAnthropic(t, t.Context(), "k1", anthropicBody("hi", 10, false))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got a response (%d), want a connection error", resp.StatusCode)
	}
	f.waitDone(t, 1)
	if k := f.p.Stats().Keys["k1"]; k.Errors != 1 {
		t.Errorf("stats %+v", k)
	}
	if resp, _ := mustDo(t)(f.postAnthropic(t, t.Context(), "k1", anthropicBody("hi", 10, false))); resp.StatusCode != 200 {
		t.Errorf("after reset: %d", resp.StatusCode)
	}
}

func TestFaultResetMidStream(t *testing.T) {
	f := newFixture(t, orgAConfig(Limits{}))
	t.Run("anthropic stream", func(t *testing.T) {
		_ = f.p.SetFault(Fault{Kind: FaultResetMidStream, Count: 1})
		resp, err := f.postAnthropic(t, t.Context(), "k1", anthropicBody("hi", 100, true))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		r := newSSEReader(resp.Body)
		if ev, err := r.next(); err != nil || ev.name != "message_start" {
			t.Fatalf("first event %+v, %v", ev, err)
		}
		if ev, err := r.next(); err == nil || err == io.EOF {
			t.Fatalf("stream went on after the reset: %+v, %v", ev, err)
		}
	})
	t.Run("openai stream", func(t *testing.T) {
		_ = f.p.SetFault(Fault{Kind: FaultResetMidStream, Count: 1})
		resp, err := f.postOpenAI(t, t.Context(), "k1", openaiBody("hi", true, true))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		r := newSSEReader(resp.Body)
		if _, err := r.next(); err != nil {
			t.Fatalf("first chunk: %v", err)
		}
		if _, err := r.next(); err == nil || err == io.EOF {
			t.Fatalf("stream went on after the reset: %v", err)
		}
	})
	t.Run("non-streaming body is cut", func(t *testing.T) {
		_ = f.p.SetFault(Fault{Kind: FaultResetMidStream, Count: 1})
		resp, err := f.postAnthropic(t, t.Context(), "k1", anthropicBody("hi", 100, false))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if _, err := io.ReadAll(resp.Body); err == nil {
			t.Fatal("truncated body read without error")
		}
	})
	f.waitDone(t, 3)
	if k := f.p.Stats().Keys["k1"]; k.Errors != 3 || k.OK != 0 {
		t.Errorf("stats %+v", k)
	}
}

func TestFaultSlowHeaders(t *testing.T) {
	f := newFixture(t, orgAConfig(Limits{}))
	const delay = 50 * time.Millisecond
	_ = f.p.SetFault(Fault{Kind: FaultSlowHeaders, Delay: delay, Count: 1})
	start := time.Now()
	resp, _ := mustDo(t)(f.postAnthropic(t, t.Context(), "k1", anthropicBody("hi", 10, false)))
	if resp.StatusCode != 200 || time.Since(start) < delay {
		t.Fatalf("status %d after %v", resp.StatusCode, time.Since(start))
	}
	f.waitDone(t, 1)

	// The delay gives way when the client leaves; the handler returns.
	_ = f.p.SetFault(Fault{Kind: FaultSlowHeaders, Delay: time.Hour, Count: 1})
	for len(f.started) > 0 {
		<-f.started
	}
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := f.postAnthropic(t, ctx, "k1", anthropicBody("hi", 10, false))
		errc <- err
	}()
	<-f.started
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	f.waitDone(t, 1)
	if k := f.p.Stats().Keys["k1"]; k.Errors != 1 || k.OK != 1 {
		t.Errorf("stats %+v", k)
	}
}

func TestFaultSlowStream(t *testing.T) {
	f := newFixture(t, Config{Keys: []Key{{Key: "k", Org: "o"}}, OutputTokens: 16})
	const delay = 20 * time.Millisecond
	_ = f.p.SetFault(Fault{Kind: FaultSlowStream, Delay: delay})
	// Non-streaming requests are not slowed and do not use the fault up.
	if resp, _ := mustDo(t)(f.postAnthropic(t, t.Context(), "k", anthropicBody("hi", 100, false))); resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	start := time.Now()
	resp, err := f.postAnthropic(t, t.Context(), "k", anthropicBody("hi", 100, true))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := newSSEReader(resp.Body).all(t)
	if len(events) != 8 {
		t.Fatalf("%d events", len(events))
	}
	if elapsed := time.Since(start); elapsed < 7*delay {
		t.Errorf("8 events in %v, want at least %v", elapsed, 7*delay)
	}
}

func TestHoldStreams(t *testing.T) {
	f := newFixture(t, orgAConfig(Limits{}))
	release := f.p.HoldStreams()
	defer release()

	resp, err := f.postAnthropic(t, t.Context(), "k1", anthropicBody("hi", 100, true))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := newSSEReader(resp.Body)
	// These arrive while the provider holds the stream: it cannot finish
	// before release is called below.
	for _, want := range []string{"message_start", "content_block_start", "ping"} {
		if ev, err := r.next(); err != nil || ev.name != want {
			t.Fatalf("got %+v, %v; want %s", ev, err, want)
		}
	}
	release()
	release() // idempotent
	rest := r.all(t)
	if len(rest) == 0 || rest[len(rest)-1].name != "message_stop" {
		t.Fatalf("after release: %+v", rest)
	}

	// A held stream gives way when the client leaves.
	release = f.p.HoldStreams()
	defer release()
	ctx, cancel := context.WithCancel(t.Context())
	resp2, err := f.postOpenAI(t, ctx, "k1", openaiBody("hi", true, false))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newSSEReader(resp2.Body).next(); err != nil {
		t.Fatalf("first chunk: %v", err)
	}
	cancel()
	resp2.Body.Close()
	f.waitDone(t, 2)
	if k := f.p.Stats().Keys["k1"]; k.OK != 1 || k.Errors != 1 {
		t.Errorf("stats %+v", k)
	}
}
