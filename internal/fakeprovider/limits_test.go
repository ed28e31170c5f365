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

package fakeprovider

import (
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/clock"
)

func TestBucketRefillIsExact(t *testing.T) {
	b := bucket{limit: 7, last: t0} // 7/min: one token per 8.571428...s
	if w := b.wait(1); w != 8571429*time.Microsecond {
		t.Fatalf("empty bucket wait %v", w)
	}
	// Many tiny steps refill exactly as much as one big step.
	now := t0
	for range 1000 {
		now = now.Add(8571429 * time.Nanosecond)
		b.advance(now)
	}
	if b.remaining() != 1 || b.wait(1) != 0 {
		t.Fatalf("after 8.571429s: remaining %d, level %d", b.remaining(), b.level)
	}
	b.advance(now.Add(time.Hour))
	if b.remaining() != 7 || b.level != b.capacity() {
		t.Fatalf("bucket overfilled or underfilled: %d", b.level)
	}
	if w := b.wait(8); w != time.Second {
		t.Errorf("a request larger than the bucket should wait at least 1s, got %v", w)
	}
}

func TestBucketNegativeLevel(t *testing.T) {
	b := bucket{limit: 60, last: t0}
	b.level = -30 * unitsPerToken
	if b.remaining() != 0 {
		t.Errorf("remaining %d", b.remaining())
	}
	if w := b.wait(1); w != 31*time.Second {
		t.Errorf("wait %v", w)
	}
	if w := b.wait(b.limit); w != 90*time.Second {
		t.Errorf("until full %v", w)
	}
}

func TestHeaderTimeFormats(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 12 * time.Millisecond: "12ms", 11500 * time.Microsecond: "12ms",
		time.Second: "1s", 6 * time.Minute: "6m0s", 2600 * time.Millisecond: "2.6s",
	} {
		if got := resetDuration(d); got != want {
			t.Errorf("resetDuration(%v) = %s, want %s", d, got, want)
		}
	}
	if got := resetTime(t0, 1200*time.Millisecond); got != "2030-01-02T03:04:07Z" {
		t.Errorf("resetTime %s", got)
	}
	if got := resetTime(t0.In(time.FixedZone("x", 3600)), 0); got != "2030-01-02T03:04:05Z" {
		t.Errorf("resetTime not UTC: %s", got)
	}
	for d, want := range map[time.Duration]string{time.Nanosecond: "1", time.Second: "1", 1001 * time.Millisecond: "2", 138 * time.Second: "138"} {
		if got := retryAfter(d); got != want {
			t.Errorf("retryAfter(%v) = %s, want %s", d, got, want)
		}
	}
}

// TestLevelsReportBuckets checks that Levels reads what admission took and
// what output charged into debt, per organisation.
func TestLevelsReportBuckets(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_000_000, 0))
	p := New(Config{Clock: clk, Keys: []Key{{Key: "k1", Org: "o1"}},
		Limits: map[string]Limits{"o1": {RPM: 60, ITPM: 6_000, OTPM: 600}}})
	o := p.keys["k1"].org.shared
	var snap snapshot
	if ok, _, _ := o.admit(clk.Now(), admission{inDim: dimInput, input: 1_000, outDim: dimOutput}, &snap); !ok {
		t.Fatal("a full bucket refused the request")
	}
	o.charge(clk.Now(), dimOutput, 1_000)
	got := p.Levels()["o1"]
	want := Levels{Requests: 59, InputTokens: 5_000, OutputTokens: -400}
	if got != want {
		t.Fatalf("Levels = %+v, want %+v", got, want)
	}
}
