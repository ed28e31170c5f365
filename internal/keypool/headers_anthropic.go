package keypool

import (
	"net/http"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
)

// anthropicHeaders names the rate-limit headers of one dimension, in the
// canonical form net/http stores them in.
type dimensionHeaders struct {
	dim                     ratelimit.Dimension
	limit, remaining, reset string
}

var anthropicDims = [...]dimensionHeaders{
	{ratelimit.Requests, "Anthropic-Ratelimit-Requests-Limit", "Anthropic-Ratelimit-Requests-Remaining", "Anthropic-Ratelimit-Requests-Reset"},
	{ratelimit.InputTokens, "Anthropic-Ratelimit-Input-Tokens-Limit", "Anthropic-Ratelimit-Input-Tokens-Remaining", "Anthropic-Ratelimit-Input-Tokens-Reset"},
	{ratelimit.OutputTokens, "Anthropic-Ratelimit-Output-Tokens-Limit", "Anthropic-Ratelimit-Output-Tokens-Remaining", "Anthropic-Ratelimit-Output-Tokens-Reset"},
}

var anthropicTokens = dimensionHeaders{ratelimit.Tokens, "Anthropic-Ratelimit-Tokens-Limit", "Anthropic-Ratelimit-Tokens-Remaining", "Anthropic-Ratelimit-Tokens-Reset"}

// ParseAnthropicHeaders reads Anthropic's rate-limit headers:
// anthropic-ratelimit-{requests,input-tokens,output-tokens}-{limit,remaining,reset}
// (reset in RFC 3339), retry-after and anthropic-organization-id. The combined tokens-* headers report
// whichever of the input and output limits is tighter, so they are used (as
// the combined Tokens dimension) only when neither per-direction set is
// present. Absent or malformed values report nothing. It does not allocate
// for well-formed headers.
func ParseAnthropicHeaders(h http.Header, now time.Time) HeaderLimits {
	hl := emptyHeaderLimits()
	for i := range anthropicDims {
		hd := &anthropicDims[i]
		hl.Dimensions[hd.dim] = anthropicObservation(h, hd)
	}
	if !hl.Dimensions[ratelimit.InputTokens].Reported() && !hl.Dimensions[ratelimit.OutputTokens].Reported() {
		hl.Dimensions[ratelimit.Tokens] = anthropicObservation(h, &anthropicTokens)
	}
	hl.RetryAfter, _ = ParseRetryAfter(header(h, "Retry-After"), now)
	hl.Organization = header(h, "Anthropic-Organization-Id")
	return hl
}

func anthropicObservation(h http.Header, hd *dimensionHeaders) ratelimit.Observation {
	o := ratelimit.NoObservation
	if v, ok := parseCount(header(h, hd.limit)); ok && v > 0 {
		o.Limit = v
	}
	if v, ok := parseCount(header(h, hd.remaining)); ok {
		o.Remaining = v
	}
	if t, ok := parseRFC3339(header(h, hd.reset)); ok {
		o.Reset = t
	}
	return o
}
