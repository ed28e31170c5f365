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

package provider

import (
	"net/http"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
)

// Limits is what one response's headers say about a key's limits. A field
// whose header is absent or malformed reports nothing.
type Limits struct {
	// Dimensions holds one observation per ratelimit.Dimension.
	Dimensions ratelimit.Observations
	// RetryAfter is the provider's retry-after; 0 when absent or malformed.
	RetryAfter time.Duration
	// Organization names the account whose limits the key draws on
	// (Anthropic's anthropic-organization-id, OpenAI's openai-organization);
	// "" when not sent. Keys that report the same one share limits.
	Organization string
}

// NoLimits reports nothing.
func NoLimits() Limits {
	return Limits{Dimensions: ratelimit.NoObservations}
}

// ResetFormat says how a provider writes when a bucket is full again.
type ResetFormat uint8

const (
	// ResetRFC3339 is an instant: "2026-03-01T10:00:01Z" (Anthropic).
	ResetRFC3339 ResetFormat = iota
	// ResetDuration is a time from now: "6m0s", "1s", "12ms" (OpenAI).
	ResetDuration
)

// DimensionHeaders names the rate-limit headers of one dimension, in the
// canonical form net/http stores received headers in.
type DimensionHeaders struct {
	Dimension               ratelimit.Dimension
	Limit, Remaining, Reset string
}

// RateLimitHeaders describes a provider's rate-limit headers as a table and
// parses them without allocating.
type RateLimitHeaders struct {
	// Dimensions are read on every response.
	Dimensions []DimensionHeaders
	// Fallback, when set, is read only when no token dimension of
	// Dimensions was reported (Anthropic's combined tokens-* headers report
	// whichever of its per-direction limits is tighter).
	Fallback *DimensionHeaders
	// Reset is the format of the Reset headers.
	Reset ResetFormat
	// RetryAfterMs names a header carrying the wait in milliseconds,
	// preferred over Retry-After when present; "" when the API has none.
	RetryAfterMs string
	// Organization names the header naming the key's account; "" for none.
	Organization string
}

// Parse reads h. Absent or malformed values report nothing.
func (r *RateLimitHeaders) Parse(h http.Header, now time.Time) Limits {
	l := NoLimits()
	tokens := false
	for i := range r.Dimensions {
		d := &r.Dimensions[i]
		o := r.observation(h, d, now)
		l.Dimensions[d.Dimension] = o
		tokens = tokens || (d.Dimension != ratelimit.Requests && o.Reported())
	}
	if r.Fallback != nil && !tokens {
		l.Dimensions[r.Fallback.Dimension] = r.observation(h, r.Fallback, now)
	}
	if ms, ok := parseSeconds(Header(h, r.RetryAfterMs)); ok {
		l.RetryAfter = ms / 1000
	} else {
		l.RetryAfter, _ = ParseRetryAfter(Header(h, "Retry-After"), now)
	}
	if r.Organization != "" {
		l.Organization = Header(h, r.Organization)
	}
	return l
}

func (r *RateLimitHeaders) observation(h http.Header, d *DimensionHeaders, now time.Time) ratelimit.Observation {
	o := ratelimit.NoObservation
	if v, ok := parseCount(Header(h, d.Limit)); ok && v > 0 {
		o.Limit = v
	}
	if v, ok := parseCount(Header(h, d.Remaining)); ok {
		o.Remaining = v
	}
	switch r.Reset {
	case ResetRFC3339:
		if t, ok := parseRFC3339(Header(h, d.Reset)); ok {
			o.Reset = t
		}
	case ResetDuration:
		if dur, ok := parseResetDuration(Header(h, d.Reset)); ok {
			o.Reset = now.Add(dur)
		}
	}
	return o
}

// Header returns the first value of a header given in canonical form, as
// net/http stores received headers. Indexing the map directly avoids the
// allocation Header.Get may make to canonicalise a name.
func Header(h http.Header, canonical string) string {
	if v := h[canonical]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// ParseRetryAfter parses a retry-after value: delay-seconds (a decimal
// fraction is accepted) or an HTTP-date, relative to now. A date in the past
// gives 0. The HTTP-date form, rarely sent, may allocate.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if d, ok := parseSeconds(v); ok {
		return d, true
	}
	if !isDigit(v[0]) && len(v) >= len("Mon, 02 Jan 2006") {
		if t, err := http.ParseTime(v); err == nil {
			return max(t.Sub(now), 0), true
		}
	}
	return 0, false
}
