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

package keypool

import (
	"context"
	"net/http"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/quota"
	"github.com/keypool-dev/keypool-operator/internal/usage"
)

// Request is one client request's hold on the pool, from its client's
// admission to its end. The proxy makes one per request with Begin, takes a
// key for each attempt with Acquire, says how the attempt went with
// Answered or Failed, and ends the request with exactly one Finish, which
// settles the key and the client's quota with the same usage and counts
// the outcome. So the proxy never has to order the pool's and the quota's
// calls itself, and nothing it holds can be left unsettled.
//
// A Request is a value so that the proxy keeps it inside its own
// per-request state without an allocation; it must not be copied once
// used.
type Request struct {
	pool   *KeyPool
	client string
	quota  quota.Lease
	lease  Lease // the current attempt's key; settled once lease.key is nil
	done   bool
}

// Begin admits a request of client (its name; "" for an unnamed client)
// with estInput input tokens and maxOutput output tokens at most (0: the
// request sets no cap) against the client's own quotas and budgets, before
// any key is touched (see quota.Clients.Admit). It fails with a *quota.Error naming the quota the
// request is over; the Request then holds nothing, and its Finish only
// counts the outcome.
func (p *KeyPool) Begin(client string, estInput, maxOutput int64) (Request, error) {
	q, err := p.clients.Admit(client, estInput, maxOutput)
	return Request{pool: p, client: client, quota: q}, err
}

// Acquire takes a key for the request's next attempt (see KeyPool.Acquire;
// opts.Client is the request's client). A key the previous attempt still
// holds is given back first, unused: the attempt failed over. The Lease
// stays valid until the next Acquire or Finish.
func (r *Request) Acquire(ctx context.Context, opts AcquireOptions) (*Lease, error) {
	r.pool.Settle(&r.lease, Usage{})
	opts.Client = r.client
	l, err := r.pool.Acquire(ctx, opts)
	if err != nil {
		return nil, err
	}
	r.lease = l
	return &r.lease, nil
}

// Answered tells the pool how the provider answered the current attempt,
// as soon as the response headers are in (see KeyPool.ReportResponse).
func (r *Request) Answered(status int, h http.Header) { r.pool.ReportResponse(&r.lease, status, h) }

// Failed tells the pool that the current attempt got no answer (see
// KeyPool.ReportError).
func (r *Request) Failed(err error) { r.pool.ReportError(&r.lease, err) }

// Suspect takes the current attempt's key out of use while its value is
// re-checked (see KeyPool.Suspect).
func (r *Request) Suspect(timeout time.Duration) bool { return r.pool.Suspect(&r.lease, timeout) }

// Finish ends the request: the key the last attempt holds and the client's
// quota are settled with charged (zero for a request that was not served),
// and the client's last minute counts outcome with reported, the usage the
// answer itself reported. Later calls do nothing.
func (r *Request) Finish(outcome quota.Outcome, charged, reported usage.Tokens) {
	if r.done || r.pool == nil {
		return
	}
	r.done = true
	r.pool.Settle(&r.lease, Usage{
		InputTokens:              charged.Input,
		OutputTokens:             charged.Output,
		CacheCreationInputTokens: charged.CacheCreation,
		CacheReadInputTokens:     charged.CacheRead,
	})
	r.pool.clients.Settle(&r.quota, charged)
	r.pool.clients.Record(r.client, outcome, reported)
}
