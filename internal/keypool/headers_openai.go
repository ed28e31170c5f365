package keypool

import (
	"net/http"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
)

var openAIDims = [...]dimensionHeaders{
	{ratelimit.Requests, "X-Ratelimit-Limit-Requests", "X-Ratelimit-Remaining-Requests", "X-Ratelimit-Reset-Requests"},
	{ratelimit.Tokens, "X-Ratelimit-Limit-Tokens", "X-Ratelimit-Remaining-Tokens", "X-Ratelimit-Reset-Tokens"},
}

// ParseOpenAIHeaders reads OpenAI-compatible rate-limit headers:
// x-ratelimit-{limit,remaining,reset}-{requests,tokens}, reset being a
// duration until the bucket is full ("6m0s", "1s", "12ms", "1m30.5s", or
// bare seconds). Tokens are OpenAI's combined input-plus-output limit, the
// Tokens dimension. A 429's wait comes from retry-after-ms or retry-after.
// Absent or malformed values report nothing. It does not allocate for
// well-formed headers.
func ParseOpenAIHeaders(h http.Header, now time.Time) HeaderLimits {
	hl := emptyHeaderLimits()
	for i := range openAIDims {
		hd := &openAIDims[i]
		o := ratelimit.NoObservation
		if v, ok := parseCount(header(h, hd.limit)); ok && v > 0 {
			o.Limit = v
		}
		if v, ok := parseCount(header(h, hd.remaining)); ok {
			o.Remaining = v
		}
		if d, ok := parseResetDuration(header(h, hd.reset)); ok {
			o.Reset = now.Add(d)
		}
		hl.Dimensions[hd.dim] = o
	}
	if ms, ok := parseSeconds(header(h, "Retry-After-Ms")); ok {
		hl.RetryAfter = ms / 1000
	} else {
		hl.RetryAfter, _ = ParseRetryAfter(header(h, "Retry-After"), now)
	}
	hl.Organization = header(h, "Openai-Organization")
	return hl
}
