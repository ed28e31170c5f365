// Package apitest is the client side of the data-plane tests: request
// bodies in each provider's shape, checks that an error body has the
// provider's shape, an SSE event reader and the SDK stream accumulators.
// It imports no part of the data plane but internal/provider, so the fake
// provider's own tests use it as well as the proxy's.
package apitest
