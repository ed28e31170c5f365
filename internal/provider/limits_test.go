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

package provider

import (
	"net/http"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
)

// Real header sets, as the providers send them.
func anthropicHeader() http.Header {
	h := http.Header{}
	h.Set("anthropic-ratelimit-requests-limit", "4000")
	h.Set("anthropic-ratelimit-requests-remaining", "3999")
	h.Set("anthropic-ratelimit-requests-reset", "2026-03-01T10:00:01Z")
	h.Set("anthropic-ratelimit-input-tokens-limit", "400000")
	h.Set("anthropic-ratelimit-input-tokens-remaining", "398000")
	h.Set("anthropic-ratelimit-input-tokens-reset", "2026-03-01T10:00:01Z")
	h.Set("anthropic-ratelimit-output-tokens-limit", "80000")
	h.Set("anthropic-ratelimit-output-tokens-remaining", "80000")
	h.Set("anthropic-ratelimit-output-tokens-reset", "2026-03-01T10:00:00Z")
	h.Set("anthropic-ratelimit-tokens-limit", "80000")
	h.Set("anthropic-ratelimit-tokens-remaining", "80000")
	h.Set("anthropic-ratelimit-tokens-reset", "2026-03-01T10:00:00Z")
	h.Set("request-id", "req_011CSHoEeqs5C35K2UUqR7Fy")
	return h
}

func openAIHeader() http.Header {
	h := http.Header{}
	h.Set("x-ratelimit-limit-requests", "10000")
	h.Set("x-ratelimit-limit-tokens", "2000000")
	h.Set("x-ratelimit-remaining-requests", "9999")
	h.Set("x-ratelimit-remaining-tokens", "1999986")
	h.Set("x-ratelimit-reset-requests", "6ms")
	h.Set("x-ratelimit-reset-tokens", "1m30.5s")
	return h
}

func TestParseAnthropicLimits(t *testing.T) {
	hl := Anthropic.ParseLimits(anthropicHeader(), t0)
	want := map[ratelimit.Dimension]ratelimit.Observation{
		ratelimit.Requests:     {Limit: 4000, Remaining: 3999, Reset: t0.Add(time.Second)},
		ratelimit.InputTokens:  {Limit: 400000, Remaining: 398000, Reset: t0.Add(time.Second)},
		ratelimit.OutputTokens: {Limit: 80000, Remaining: 80000, Reset: t0},
		ratelimit.Tokens:       ratelimit.NoObservation, // per-direction headers present
	}
	for d, w := range want {
		if got := hl.Dimensions[d]; got.Limit != w.Limit || got.Remaining != w.Remaining || !got.Reset.Equal(w.Reset) {
			t.Errorf("%s = %+v, want %+v", d, got, w)
		}
	}
	if hl.RetryAfter != 0 {
		t.Errorf("RetryAfter = %v", hl.RetryAfter)
	}

	// Only the combined headers: they are used as Tokens.
	h := http.Header{}
	h.Set("anthropic-ratelimit-tokens-limit", "1000")
	h.Set("anthropic-ratelimit-tokens-remaining", "10")
	h.Set("anthropic-ratelimit-tokens-reset", "2026-03-01T12:00:00+02:00")
	h.Set("retry-after", "17")
	hl = Anthropic.ParseLimits(h, t0)
	if o := hl.Dimensions[ratelimit.Tokens]; o.Limit != 1000 || o.Remaining != 10 || !o.Reset.Equal(t0) {
		t.Errorf("tokens = %+v", o)
	}
	if hl.RetryAfter != 17*time.Second {
		t.Errorf("RetryAfter = %v", hl.RetryAfter)
	}
}

func TestParseAnthropicHeadersMalformed(t *testing.T) {
	h := http.Header{}
	h.Set("anthropic-ratelimit-requests-limit", "-5")
	h.Set("anthropic-ratelimit-requests-remaining", "12abc")
	h.Set("anthropic-ratelimit-requests-reset", "2026-02-30T10:00:00Z")
	h.Set("anthropic-ratelimit-input-tokens-limit", "0")
	h.Set("anthropic-ratelimit-input-tokens-remaining", "")
	h.Set("anthropic-ratelimit-input-tokens-reset", "yesterday")
	h.Set("retry-after", "soon")
	hl := Anthropic.ParseLimits(h, t0)
	for d, o := range hl.Dimensions {
		if o.Reported() {
			t.Errorf("%s reported %+v from malformed headers", ratelimit.Dimension(d), o)
		}
	}
	if hl.RetryAfter != 0 {
		t.Errorf("RetryAfter = %v", hl.RetryAfter)
	}
	if hl := Anthropic.ParseLimits(nil, t0); hl.Dimensions[0].Reported() {
		t.Error("nil header reported something")
	}
}

func TestParseOpenAILimits(t *testing.T) {
	hl := OpenAI.ParseLimits(openAIHeader(), t0)
	if o := hl.Dimensions[ratelimit.Requests]; o.Limit != 10000 || o.Remaining != 9999 || !o.Reset.Equal(t0.Add(6*time.Millisecond)) {
		t.Errorf("requests = %+v", o)
	}
	if o := hl.Dimensions[ratelimit.Tokens]; o.Limit != 2000000 || o.Remaining != 1999986 || !o.Reset.Equal(t0.Add(90500*time.Millisecond)) {
		t.Errorf("tokens = %+v", o)
	}
	if hl.Dimensions[ratelimit.InputTokens].Reported() || hl.Dimensions[ratelimit.OutputTokens].Reported() {
		t.Error("input/output reported from OpenAI headers")
	}
	h := openAIHeader()
	h.Set("x-ratelimit-reset-tokens", "6m0s")
	h.Set("x-ratelimit-remaining-requests", "lots")
	h.Set("retry-after-ms", "1500")
	hl = OpenAI.ParseLimits(h, t0)
	if o := hl.Dimensions[ratelimit.Tokens]; !o.Reset.Equal(t0.Add(6 * time.Minute)) {
		t.Errorf("tokens reset = %v", o.Reset)
	}
	if o := hl.Dimensions[ratelimit.Requests]; o.Remaining != -1 || o.Limit != 10000 {
		t.Errorf("requests = %+v", o)
	}
	if hl.RetryAfter != 1500*time.Millisecond {
		t.Errorf("RetryAfter = %v", hl.RetryAfter)
	}
}

// TestParseMistralLimits: Mistral names its tokens-per-minute limit
// x-ratelimitbysize-*-minute, read by the OpenAI-compatible table when no
// x-ratelimit-*-tokens header came.
func TestParseMistralLimits(t *testing.T) {
	h := http.Header{}
	h.Set("x-ratelimitbysize-limit-minute", "500000")
	h.Set("x-ratelimitbysize-remaining-minute", "467993")
	h.Set("ratelimitbysize-reset", "40")
	h.Set("x-ratelimitbysize-limit-month", "1000000000")
	h.Set("ratelimitbysize-query-cost", "32007")
	hl := OpenAI.ParseLimits(h, t0)
	if o := hl.Dimensions[ratelimit.Tokens]; o.Limit != 500000 || o.Remaining != 467993 || !o.Reset.Equal(t0.Add(40*time.Second)) {
		t.Errorf("mistral tokens = %+v", o)
	}
	// OpenAI's own headers win when both are present.
	h.Set("x-ratelimit-limit-tokens", "2000")
	h.Set("x-ratelimit-remaining-tokens", "1999")
	if o := OpenAI.ParseLimits(h, t0).Dimensions[ratelimit.Tokens]; o.Limit != 2000 || o.Remaining != 1999 {
		t.Errorf("tokens with both header sets = %+v", o)
	}
	if n := testing.AllocsPerRun(100, func() { OpenAI.ParseLimits(h, t0) }); n != 0 {
		t.Errorf("mistral headers: %v allocs", n)
	}
}

func TestParseResetDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"6m0s": 6 * time.Minute, "1s": time.Second, "12ms": 12 * time.Millisecond,
		"1m30.5s": 90500 * time.Millisecond, "0s": 0, "0": 0, "2.5": 2500 * time.Millisecond,
		"1h2m3s": time.Hour + 2*time.Minute + 3*time.Second, "100us": 100 * time.Microsecond,
		"7µs": 7 * time.Microsecond, "250ns": 250, ".5s": 500 * time.Millisecond,
	} {
		if got, ok := parseResetDuration(in); !ok || got != want {
			t.Errorf("parseResetDuration(%q) = %v %v, want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "s", "1x", "-1s", "+1s", "1s-", "1.2.3s", "5000h", "m5", "1e3s", "."} {
		if got, ok := parseResetDuration(in); ok {
			t.Errorf("parseResetDuration(%q) = %v, want failure", in, got)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"30": 30 * time.Second, "0": 0, "1.5": 1500 * time.Millisecond,
		"Sun, 01 Mar 2026 10:01:00 GMT": time.Minute,
		"Sun, 01 Mar 2026 09:00:00 GMT": 0, // in the past
	} {
		if got, ok := ParseRetryAfter(in, now); !ok || got != want {
			t.Errorf("ParseRetryAfter(%q) = %v %v, want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "-1", "soon", "1s", "Sun, 99 Mar 2026 10:01:00 GMT"} {
		if got, ok := ParseRetryAfter(in, now); ok {
			t.Errorf("ParseRetryAfter(%q) = %v, want failure", in, got)
		}
	}
}

func TestParseRFC3339(t *testing.T) {
	for _, in := range []string{
		"2026-03-01T10:00:01Z", "2026-03-01T10:00:01.123456789Z", "2026-03-01T10:00:01.5+05:30",
		"2024-02-29T23:59:59-08:00", "2026-03-01T10:00:01.1234567891234Z",
	} {
		want, err := time.Parse(time.RFC3339, in)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := parseRFC3339(in); !ok || !got.Equal(want) {
			t.Errorf("parseRFC3339(%q) = %v %v, want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{
		"", "2026-03-01", "2026-03-01T10:00:01", "2026-03-01 10:00:01Z", "2025-02-29T10:00:01Z",
		"2026-03-01T24:00:00Z", "2026-03-01T10:00:01+24:00", "2026-03-01T10:00:01.Z", "2026-13-01T10:00:01Z",
	} {
		if got, ok := parseRFC3339(in); ok {
			t.Errorf("parseRFC3339(%q) = %v, want failure", in, got)
		}
	}
}

func TestHeaderParsersDoNotAllocate(t *testing.T) {
	ah, oh := anthropicHeader(), openAIHeader()
	ah.Set("retry-after", "12")
	oh.Set("retry-after-ms", "250")
	if n := testing.AllocsPerRun(100, func() { Anthropic.ParseLimits(ah, t0) }); n != 0 {
		t.Errorf("Anthropic.ParseLimits: %v allocs", n)
	}
	if n := testing.AllocsPerRun(100, func() { OpenAI.ParseLimits(oh, t0) }); n != 0 {
		t.Errorf("OpenAI.ParseLimits: %v allocs", n)
	}
	zh, gh := azureHeader(), http.Header{"Retry-After": {"34"}}
	zh.Set("retry-after-ms", "250")
	if n := testing.AllocsPerRun(100, func() { Azure.ParseLimits(zh, t0) }); n != 0 {
		t.Errorf("Azure.ParseLimits: %v allocs", n)
	}
	if n := testing.AllocsPerRun(100, func() { Gemini.ParseLimits(gh, t0) }); n != 0 {
		t.Errorf("Gemini.ParseLimits: %v allocs", n)
	}
	bad := http.Header{}
	bad.Set("x-ratelimit-reset-tokens", "forever")
	bad.Set("x-ratelimit-limit-tokens", "-1")
	if n := testing.AllocsPerRun(100, func() { OpenAI.ParseLimits(bad, t0) }); n != 0 {
		t.Errorf("OpenAI.ParseLimits (malformed): %v allocs", n)
	}
}

// t0 is the instant the header tests parse at.
var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
