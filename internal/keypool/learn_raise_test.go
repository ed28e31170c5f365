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
	"net/http"
	"testing"

	"github.com/keypool-dev/keypool-operator/internal/provider"
)

// TestResponseHeadersRaiseCapacity checks that a response reporting more
// remaining than the pool's picture gives the pool that capacity, less the
// requests still in flight, while a report without a request
// (UpdateKeyFromHeaders) still never raises.
func TestResponseHeadersRaiseCapacity(t *testing.T) {
	keys := keyCfgs(1)
	keys[0].RPMLimit = 100
	f := newFixture(t, provider.Anthropic, PoolConfig{Keys: keys})
	for range 60 {
		l := f.acquire(AcquireOptions{})
		f.p.Settle(&l, Usage{})
	}
	if r := f.stats("k0").RPMRemaining; r != 40 {
		t.Fatalf("remaining %d after 60 requests, want 40", r)
	}
	other := f.acquire(AcquireOptions{})
	l := f.acquire(AcquireOptions{})
	// The provider's window was reset: it reports 97 left after admitting
	// l (and other, or not: the pool cannot tell, so it deducts both).
	f.p.ReportResponse(&l, http.StatusOK, hdr("anthropic-ratelimit-requests-limit", "100",
		"anthropic-ratelimit-requests-remaining", "97"))
	if r := f.stats("k0").RPMRemaining; r != 95 {
		t.Fatalf("remaining %d after the provider reported 97 with 2 in flight, want 95", r)
	}
	f.p.Settle(&l, Usage{})
	f.p.Settle(&other, Usage{})
	if err := f.p.UpdateKeyFromHeaders("k0", hdr("anthropic-ratelimit-requests-remaining", "100")); err != nil {
		t.Fatal(err)
	}
	if r := f.stats("k0").RPMRemaining; r != 95 {
		t.Fatalf("remaining %d: headers without a request raised it", r)
	}
	if got := len(f.sequence(95)); got != 95 {
		t.Fatalf("%d of the 95 raised requests granted", got)
	}
}
