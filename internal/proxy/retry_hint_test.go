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
	"testing"

	"github.com/keypool-dev/keypool-operator/internal/keypool"
)

func TestRetryHint(t *testing.T) {
	for v, want := range map[string]keypool.RetryHint{"": keypool.RetryUnknown, "0": keypool.RetryFirst,
		"1": keypool.RetryAgain, "7": keypool.RetryAgain} {
		h := http.Header{}
		if v != "" {
			h.Set("x-stainless-retry-count", v)
		}
		if got := retryHint(h); got != want {
			t.Errorf("retry count %q: hint %v, want %v", v, got, want)
		}
	}
}
