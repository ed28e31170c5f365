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

import "time"

// Low-level parsers for header values. They allocate nothing, even on
// malformed input, because they run on every response.

// parseCount parses a non-negative decimal integer of at most 18 digits.
// Unlike strconv it allocates nothing on malformed input.
func parseCount(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// parseRFC3339 parses "2006-01-02T15:04:05[.999999999](Z|±07:00)" as
// time.Parse(time.RFC3339, s) does, without allocating.
func parseRFC3339(s string) (time.Time, bool) {
	const base = len("2006-01-02T15:04:05")
	if len(s) < base+1 || s[len("2006-01-02")] != 'T' {
		return time.Time{}, false
	}
	year, month, day, ok := parseDate(s[:len("2006-01-02")])
	if !ok {
		return time.Time{}, false
	}
	hour, minute, sec, ok := parseClock(s[len("2006-01-02T"):base])
	if !ok {
		return time.Time{}, false
	}
	nsec, rest := parseFraction(s[base:])
	offset, ok := parseZone(rest)
	if !ok {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC).Add(offset), true
}

// parseDate parses "2006-01-02", checking the day against the month.
func parseDate(p string) (year, month, day int, ok bool) {
	year, yok := parseDigits(p[0:4], 0, 9999)
	month, mok := parseDigits(p[5:7], 1, 12)
	if !yok || !mok || p[4] != '-' || p[7] != '-' {
		return 0, 0, 0, false
	}
	day, ok = parseDigits(p[8:10], 1, daysIn(time.Month(month), year))
	return year, month, day, ok
}

// parseClock parses "15:04:05" (no leap second, as time.Parse).
func parseClock(p string) (hour, minute, sec int, ok bool) {
	hour, hok := parseDigits(p[0:2], 0, 23)
	minute, mok := parseDigits(p[3:5], 0, 59)
	sec, sok := parseDigits(p[6:8], 0, 59)
	return hour, minute, sec, hok && mok && sok && p[2] == ':' && p[5] == ':'
}

// parseFraction parses an optional ".999999999" (any number of digits, the
// first nine counted) at the start of rest, returning the nanoseconds and
// what follows it.
func parseFraction(rest string) (nsec int, tail string) {
	if len(rest) < 2 || rest[0] != '.' || !isDigit(rest[1]) {
		return 0, rest
	}
	n := 1
	for n < len(rest) && isDigit(rest[n]) {
		n++
	}
	scale := 100000000
	for i := 1; i < n && i <= 9; i++ {
		nsec += int(rest[i]-'0') * scale
		scale /= 10
	}
	return nsec, rest[n:]
}

// parseZone parses "Z" or "±07:00", returning what to add to the local time
// to get UTC.
func parseZone(rest string) (time.Duration, bool) {
	if rest == "Z" {
		return 0, true
	}
	if len(rest) != len("-07:00") || (rest[0] != '+' && rest[0] != '-') || rest[3] != ':' {
		return 0, false
	}
	oh, hok := parseDigits(rest[1:3], 0, 23)
	om, mok := parseDigits(rest[4:6], 0, 59)
	if !hok || !mok {
		return 0, false
	}
	offset := time.Duration(oh)*time.Hour + time.Duration(om)*time.Minute
	if rest[0] == '+' {
		offset = -offset
	}
	return offset, true
}

// parseDigits parses p, all decimal digits, as a number in [lo, hi].
func parseDigits(p string, lo, hi int) (int, bool) {
	x := 0
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		x = x*10 + int(c-'0')
	}
	return x, lo <= x && x <= hi
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func daysIn(m time.Month, year int) int {
	if m == time.February {
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	}
	return 31 - int(m-1)%7%2
}

// maxHeaderDuration bounds parsed durations, far beyond any real limit.
const maxHeaderDuration = 1000 * time.Hour

// parseResetDuration parses a duration like "6m0s", "1s", "12ms" or
// "1m30.5s" (time.ParseDuration's syntax without a sign, units h, m, s, ms,
// us, µs, ns), or a bare number of seconds ("0", "1.5"), without
// allocating. Durations above 1000h are refused.
func parseResetDuration(s string) (time.Duration, bool) {
	if s == "" {
		return 0, false
	}
	if d, ok := parseSeconds(s); ok {
		return d, true
	}
	var total float64 // nanoseconds; exact for any value below 2^53 ns (104 days)
	for s != "" {
		whole, frac, scale, i, ok := parseDecimal(s)
		if !ok || whole > 1e15 {
			return 0, false
		}
		s = s[i:]
		j := 0
		for j < len(s) && s[j] != '.' && !isDigit(s[j]) {
			j++
		}
		unit, ok := durationUnit(s[:j])
		if !ok {
			return 0, false
		}
		s = s[j:]
		total += whole*unit + frac*unit/scale
		if total > float64(maxHeaderDuration) {
			return 0, false
		}
	}
	return time.Duration(total), true
}

// durationUnit is the length of a time.ParseDuration unit in nanoseconds.
func durationUnit(u string) (float64, bool) {
	switch u {
	case "ns":
		return 1, true
	case "us", "µs", "μs":
		return 1e3, true
	case "ms":
		return 1e6, true
	case "s":
		return 1e9, true
	case "m":
		return 60e9, true
	case "h":
		return 3600e9, true
	}
	return 0, false
}

// parseDecimal parses a non-negative decimal number ("12", "1.5", ".5",
// "3.") at the start of s: its integer part, its fraction's digits as an
// integer and their scale (10^digits), and the bytes it takes. ok is false
// when s starts with no digit.
func parseDecimal(s string) (whole, frac, scale float64, n int, ok bool) {
	scale = 1
	digits := 0
	for n < len(s) && isDigit(s[n]) {
		whole = whole*10 + float64(s[n]-'0')
		n++
		digits++
	}
	if n < len(s) && s[n] == '.' {
		n++
		for n < len(s) && isDigit(s[n]) {
			// Digits past the 18th of a fraction are below a nanosecond
			// of any unit; counting them would overflow frac and scale to
			// infinity, and their quotient to NaN.
			if scale < 1e18 {
				frac = frac*10 + float64(s[n]-'0')
				scale *= 10
			}
			n++
			digits++
		}
	}
	return whole, frac, scale, n, digits > 0
}

// parseSeconds parses a bare non-negative decimal number of seconds.
func parseSeconds(s string) (time.Duration, bool) {
	whole, frac, scale, n, ok := parseDecimal(s)
	if !ok || n != len(s) {
		return 0, false
	}
	secs := whole + frac/scale
	if secs > maxHeaderDuration.Seconds() {
		return 0, false
	}
	return time.Duration(secs * 1e9), true
}
