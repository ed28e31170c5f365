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

package testenv

import (
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/testproc"
)

// Eventually polls cond every interval until it returns nil, failing the
// test with cond's last error when timeout passes. It is for state that
// another process or loop produces, where no event can be awaited.
func Eventually(t testing.TB, timeout, interval time.Duration, cond func() error) {
	t.Helper()
	if err := testproc.Poll(timeout, interval, cond); err != nil {
		t.Fatalf("condition not met within %v: %v", timeout, err)
	}
}
