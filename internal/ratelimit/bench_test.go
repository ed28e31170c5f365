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

package ratelimit

import (
	"testing"
	"time"
)

func BenchmarkReserveSettle(b *testing.B) {
	for _, tc := range []struct {
		name   string
		limits Amounts
	}{
		{"unknown", Amounts{}},
		{"requests+tokens", Amounts{Requests: 1e12, InputTokens: 1e12, OutputTokens: 1e12}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			l, _ := NewLocal(t0, tc.limits)
			now := t0
			b.ReportAllocs()
			for b.Loop() {
				now = now.Add(100 * time.Nanosecond)
				r, ok := l.Reserve(now, 1000, LearnedOutput)
				if !ok {
					b.Fatal("reserve failed")
				}
				l.Settle(now, r, Usage{InputTokens: 900, OutputTokens: 200})
			}
		})
	}
}
