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
				r, ok := l.Reserve(now, 1000)
				if !ok {
					b.Fatal("reserve failed")
				}
				l.Settle(now, r, Usage{InputTokens: 900, OutputTokens: 200})
			}
		})
	}
}
