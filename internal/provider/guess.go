package provider

import (
	"net/http"
	"strings"
)

// Guess picks the error shape for a request that no pool speaks for (an
// unknown pool, a malformed path). Anthropic is the default; a request is
// taken for OpenAI when it carries no anthropic-version header and either
// its path exists only in OpenAI's API or it authenticates with a Bearer
// token and no x-api-key (the OpenAI SDK's habit).
func Guess(r *http.Request, path string) Provider {
	if r.Header.Get("Anthropic-Version") != "" {
		return Anthropic
	}
	if isOpenAIOnlyPath(path) {
		return OpenAI
	}
	if r.Header.Get("X-Api-Key") == "" && strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		return OpenAI
	}
	return Anthropic
}
