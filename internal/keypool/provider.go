package keypool

import (
	"fmt"
	"net/http"
	"time"
)

// Provider is the upstream API family a pool talks to.
type Provider string

const (
	// ProviderAnthropic is the Anthropic Messages API (x-api-key, anthropic-ratelimit-* headers).
	ProviderAnthropic Provider = "anthropic"
	// ProviderOpenAI is any OpenAI-compatible API (Authorization: Bearer, x-ratelimit-* headers).
	ProviderOpenAI Provider = "openai"
)

// ParseHeaders reads what a response of this provider says about the key's
// limits. It does not allocate for well-formed headers.
func (p Provider) ParseHeaders(h http.Header, now time.Time) HeaderLimits {
	if p == ProviderOpenAI {
		return ParseOpenAIHeaders(h, now)
	}
	return ParseAnthropicHeaders(h, now)
}

// normalize returns the provider, defaulting the empty one to Anthropic.
func (p Provider) normalize() (Provider, error) {
	switch p {
	case "", ProviderAnthropic:
		return ProviderAnthropic, nil
	case ProviderOpenAI:
		return p, nil
	}
	return "", fmt.Errorf("%w: unknown provider %q", ErrInvalidConfig, string(p))
}
