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
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/provider"
	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
)

// maxErrorLen bounds a key's LastError.
const maxErrorLen = 256

// ReportResponse tells the pool how the provider answered a request made
// with l, as soon as the response headers are in. It learns the rate-limit
// headers of every response, then:
//
//   - 429: cools the key, and every key of its limit group, down for the
//     response's retry-after (or until the limits it reported refill, or
//     10s); not a health failure.
//   - 401, 403: nothing. Such an answer may be about the request alone (a
//     model the key may not use, a header the client sent), so it never
//     retires a key by itself: a caller that has reason to blame the key
//     calls Suspect and has the key re-checked (see keystate.go).
//   - 5xx: counts a health failure; 3 in a row cool the key down briefly (5s,
//     doubling per repeated trip up to 1m).
//   - anything else: a success, which resets the failure count.
//
// Reports about a key that left the pool, or whose value changed, since l
// was acquired only feed its limit group's limiter.
func (p *KeyPool) ReportResponse(l *Lease, status int, h http.Header) {
	if l == nil || l.key == nil {
		return
	}
	now := p.clock.Now()
	hl := p.provider.ParseLimits(h, now)
	p.mu.Lock()
	k, g := l.key, l.grp
	if l.cls != nil {
		l.res.Absorbed |= p.observeClass(l.cls, &hl, now, &l.res)
	} else {
		l.res.Absorbed |= p.observe(g, &hl, now, &l.res)
	}
	if k.slot != nil {
		switch {
		case status == http.StatusTooManyRequests && l.cls != nil:
			p.classRateLimited(k, l.cls, &hl, l.est, now)
		case status == http.StatusTooManyRequests:
			p.rateLimited(k, g, hl.RetryAfter, now)
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			// Neither a success nor the key's fault (see above).
		case status >= 500:
			k.noteError(statusError(status), now)
			p.failure(k, now, fmt.Sprintf("upstream failures (last: %d)", status))
		default:
			k.recordSuccess()
		}
		if hl.Organization != "" && hl.Organization != k.org {
			p.learnOrganization(k, hl.Organization, now)
		}
	}
	pending := len(p.pending) > 0
	p.mu.Unlock()
	if pending {
		p.deliver()
	}
}

// ReportError tells the pool that a request made with l failed without a
// response (connection refused, reset, timeout): a health failure for the
// circuit breaker. context.Canceled (the client went away) is not the key's
// fault and is ignored.
func (p *KeyPool) ReportError(l *Lease, err error) {
	if l == nil || l.key == nil || err == nil || errors.Is(err, context.Canceled) {
		return
	}
	now := p.clock.Now()
	p.mu.Lock()
	if k := l.key; k.slot != nil {
		k.noteError(scrub(err.Error(), k.apiKey), now)
		p.failure(k, now, "upstream failures (last: transport error)")
	}
	pending := len(p.pending) > 0
	p.mu.Unlock()
	if pending {
		p.deliver()
	}
}

// Settle ends l: the reserved input tokens are settled against u (unused
// ones returned, excess charged) and u's output tokens are charged. Zero
// usage returns the whole reservation (a request that failed). Call it
// exactly once per lease; later calls on the same *Lease do nothing.
func (p *KeyPool) Settle(l *Lease, u Usage) {
	if l == nil || l.key == nil {
		return
	}
	k, g, res, aff, lim := l.key, l.grp, l.res, l.aff, l.limiter()
	c := l.cls
	l.key, l.grp, l.cls = nil, nil, nil
	k.inFlight.Add(-1)
	cu := u.counted()
	if cu == (ratelimit.Usage{}) && res.Taken == (ratelimit.Amounts{}) {
		// Nothing reserved, nothing used.
		return
	}
	if u == (Usage{}) && !res.Settles(cu) {
		// Nothing used, and no level to change: the limiter only counts
		// the request as no longer in flight (see ratelimit.Limiter.Sync), under
		// its own lock. The pool's order, its waiters' prospects and what
		// it learned stay as they are, so neither its lock nor the time
		// is needed.
		lim.Settle(time.Time{}, res, cu)
		return
	}
	now := p.clock.Now()
	p.mu.Lock()
	lim.Settle(now, res, cu)
	if c != nil {
		c.load()
	}
	p.bands.learn(l.band, cu.OutputTokens)
	p.settleAffinity(aff, g, &u, now.UnixNano())
	p.touch(g, now)
	p.notify()
	pending := len(p.pending) > 0
	p.mu.Unlock()
	if pending {
		p.deliver()
	}
}

// UpdateKeyFromHeaders learns a response's rate-limit headers for keyID.
func (p *KeyPool) UpdateKeyFromHeaders(keyID string, h http.Header) error {
	now := p.clock.Now()
	hl := p.provider.ParseLimits(h, now)
	p.mu.Lock()
	k := p.byID[keyID]
	if k != nil {
		p.observe(k.slot.grp, &hl, now, nil)
	}
	pending := len(p.pending) > 0
	p.mu.Unlock()
	if pending {
		p.deliver()
	}
	if k == nil {
		return fmt.Errorf("update headers of key %q: %w", keyID, ErrKeyNotFound)
	}
	return nil
}

// MarkKeyExhausted cools keyID down until until (a longer cooldown in place
// stays).
func (p *KeyPool) MarkKeyExhausted(keyID string, until time.Time) error {
	now := p.clock.Now()
	p.mu.Lock()
	k := p.byID[keyID]
	if k != nil {
		p.coolDown(k, until, now, "marked exhausted")
	}
	pending := len(p.pending) > 0
	p.mu.Unlock()
	if pending {
		p.deliver()
	}
	if k == nil {
		return fmt.Errorf("mark key %q exhausted: %w", keyID, ErrKeyNotFound)
	}
	return nil
}

// observe feeds what the headers of res's response reported into g's
// limiter, which may raise its levels to them when it alone holds them (see
// ratelimit.Limiter.Sync), and returns the dimensions whose level it lowered.
// p.mu is held.
func (p *KeyPool) observe(g *group, hl *provider.Limits, now time.Time, res *ratelimit.Reservation) uint8 {
	for _, o := range hl.Dimensions {
		if o.Reported() {
			var lowered uint8
			if res != nil {
				lowered = g.lim.Sync(now, hl.Dimensions, *res)
			} else {
				lowered = g.lim.Observe(now, hl.Dimensions)
			}
			learned := false
			for d, o := range hl.Dimensions {
				if o.Limit > 0 && o.Limit != g.reported[d] {
					g.reported[d], learned = o.Limit, true
				}
			}
			if learned {
				g.loadLimits(now)
			}
			p.touch(g, now)
			return lowered
		}
	}
	return 0
}

// observeClass is observe for a request of model class c.
// p.mu is held.
func (p *KeyPool) observeClass(c *classState, hl *provider.Limits, now time.Time, res *ratelimit.Reservation) uint8 {
	for _, o := range hl.Dimensions {
		if o.Reported() {
			lowered := c.lim.Sync(now, hl.Dimensions, *res)
			learned := false
			for d, o := range hl.Dimensions {
				if o.Limit > 0 && o.Limit != c.reported[d] {
					c.reported[d], learned = o.Limit, true
				}
			}
			if learned {
				c.loadLimits(now)
			}
			c.load()
			p.notify()
			return lowered
		}
	}
	return 0
}

// classRateLimited handles a 429 on k for a request of model class c: the
// provider's limit for that class, which every key of k's limit group
// shares, is spent; the group's other classes are not. A request larger
// than the class's input limit the answer reports cools nothing: it says
// nothing about the requests that fit.
func (p *KeyPool) classRateLimited(k *keyMetadata, c *classState, hl *provider.Limits, est int64, now time.Time) {
	k.noteError(statusError(http.StatusTooManyRequests), now)
	if in := hl.Dimensions[ratelimit.InputTokens].Limit; in > 0 && est > in {
		return
	}
	d := hl.RetryAfter
	if d <= 0 {
		d, _ = c.lim.TimeToCapacity(now, 0, ratelimit.LearnedOutput)
	}
	if d <= 0 {
		d = defaultRateLimitCooldown
	}
	c.coolUntil = max(c.coolUntil, now.Add(d).UnixNano())
	c.lim.CoolDown(now, d) // other replicas may draw on the same capacity
	if g := k.slot.grp; g.live {
		p.refreshGroup(g, now.UnixNano(), fmt.Sprintf("rate limited by provider (429), retry after %s (model class %s)",
			d, p.classes.names[c.id]))
	}
}

// rateLimited handles a 429 on k: the provider's limit, which every key of
// k's limit group shares, is spent.
func (p *KeyPool) rateLimited(k *keyMetadata, g *group, retryAfter time.Duration, now time.Time) {
	d := retryAfter
	if d <= 0 && g.live {
		d, _ = g.lim.TimeToCapacity(now, 0, ratelimit.LearnedOutput)
	}
	if d <= 0 {
		d = defaultRateLimitCooldown
	}
	k.noteError(statusError(http.StatusTooManyRequests), now)
	reason := fmt.Sprintf("rate limited by provider (429), retry after %s", d)
	until := now.Add(d)
	if !g.live || g != k.slot.grp {
		p.coolDown(k, until, now, reason)
		return
	}
	g.lim.CoolDown(now, d) // other replicas may draw on the same capacity
	for _, s := range g.slots {
		for _, m := range s.keys {
			p.coolDown(m, until, now, reason)
		}
	}
}

// failure counts a health failure on k and cools it down when the breaker
// trips.
func (p *KeyPool) failure(k *keyMetadata, now time.Time, reason string) {
	if d := k.recordFailure(); d > 0 {
		p.coolDown(k, now.Add(d), now, fmt.Sprintf("%d consecutive %s, cooling down for %s", breakerThreshold, reason, d))
	}
}

func statusError(status int) string {
	return fmt.Sprintf("%d %s", status, http.StatusText(status))
}

// scrub removes the key's value from an error text and bounds its length.
func scrub(msg, apiKey string) string {
	if apiKey != "" {
		msg = strings.ReplaceAll(msg, apiKey, "[redacted]")
	}
	if len(msg) > maxErrorLen {
		msg = msg[:maxErrorLen]
	}
	return msg
}
