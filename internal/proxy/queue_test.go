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
	"bufio"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/apitest"
	"github.com/keypool-dev/keypool-operator/internal/provider"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/keypool-dev/keypool-operator/internal/keypool"
)

// result is a response read in another goroutine.
type result struct {
	resp *http.Response
	body string
	err  error
}

func (e *env) postAsync(body string) <-chan result {
	out := make(chan result, 1)
	req, err := http.NewRequestWithContext(e.t.Context(), http.MethodPost, e.base+"/v1/messages", strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", clientToken)
	go func() {
		resp, err := e.front.Client().Do(req)
		if err != nil {
			out <- result{err: err}
			return
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, err = bufio.NewReader(resp.Body).WriteTo(&b)
		out <- result{resp: resp, body: b.String(), err: err}
	}()
	return out
}

func TestQueueWaitsForCapacity(t *testing.T) {
	// One key with 1,000 input tokens per minute. Each request's body is
	// ~3,700 bytes, so the proxy reserves ~925 tokens for it, while the text
	// the provider counts is tiny: the second request fits only once the
	// first one has settled with its real usage.
	e := newEnv(t, envConfig{
		keys:         []keypool.KeyConfig{{ID: "keys/k1", APIKey: keyValue(1), ITPMLimit: 1000}},
		queueTimeout: time.Minute,
	})
	padded := func(stream bool) string {
		return `{"model":"claude-test","max_tokens":64,"stream":` + map[bool]string{true: "true", false: "false"}[stream] +
			`,"metadata":{"user_id":"` + strings.Repeat("x", 3600) + `"},"messages":[{"role":"user","content":"hi"}]}`
	}
	release := e.fake.HoldStreams()
	first := e.post(padded(true))
	if first.StatusCode != http.StatusOK {
		t.Fatalf("first request: %d", first.StatusCode)
	}
	if _, err := apitest.NewSSEReader(first.Body).Next(); err != nil {
		t.Fatal(err)
	}

	second := e.postAsync(padded(false))
	e.waitQueued() // the second request is queued in Acquire
	if n := e.fake.Stats().Total.Requests; n != 1 {
		t.Fatalf("upstream saw %d requests while the second was queued", n)
	}

	release() // the first stream ends and settles; capacity returns
	readAll(t, first.Body)
	r := <-second
	if r.err != nil || r.resp.StatusCode != http.StatusOK || r.resp.Header.Get(HeaderAttempts) != "1" {
		t.Fatalf("queued request: %v %+v %s", r.err, r.resp, r.body)
	}
	e.waitIdle()
	if n := testutil.ToFloat64(e.proxy.metrics.queueRejected.WithLabelValues(namespace, poolName)); n != 0 {
		t.Errorf("queue rejections %v", n)
	}
	if n := testutil.CollectAndCount(e.proxy.metrics.queueWait); n != 1 {
		t.Errorf("queue wait series %d", n)
	}
}

func TestQueueTimeoutRetryAfter(t *testing.T) {
	// One request per minute; the pool clock is frozen except for Advance.
	e := newEnv(t, envConfig{
		keys:         []keypool.KeyConfig{{ID: "keys/k1", APIKey: keyValue(1), RPMLimit: 1}},
		queueTimeout: 5 * time.Second,
	})
	wantStatus(t, e.post(apitest.AnthropicBody("hi", false)), http.StatusOK)

	second := e.postAsync(apitest.AnthropicBody("hi", false))
	e.waitQueued()
	e.clock.Advance(5 * time.Second) // the queue timeout passes
	r := <-second
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status %d: %s", r.resp.StatusCode, r.body)
	}
	apitest.WantAnthropicError(t, r.body, "rate_limit_error")
	// The request slot refills 60s after t0; 5s have passed.
	if got := r.resp.Header.Get("Retry-After"); got != "55" {
		t.Errorf("Retry-After %q, want 55", got)
	}
	if got := r.resp.Header.Get(HeaderAttempts); got != "0" {
		t.Errorf("attempts %q, want 0", got)
	}
	// The request waited its whole queue timeout: its retry is booked, and
	// the answer says so.
	if got := r.resp.Header.Get(HeaderRetryBooked); got != "true" || !strings.Contains(r.body, "retry after 55s, when capacity is booked") {
		t.Errorf("%s %q, body %s: want a booked retry", HeaderRetryBooked, got, r.body)
	}
	e.waitIdle()
	if n := e.fake.Stats().Total.Requests; n != 1 {
		t.Errorf("upstream saw %d requests", n)
	}
	if n := testutil.ToFloat64(e.proxy.metrics.queueRejected.WithLabelValues(namespace, poolName)); n != 1 {
		t.Errorf("queue rejections %v, want 1", n)
	}
	if n := testutil.ToFloat64(e.proxy.metrics.requests.WithLabelValues(namespace, poolName, "", "429")); n != 1 {
		t.Errorf("requests{code=429} %v, want 1", n)
	}
}

func TestExhaustedOpenAIShape(t *testing.T) {
	e := newEnv(t, envConfig{
		provider: provider.OpenAI,
		keys:     []keypool.KeyConfig{{ID: "keys/k1", APIKey: keyValue(1), RPMLimit: 1}},
	})
	wantStatus(t, e.post(apitest.OpenAIBody("hi", false)), http.StatusOK)
	resp := e.post(apitest.OpenAIBody("hi", false))
	apitest.WantOpenAIError(t, wantStatus(t, resp, http.StatusTooManyRequests), "rate_limit_error", "rate_limit_exceeded")
	if got := resp.Header.Get("Retry-After"); got != "60" {
		t.Errorf("Retry-After %q, want 60", got)
	}
	// Without a queue nothing is booked: the advice says it is an estimate.
	if got := resp.Header.Get(HeaderRetryBooked); got != "false" {
		t.Errorf("%s %q, want false", HeaderRetryBooked, got)
	}
	e.waitIdle()
}

func TestRetryAfterSeconds(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "1", time.Millisecond: "1", time.Second: "1", 1001 * time.Millisecond: "2", 55 * time.Second: "55", -time.Second: "1",
	} {
		if got := retryAfterSeconds(d); got != want {
			t.Errorf("retryAfterSeconds(%s) = %s, want %s", d, got, want)
		}
	}
}
