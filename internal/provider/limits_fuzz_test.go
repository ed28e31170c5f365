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
	"strings"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/ratelimit"
)

func FuzzParseRFC3339(f *testing.F) {
	for _, s := range []string{
		"2026-03-01T10:00:01Z", "2024-02-29T23:59:59.999-08:00", "2026-03-01T10:00:01.123456789012+14:00",
		"2026-03-01T10:00:60Z", "0000-01-01T00:00:00Z", "2026-03-01T10:00:01",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseRFC3339(s)
		if !ok {
			return
		}
		// Whatever it accepts, the standard library accepts with the same instant.
		want, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatalf("parseRFC3339(%q) = %v, time.Parse fails: %v", s, got, err)
		}
		if !got.Equal(want) {
			t.Fatalf("parseRFC3339(%q) = %v, time.Parse = %v", s, got, want)
		}
	})
}

func FuzzParseResetDuration(f *testing.F) {
	for _, s := range []string{"6m0s", "1s", "12ms", "1m30.5s", "0", "1.5", "7µs", "1h2m3.25s", "999999h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseResetDuration(s)
		if ok && (got < 0 || got > maxHeaderDuration) {
			t.Fatalf("parseResetDuration(%q) = %v out of range", s, got)
		}
		want, err := time.ParseDuration(s)
		if err != nil || want < 0 || strings.HasPrefix(s, "+") || strings.HasPrefix(s, "-") || want > maxHeaderDuration/2 {
			return
		}
		if !ok {
			t.Fatalf("parseResetDuration(%q) fails, time.ParseDuration = %v", s, want)
		}
		// Float accumulation may round the last nanoseconds of long inputs.
		if diff := got - want; diff < -time.Microsecond || diff > time.Microsecond {
			t.Fatalf("parseResetDuration(%q) = %v, time.ParseDuration = %v", s, got, want)
		}
	})
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"30", "0", "1.5", "Sun, 01 Mar 2026 10:01:00 GMT", "Sunday, 01-Mar-26 10:01:00 GMT", "soon"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, ok := ParseRetryAfter(s, t0); ok && d < 0 {
			t.Fatalf("ParseRetryAfter(%q) = %v", s, d)
		}
	})
}

// fuzzHeader spreads one fuzzed value over every header of a set, plus a
// second value, so that the parsers meet it in every field.
func fuzzHeader(names []string, a, b string) http.Header {
	h := http.Header{}
	for i, n := range names {
		v := a
		if i%2 == 1 {
			v = b
		}
		h[n] = []string{v}
	}
	return h
}

func FuzzParseAnthropicLimits(f *testing.F) {
	for _, d := range anthropicLimits.Dimensions {
		f.Add("4000", "2026-03-01T10:00:01Z", d.Limit)
	}
	f.Add("12abc", "2026-02-30T10:00:00Z", "Retry-After")
	f.Add("", "-3", "Anthropic-Ratelimit-Tokens-Remaining")
	names := []string{"Retry-After"}
	for _, d := range append(anthropicLimits.Dimensions, *anthropicLimits.Fallback) {
		names = append(names, d.Limit, d.Remaining, d.Reset)
	}
	f.Fuzz(func(t *testing.T, a, b, name string) {
		h := fuzzHeader(names, a, b)
		h[name] = []string{a}
		hl := Anthropic.ParseLimits(h, t0)
		for _, o := range hl.Dimensions {
			if o.Limit < 0 || o.Remaining < -1 {
				t.Fatalf("bad observation %+v", o)
			}
		}
		if hl.RetryAfter < 0 {
			t.Fatalf("RetryAfter %v", hl.RetryAfter)
		}
	})
}

func FuzzParseOpenAILimits(f *testing.F) {
	f.Add("10000", "6m0s", "X-Ratelimit-Limit-Requests")
	f.Add("9999", "1m30.5s", "X-Ratelimit-Reset-Tokens")
	f.Add("1500", "12ms", "Retry-After-Ms")
	f.Add("x", "-1s", "Retry-After")
	names := []string{"Retry-After", "Retry-After-Ms"}
	for _, d := range openAILimits.Dimensions {
		names = append(names, d.Limit, d.Remaining, d.Reset)
	}
	f.Fuzz(func(t *testing.T, a, b, name string) {
		h := fuzzHeader(names, a, b)
		h[name] = []string{b}
		hl := OpenAI.ParseLimits(h, t0)
		for _, o := range hl.Dimensions {
			if o.Limit < 0 || o.Remaining < -1 || (!o.Reset.IsZero() && o.Reset.Before(t0)) {
				t.Fatalf("bad observation %+v", o)
			}
		}
		if hl.RetryAfter < 0 {
			t.Fatalf("RetryAfter %v", hl.RetryAfter)
		}
	})
}

func FuzzParseAzureLimits(f *testing.F) {
	f.Add("300", "299", "X-Ratelimit-Remaining-Requests")
	f.Add("1500", "2", "Retry-After-Ms")
	f.Add("x", "-1s", "X-Ratelimit-Reset-Tokens")
	names := []string{"Retry-After", "Retry-After-Ms"}
	for _, d := range azureLimits.Dimensions {
		names = append(names, d.Limit, d.Remaining, d.Reset)
	}
	f.Fuzz(func(t *testing.T, a, b, name string) {
		h := fuzzHeader(names, a, b)
		h[name] = []string{b}
		hl := Azure.ParseLimits(h, t0)
		for _, o := range hl.Dimensions {
			if o.Limit < 0 || o.Remaining < -1 || (!o.Reset.IsZero() && o.Reset.Before(t0)) {
				t.Fatalf("bad observation %+v", o)
			}
		}
		if hl.RetryAfter < 0 || hl.Organization != "" {
			t.Fatalf("RetryAfter %v organization %q", hl.RetryAfter, hl.Organization)
		}
	})
}

func FuzzParseMistralLimits(f *testing.F) {
	f.Add("500000", "40")
	f.Add("-3", "1m")
	f.Add("", "x")
	names := []string{mistralTokens.Limit, mistralTokens.Remaining, mistralTokens.Reset}
	f.Fuzz(func(t *testing.T, a, b string) {
		o := OpenAI.ParseLimits(fuzzHeader(names, a, b), t0).Dimensions[ratelimit.Tokens]
		if o.Limit < 0 || o.Remaining < -1 || (!o.Reset.IsZero() && o.Reset.Before(t0)) {
			t.Fatalf("bad observation %+v", o)
		}
	})
}

// FuzzGoogleError: the error-body readers never panic, never report a
// negative wait, and blame a key only for the statuses Gemini uses for it.
func FuzzGoogleError(f *testing.F) {
	f.Add([]byte(geminiQuota429), 429)
	f.Add([]byte(geminiBadKey), 400)
	f.Add([]byte(`{"error":{"details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1e309s"}]}}`), 429)
	f.Add([]byte(`{"error":{"code":"401","message":"Access denied"}}`), 401)
	f.Fuzz(func(t *testing.T, body []byte, status int) {
		if d, ok := RetryDelay(body); d < 0 || d > maxHeaderDuration || (!ok && d != 0) {
			t.Fatalf("RetryDelay = %v %v", d, ok)
		}
		if Gemini.KeyInvalid(status, body) && status != http.StatusBadRequest && status != http.StatusForbidden {
			t.Fatalf("Gemini blames the key on a %d", status)
		}
		if Azure.KeyInvalid(status, body) && status != http.StatusUnauthorized {
			t.Fatalf("Azure blames the key on a %d", status)
		}
	})
}
