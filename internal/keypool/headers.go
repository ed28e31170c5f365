package keypool

import (
	"net/http"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
)

// HeaderLimits is what one response's headers say about a key's limits.
// A field whose header is absent or malformed reports nothing.
type HeaderLimits struct {
	// Dimensions holds one observation per ratelimit.Dimension.
	Dimensions ratelimit.Observations
	// RetryAfter is the provider's retry-after; 0 when absent or malformed.
	RetryAfter time.Duration
	// Organization names the account whose limits the key draws on
	// (Anthropic's anthropic-organization-id, OpenAI's openai-organization);
	// "" when not sent. Keys that report the same one share limits.
	Organization string
}

// emptyHeaderLimits reports nothing.
func emptyHeaderLimits() HeaderLimits {
	return HeaderLimits{Dimensions: ratelimit.NoObservations}
}

// header returns the first value of a header given in canonical form, as
// net/http stores received headers. Indexing the map directly avoids the
// allocation Header.Get may make to canonicalise a name.
func header(h http.Header, canonical string) string {
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
