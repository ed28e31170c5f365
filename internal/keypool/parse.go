package keypool

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
	if len(s) < base+1 {
		return time.Time{}, false
	}
	ok := true
	num := func(p string, lo, hi int) int {
		x := 0
		for i := 0; i < len(p); i++ {
			c := p[i]
			if c < '0' || c > '9' {
				ok = false
				return lo
			}
			x = x*10 + int(c-'0')
		}
		if x < lo || x > hi {
			ok = false
		}
		return x
	}
	year := num(s[0:4], 0, 9999)
	month := num(s[5:7], 1, 12)
	if !ok {
		return time.Time{}, false
	}
	day := num(s[8:10], 1, daysIn(time.Month(month), year))
	hour := num(s[11:13], 0, 23)
	minute := num(s[14:16], 0, 59)
	sec := num(s[17:19], 0, 59)
	if !ok || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	rest := s[base:]
	nsec := 0
	if len(rest) >= 2 && rest[0] == '.' && isDigit(rest[1]) {
		n := 1
		for n < len(rest) && isDigit(rest[n]) {
			n++
		}
		scale := 100000000
		for i := 1; i < n && i <= 9; i++ {
			nsec += int(rest[i]-'0') * scale
			scale /= 10
		}
		rest = rest[n:]
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if len(rest) == 1 && rest[0] == 'Z' {
		return t, true
	}
	if len(rest) != len("-07:00") || (rest[0] != '+' && rest[0] != '-') || rest[3] != ':' {
		return time.Time{}, false
	}
	oh := num(rest[1:3], 0, 23)
	om := num(rest[4:6], 0, 59)
	if !ok {
		return time.Time{}, false
	}
	offset := time.Duration(oh)*time.Hour + time.Duration(om)*time.Minute
	if rest[0] == '+' {
		offset = -offset
	}
	return t.Add(offset), true
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
		// number
		i := 0
		var whole, frac, scale float64 = 0, 0, 1
		for i < len(s) && isDigit(s[i]) {
			whole = whole*10 + float64(s[i]-'0')
			i++
		}
		digits := i
		if i < len(s) && s[i] == '.' {
			i++
			for i < len(s) && isDigit(s[i]) {
				frac = frac*10 + float64(s[i]-'0')
				scale *= 10
				i++
				digits++
			}
		}
		if digits == 0 || whole > 1e15 {
			return 0, false
		}
		s = s[i:]
		// unit
		j := 0
		for j < len(s) && s[j] != '.' && !isDigit(s[j]) {
			j++
		}
		var unit float64
		switch s[:j] {
		case "ns":
			unit = 1
		case "us", "µs", "μs":
			unit = 1e3
		case "ms":
			unit = 1e6
		case "s":
			unit = 1e9
		case "m":
			unit = 60e9
		case "h":
			unit = 3600e9
		default:
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

// parseSeconds parses a bare non-negative decimal number of seconds.
func parseSeconds(s string) (time.Duration, bool) {
	var whole, frac, scale float64 = 0, 0, 1
	i, digits := 0, 0
	for i < len(s) && isDigit(s[i]) {
		whole = whole*10 + float64(s[i]-'0')
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && isDigit(s[i]) {
			frac = frac*10 + float64(s[i]-'0')
			scale *= 10
			i++
			digits++
		}
	}
	if i != len(s) || digits == 0 {
		return 0, false
	}
	secs := whole + frac/scale
	if secs > maxHeaderDuration.Seconds() {
		return 0, false
	}
	return time.Duration(secs * 1e9), true
}
