package keypool

import (
	"net/http"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
)

// dimensionHeaders names the rate-limit headers of one dimension, in the
// canonical form net/http stores them in.
type dimensionHeaders struct {
	dim                     ratelimit.Dimension
	limit, remaining, reset string
}

var anthropicDims = [...]dimensionHeaders{
	anthropicHeaderNames(ratelimit.Requests, "Requests"),
	anthropicHeaderNames(ratelimit.InputTokens, "Input-Tokens"),
	anthropicHeaderNames(ratelimit.OutputTokens, "Output-Tokens"),
}

var anthropicTokens = anthropicHeaderNames(ratelimit.Tokens, "Tokens")

// anthropicHeaderNames names Anthropic-Ratelimit-<name>-{Limit,Remaining,Reset}
// for dim. It runs at package initialisation, so parsing builds no strings.
func anthropicHeaderNames(dim ratelimit.Dimension, name string) dimensionHeaders {
	p := "Anthropic-Ratelimit-" + name
	return dimensionHeaders{dim, p + "-Limit", p + "-Remaining", p + "-Reset"}
}

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
