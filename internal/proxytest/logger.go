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

package proxytest

import (
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
)

// Logger logs at V(1) into t's log and fails t on any line that contains
// one of secrets. Lines after t has finished are dropped.
func Logger(t testing.TB, secrets ...string) logr.Logger {
	var mu sync.Mutex
	finished := false
	t.Cleanup(func() { mu.Lock(); finished = true; mu.Unlock() })
	return funcr.New(func(prefix, args string) {
		for _, secret := range secrets {
			if strings.Contains(args, secret) {
				t.Errorf("secret in log line: %s", args)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if !finished {
			t.Log(prefix, args)
		}
	}, funcr.Options{Verbosity: 1})
}
