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

package proxy

import (
	"net/http"

	"github.com/keypool-dev/keypool-operator/internal/keypool"
)

// headerRetryCount is what the official Anthropic and OpenAI SDKs send on
// every attempt: 0 on the first, n on the n-th retry.
const headerRetryCount = "X-Stainless-Retry-Count"

// retryHint says whether the request is a retry, so that only a retry
// claims the capacity the pool booked for its client (a first attempt of
// the same client must not take it). Without the header, the pool cannot
// tell, and lets the request claim.
func retryHint(h http.Header) keypool.RetryHint {
	v := h[headerRetryCount]
	switch {
	case len(v) == 0:
		return keypool.RetryUnknown
	case v[0] == "0":
		return keypool.RetryFirst
	default:
		return keypool.RetryAgain
	}
}
