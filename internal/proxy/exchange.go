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
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/provider"

	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/quota"
	"github.com/keypool-dev/keypool-operator/internal/usage"
)

// Response headers the proxy adds.
const (
	// HeaderKey names the key that served the request (its ID, never its value).
	HeaderKey = "X-Keypool-Key"
	// HeaderAttempts is how many keys were tried.
	HeaderAttempts = "X-Keypool-Attempts"
	// HeaderRetryBooked says, on the proxy's 429 for want of capacity,
	// whether the pool booked capacity at its Retry-After for the client's
	// retry ("true") or only estimates when there will be some ("false").
	HeaderRetryBooked = "X-Keypool-Retry-Booked"
)

// The values of HeaderRetryBooked, shared by every response as
// attemptsValues are (a written header is only read).
var (
	retryBooked    = []string{"true"}
	retryNotBooked = []string{"false"}
)

// exchange is one client request on its way through the proxy. It is
// allocated once per request and holds everything the attempts share.
type exchange struct {
	s      *Server
	w      http.ResponseWriter
	r      *http.Request
	pool   *keypool.KeyPool
	prov   provider.Provider
	pm     *poolMetrics
	cm     *clientMetrics  // nil for an unnamed client
	client string          // the authenticated client's name; "" if unnamed
	req    keypool.Request // the request's hold on the pool, finished once
	// overQuota: the request was refused for one of its client's quotas.
	overQuota bool
	route     route
	// body is the request body's bytes and its share of the body budget;
	// replay.go says when they go.
	body   requestBody
	header http.Header // upstream request header without the key
	url    url.URL     // the upstream URL
	// firstBody is the first attempt's request body; later attempts get
	// their own (the transport may still read an earlier one).
	firstBody replayBody
	out       http.Request // the upstream request, before WithContext
	start     time.Time
	// facts are what the request says of itself (input estimate, max
	// tokens, whether it generates); charge.go charges by them.
	facts provider.RequestFacts
	// model is the model the request asks for (Provider.Model): limits are
	// per key and model, so it picks the limits admitted against.
	model string
	// usageFilter holds back the stream to event boundaries to drop the
	// usage chunk the proxy asked for and the client did not; nil when
	// the proxy asked for nothing (usage_option.go).
	usageFilter *usageChunkFilter
	scan        usage.Scanner
	tried       [4]string  // backing array of the Exclude list for the usual attempt counts
	genai       *genaiCall // OpenTelemetry span and measurements; nil when off

	// bodyRefs counts the bodies given to the transport and not closed yet,
	// plus one until letGoOfBody; bodyReleased: the budget share went back.
	bodyRefs     atomic.Int64
	bodyReleased atomic.Bool
	bodyLetGo    bool // letGoOfBody ran (the handler's goroutine only)
	// sending is the body the transport was given last (getBody).
	sending *replayBody

	// obj: the provider objects the request touches (objects.go); nil for none.
	obj *objectCall
}

// run acquires keys and sends the request until it gets an answer it can
// pass on, failing over as failover.go decides, and answers the client.
// keyRefused reports whether the upstream's refusal (failed) blames the
// lease's key rather than the request (only the body says), and then has
// the key checked in the background when the pool suspects it.
func (x *exchange) keyRefused(lease *keypool.Lease, failed *failedResponse) bool {
	if !x.prov.KeyInvalid(failed.status, failed.body) {
		return false
	}
	if x.req.Suspect(keyCheckTimeout) {
		pool, prov, upstream, id, key := x.pool, x.prov, x.pool.Access().Upstream, lease.KeyID, lease.APIKey
		x.s.checks.Go(func() { x.s.checkKey(pool, prov, upstream, id, key) })
	}
	return true
}

func (x *exchange) run(maxAttempts int) {
	if maxAttempts <= 0 {
		maxAttempts = 1
	}
	ctx := x.r.Context()
	if x.facts.AskUsage {
		x.askUsage()
	}
	// Acquire reserves this; Settle replaces it with the real count.
	estimate := x.facts.InputTokens
	// The client's own quotas come first: a client over them touches no key.
	var err error
	if x.req, err = x.pool.Begin(x.client, estimate, x.facts.MaxOutputTokens); err != nil {
		x.quotaExceeded(err)
		return
	}
	affinity := x.affinityKey()
	exclude := x.objectExclude(x.tried[:0]) // a request naming objects goes to their key
	var (
		pending *failedResponse // last retryable answer, returned if no key is left
		lastErr error           // last transport error, likewise
	)
	for attempt := 1; ; attempt++ {
		waitStart := time.Now()
		lease, err := x.req.Acquire(ctx, keypool.AcquireOptions{EstimatedInputTokens: estimate,
			ReserveOutputTokens: x.facts.ReserveOutput, Exclude: exclude,
			Affinity: affinity, Retry: retryHint(x.header), Model: x.model})
		x.pm.queueWait.Observe(time.Since(waitStart).Seconds())
		if err != nil {
			x.noKey(err, attempt-1, pending, lastErr)
			return
		}
		exclude = append(exclude, lease.KeyID)
		final := attempt >= maxAttempts

		resp, err := x.send(ctx, lease, attempt)
		if err != nil {
			if ctx.Err() != nil {
				// The client left (or its deadline passed): not the key's fault.
				x.finish(lease.KeyID, statusClientClosed, attempt, err)
				return
			}
			x.req.Failed(err)
			if final || !x.retryableError(err) || !x.moreKeys(len(exclude)) {
				x.badGateway(lease.KeyID, attempt, err)
				return
			}
			x.pm.failover(reasonConnection)
			x.logFailover(lease.KeyID, attempt, 0, err)
			pending, lastErr = nil, err
			continue
		}

		var failed *failedResponse // a body already read, to answer with
		if bodyJudged(resp.StatusCode) {
			failed = bufferFailed(resp, lease.KeyID)
		}
		x.req.Answered(resp.StatusCode, reportedHeader(resp, failed))
		keyInvalid := failed != nil && resp.StatusCode != http.StatusTooManyRequests && x.keyRefused(lease, failed)
		reason, retryable := x.failoverFor(resp.StatusCode, keyInvalid)
		if retryable && !final && x.moreKeys(len(exclude)) {
			if failed == nil {
				failed = bufferFailed(resp, lease.KeyID)
			}
			pending, lastErr = failed, nil
			x.pm.failover(reason)
			x.logFailover(lease.KeyID, attempt, resp.StatusCode, nil)
			continue
		}
		if failed != nil {
			failed.write(x.w, x.prov, attempt)
			x.finish(lease.KeyID, failed.status, attempt, nil)
			return
		}
		x.answer(resp, lease, attempt)
		return
	}
}

// send makes one attempt with the lease's key: the request goes through the
// key's RoundTripper (keyTransport), which authenticates it and sends it
// over the shared transport.
func (x *exchange) send(ctx context.Context, lease *keypool.Lease, attempt int) (*http.Response, error) {
	h := x.header
	if attempt > 1 {
		// The previous attempt's request may still be read by the transport
		// (it can return before it is done with the request); never mutate
		// what it was given.
		h = x.header.Clone()
	}
	// The request is made in the exchange and copied by WithContext, which
	// costs one allocation where a new request would cost two.
	x.out = http.Request{
		Method:        x.r.Method,
		URL:           &x.url,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Host:          x.url.Host,
		ContentLength: int64(len(x.body.buf)),
	}
	if len(x.body.buf) > 0 {
		x.out.Body = x.replayBody(attempt)
		// GetBody lets the transport resend on a stale pooled connection;
		// getBody says when.
		x.out.GetBody = x.getBody
	}
	req := x.out.WithContext(ctx) // the client's cancellation reaches the upstream
	sent := time.Now()
	resp, err := x.s.keyTransport(x.prov, lease.APIKey).RoundTrip(req)
	if err != nil {
		return nil, err
	}
	x.pm.latency.Observe(time.Since(sent).Seconds())
	return resp, nil
}

// moreKeys reports whether the pool has a key this request has not tried.
// It is only asked on the failover path.
func (x *exchange) moreKeys(tried int) bool { return tried < len(x.pool.Keys()) }

// noKey answers when Acquire found no key: with the last upstream answer if
// an attempt was made, else with 429 and the pool's Retry-After.
func (x *exchange) noKey(err error, attempts int, pending *failedResponse, lastErr error) {
	ctx := x.r.Context()
	var exhausted *keypool.ExhaustedError
	isExhausted := errors.As(err, &exhausted) || errors.Is(err, keypool.ErrAllKeysExhausted)
	var tooLarge *keypool.TooLargeError
	switch {
	case ctx.Err() != nil:
		x.finish(keyNone, statusClientClosed, attempts, err)
	case errors.As(err, &tooLarge):
		// Waiting or retrying cannot help; nothing was sent or cooled.
		x.w.Header()[HeaderAttempts] = attemptsValue(attempts)
		x.prov.WriteError(x.w, provider.ErrBadRequest, tooLarge.Error()+" of KeyPool "+
			x.route.namespace+"/"+x.route.name)
		x.finish(keyNone, http.StatusBadRequest, attempts, err)
	case pending != nil && (pending.status != http.StatusTooManyRequests || !isExhausted):
		// A 429 is better answered with the pool's own Retry-After below,
		// which knows when any key has capacity; other errors are the
		// provider's to report.
		pending.write(x.w, x.prov, attempts)
		x.finish(pending.key, pending.status, attempts, nil)
	case lastErr != nil:
		x.badGateway(keyNone, attempts, lastErr)
	case isExhausted && allRejected(x.pool):
		// Waiting would not help: no key comes back until its Secret
		// changes, so a 429 with a Retry-After would mislead the client.
		h := x.w.Header()
		h[HeaderAttempts] = attemptsValue(attempts)
		x.prov.WriteError(x.w, provider.ErrUnavailable, "the provider rejected every key of KeyPool "+
			x.route.namespace+"/"+x.route.name+"; its keys must be replaced in their Secrets")
		x.finish(keyNone, http.StatusServiceUnavailable, attempts, err)
	case errors.Is(err, keypool.ErrQueueFull):
		x.queueFull(exhausted, attempts)
	case isExhausted:
		retry := time.Duration(0)
		if exhausted != nil {
			retry = exhausted.RetryAfter
		}
		if pending != nil && (exhausted == nil || !exhausted.Booked) {
			// The pool's estimate leaves out the keys this request tried,
			// but the client's retry may use them: the key that just
			// answered 429 is back when its own retry-after says. A time
			// the pool booked for the retry stands: earlier, nothing is held.
			if ra, ok := provider.ParseRetryAfter(pending.header.Get("Retry-After"), time.Now()); ok && (retry <= 0 || ra < retry) {
				retry = ra
			}
		}
		h := x.w.Header()
		h.Set("Retry-After", retryAfterSeconds(retry))
		h[HeaderAttempts] = attemptsValue(attempts)
		advice := retryAdvice(h, exhausted)
		x.pm.queueRejected.Inc()
		x.prov.WriteError(x.w, provider.ErrRateLimited, "all keys of KeyPool "+x.route.namespace+"/"+x.route.name+
			" are at their rate limits; "+advice)
		x.finish(keyNone, http.StatusTooManyRequests, attempts, err)
	default:
		h := x.w.Header()
		h[HeaderAttempts] = attemptsValue(attempts)
		x.prov.WriteError(x.w, provider.ErrUnavailable, "no key available: "+err.Error())
		x.finish(keyNone, http.StatusServiceUnavailable, attempts, err)
	}
}

// retryAdvice says in h whether the pool booked the Retry-After already set
// there for the client's retry, and returns the advice for the message.
func retryAdvice(h http.Header, e *keypool.ExhaustedError) string {
	if e != nil && e.Booked {
		h[HeaderRetryBooked] = retryBooked
		return "retry after " + h.Get("Retry-After") + "s, when capacity is booked for this client's retry"
	}
	h[HeaderRetryBooked] = retryNotBooked
	return "retry after about " + h.Get("Retry-After") + "s (an estimate: nothing is booked for the retry)"
}

// badGateway answers a transport error on the last attempt.
func (x *exchange) badGateway(key string, attempts int, err error) {
	h := x.w.Header()
	if key != keyNone {
		h[HeaderKey] = []string{key}
	}
	h[HeaderAttempts] = attemptsValue(attempts)
	x.prov.WriteError(x.w, provider.ErrBadGateway, "upstream request failed: "+err.Error())
	x.finish(key, http.StatusBadGateway, attempts, err)
}

// finish ends a request that was not served: nothing is charged.
func (x *exchange) finish(key string, code, attempts int, err error) {
	x.end(key, code, attempts, usage.Tokens{}, usage.Tokens{}, err)
}

// end ends the request once: the pool's hold on it is settled with charged
// (see keypool.Request.Finish), and the outcome goes to metrics, the
// client's last minute and the debug log with the usage the answer
// reported, t.
func (x *exchange) end(key string, code, attempts int, charged, t usage.Tokens, err error) {
	x.pm.request(key, code)
	x.pm.addTokens(t)
	o := quota.OutcomeOf(code)
	if x.overQuota {
		o = quota.OutcomeOverQuota
	}
	if x.cm != nil {
		x.cm.done(o, t)
	}
	x.req.Finish(o, charged, t)
	x.genai.end(key, code, attempts, t)
	if log := x.s.log.V(1); log.Enabled() {
		kv := []any{
			labelNamespace, x.route.namespace, labelPool, x.route.name,
			"method", x.r.Method, "path", x.route.rest,
			"status", code, "key", key, "attempts", attempts, labelClient, x.client,
			"duration", time.Since(x.start),
			"inputTokens", t.Input, "outputTokens", t.Output,
			"cacheCreationTokens", t.CacheCreation, "cacheReadTokens", t.CacheRead,
		}
		if err != nil {
			kv = append(kv, "error", err.Error())
		}
		log.Info("proxied request", kv...)
	}
}

func (x *exchange) logFailover(key string, attempt, status int, err error) {
	x.genai.failover(key, attempt, status, err)
	if log := x.s.log.V(1); log.Enabled() {
		kv := []any{labelNamespace, x.route.namespace, labelPool, x.route.name, "key", key, "attempt", attempt, "status", status}
		if err != nil {
			kv = append(kv, "error", err.Error())
		}
		log.Info("failing over to another key", kv...)
	}
}

// attemptsValues are preformatted header values; the server only reads them.
var attemptsValues = func() [][]string {
	v := make([][]string, 17)
	for i := range v {
		v[i] = []string{strconv.Itoa(i)}
	}
	return v
}()

func attemptsValue(n int) []string {
	if n >= 0 && n < len(attemptsValues) {
		return attemptsValues[n]
	}
	return []string{strconv.Itoa(n)}
}

// allRejected reports whether the provider rejected every key of the pool.
// It is asked only when no key could be acquired.
func allRejected(pool *keypool.KeyPool) bool {
	stats := pool.GetStats()
	for _, k := range stats.Keys {
		if k.State != keypool.StateRejected {
			return false
		}
	}
	return len(stats.Keys) > 0
}

// quotaExceeded answers a request over one of its client's quotas: 429 in
// the provider's shape, Retry-After when the quota has room again, and a
// message naming the quota.
func (x *exchange) quotaExceeded(err error) {
	var qe *quota.Error
	if !errors.As(err, &qe) {
		x.prov.WriteError(x.w, provider.ErrUnavailable, "client quota check failed: "+err.Error())
		x.finish(keyNone, http.StatusServiceUnavailable, 0, err)
		return
	}
	x.overQuota = true
	h := x.w.Header()
	h.Set("Retry-After", retryAfterSeconds(qe.RetryAfter))
	h[HeaderAttempts] = attemptsValue(0)
	x.prov.WriteError(x.w, provider.ErrRateLimited, "client "+qe.Client+" is over its quota "+
		"spec.clients["+qe.Client+"].quota."+qe.Quota+" ("+strconv.FormatInt(qe.Limit, 10)+") in KeyPool "+
		x.route.namespace+"/"+x.route.name+"; retry after "+h.Get("Retry-After")+"s")
	x.finish(keyNone, http.StatusTooManyRequests, 0, err)
}
