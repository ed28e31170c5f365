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
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/keypool-dev/keypool-operator/bench/internal/scaledclock"
	"github.com/keypool-dev/keypool-operator/internal/proxy"
)

// maxClientRetries bounds how often a client retries one request after a
// 429 before giving up.
const maxClientRetries = 8

// outcome is what happened to one logical client request (with its retries).
type outcome struct {
	class       int
	ok          bool
	errStatus   int // last non-429 failure status (0 = none); -1 transport error
	err         string
	gaveUp      bool
	throttled   int // client-visible 429s
	withoutRA   int // of which carried no usable Retry-After
	firstRetry  int // 1: the first retry at the advised time succeeded, 0: it did not, -1: no retry
	lateness    time.Duration
	hasLateness bool          // lateness = success time - first advised retry time (simulated)
	advised     time.Duration // the first Retry-After received (simulated); -1 if none
	booked      bool          // the proxy said it booked that Retry-After (X-Keypool-Retry-Booked)

	client       int           // index in fairClients (fairness runs)
	firstOK      bool          // the first attempt succeeded
	firstWait    time.Duration // first attempt: sent to response headers (simulated)
	hasFirstWait bool
}

// client sends requests the way a well-behaved SDK user does: on 429 it
// waits exactly the Retry-After it was given, then retries, while new demand
// keeps arriving.
type client struct {
	http  *http.Client
	clock *scaledclock.Clock
	done  <-chan struct{} // closed when the run is over
}

// do sends body to url (with header h) until it succeeds, fails with
// something other than 429, or has been throttled maxClientRetries times.
func (c *client) do(ctx context.Context, url string, h http.Header, body []byte, class int) outcome {
	o := outcome{class: class, firstRetry: -1, advised: -1}
	var advised time.Time
	for attempt := 0; ; attempt++ {
		sent := c.clock.Now()
		status, ra, booked, headersAt, err := c.send(ctx, url, h, body, attempt)
		now := c.clock.Now()
		if attempt == 0 && err == nil {
			o.firstWait, o.hasFirstWait = headersAt.Sub(sent), true
			o.firstOK = status == http.StatusOK
		}
		switch {
		case err != nil:
			o.errStatus, o.err = -1, err.Error()
			return o
		case status == http.StatusOK:
			o.ok = true
			if attempt == 1 {
				o.firstRetry = 1
			}
			if !advised.IsZero() {
				o.lateness, o.hasLateness = now.Sub(advised), true
			}
			return o
		case status != http.StatusTooManyRequests:
			o.errStatus = status
			return o
		}
		o.throttled++
		if attempt == 1 {
			o.firstRetry = 0
		}
		if ra < 0 {
			o.withoutRA++
			ra = time.Second // what a cautious client would do
		}
		if advised.IsZero() {
			advised = now.Add(ra)
			o.advised, o.booked = ra, booked
		}
		if attempt >= maxClientRetries {
			o.gaveUp = true
			return o
		}
		if !c.clock.Sleep(ra, c.done) {
			o.gaveUp = true
			return o
		}
	}
}

// send makes one HTTP request and reads the whole response. ra is the
// Retry-After in simulated time (the proxy and the fake both speak the
// shared clock's seconds), or -1 when absent; booked says the proxy booked
// it for the retry; headersAt is when the response headers arrived
// (simulated).
// The attempt number goes in X-Stainless-Retry-Count, as the official
// SDKs send it.
func (c *client) send(ctx context.Context, url string, h http.Header, body []byte, attempt int) (status int,
	ra time.Duration, booked bool, headersAt time.Time, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, -1, false, headersAt, fmt.Errorf("build request: %w", err)
	}
	req.Header = h.Clone()
	req.Header.Set("X-Stainless-Retry-Count", strconv.Itoa(attempt))
	resp, err := c.http.Do(req)
	headersAt = c.clock.Now()
	if err != nil {
		return 0, -1, false, headersAt, fmt.Errorf("send: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, -1, false, headersAt, fmt.Errorf("read body: %w", err)
	}
	ra = -1
	if v := resp.Header.Get("Retry-After"); v != "" {
		if s, err := strconv.ParseInt(v, 10, 64); err == nil && s >= 0 {
			ra = time.Duration(s) * time.Second
		}
	}
	booked = resp.Header.Get(proxy.HeaderRetryBooked) == "true"
	return resp.StatusCode, ra, booked, headersAt, nil
}
