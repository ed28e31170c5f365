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

package usage

import "bytes"

const (
	// trackedLevels is how many nesting levels keep their current key: enough
	// for the deepest path we read, an OpenAI chunk's
	// choices[].delta.tool_calls[].function.arguments.
	trackedLevels = 8
	// maxKeyLen bounds a remembered key; longer keys cannot name a usage field.
	maxKeyLen = 32
	// maxCount guards against overflow; no real token count comes near it.
	maxCount = 1 << 50
)

// jsonScanner is a lenient streaming JSON tokenizer. It does not validate:
// it only keeps enough state (string/escape, nesting, object keys of the
// first trackedLevels levels, the integer being read) to know the path of
// every integer it meets, so it can resume after any split of its input.
type jsonScanner struct {
	depth     int    // open containers; the current container is at level depth-1
	arrays    uint64 // bit i: the container at level i is an array (levels < 64)
	expectKey bool   // the next string at the current level is an object key
	inString  bool
	escape    bool
	isKey     bool // the current string is a key being remembered
	inNumber  bool
	numValid  bool // the number so far is a non-negative integer in range
	num       int64
	// counting: the current string is generated content (FieldStreamed);
	// quarters is its length so far in quarter tokens.
	counting bool
	quarters int64
	keyLen   [trackedLevels]int8 // -1: no usable key at that level
	keys     [trackedLevels][maxKeyLen]byte
}

func (j *jsonScanner) reset() { *j = jsonScanner{} }

// write consumes the next piece of the document and reports usage fields to s.
func (j *jsonScanner) write(p []byte, s *Scanner) {
	for i := 0; i < len(p); i++ {
		if j.inString {
			i = j.stringBytes(p, i, s)
			continue
		}
		c := p[i]
		if j.inNumber && j.numberByte(c, s) {
			continue
		}
		j.structural(c, s)
	}
}

// stringBytes consumes string contents from p[i:] and returns the index of
// the last byte it consumed.
func (j *jsonScanner) stringBytes(p []byte, i int, s *Scanner) int {
	if j.escape {
		j.escape = false
		if j.isKey {
			// Usage keys have no escapes; an escaped key can never match.
			j.keyLen[j.depth-1] = -1
		}
		if j.counting {
			j.quarters++
		}
		return i
	}
	if !j.isKey {
		// Skip string contents with vectorised searches: strings are most
		// of a response.
		rest := p[i:]
		if q := bytes.IndexByte(rest, '"'); q >= 0 {
			rest = rest[:q]
		}
		if e := bytes.IndexByte(rest, '\\'); e >= 0 {
			rest = rest[:e]
		}
		if j.counting {
			j.quarters += textQuarters(rest)
		}
		i += len(rest)
		if i == len(p) {
			return i - 1
		}
	}
	switch c := p[i]; c {
	case '\\':
		j.escape = true
		if j.counting {
			j.quarters++
		}
	case '"':
		j.inString = false
		j.isKey = false
		if j.counting {
			s.streamed += streamedTokens(j.quarters)
			j.counting = false
		}
	default:
		l := j.depth - 1
		if n := j.keyLen[l]; n >= 0 {
			if int(n) < maxKeyLen {
				j.keys[l][n] = c
				j.keyLen[l] = n + 1
			} else {
				j.keyLen[l] = -1
			}
		}
	}
	return i
}

// numberByte continues a number with c and reports whether c belonged to it;
// a number that ends is handed to number.
func (j *jsonScanner) numberByte(c byte, s *Scanner) bool {
	switch {
	case c >= '0' && c <= '9':
		if j.num >= maxCount {
			j.numValid = false
		}
		j.num = j.num*10 + int64(c-'0')
		return true
	case c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-':
		j.numValid = false // fractions and exponents are never token counts
		return true
	}
	j.inNumber = false
	if j.numValid {
		j.number(s)
	}
	return false
}

// structural handles a byte outside strings and numbers.
func (j *jsonScanner) structural(c byte, s *Scanner) {
	switch c {
	case '"':
		j.inString = true
		l := j.depth - 1
		j.isKey = j.expectKey && l >= 0 && l < trackedLevels
		if j.isKey {
			j.keyLen[l] = 0
		} else if !j.expectKey && l >= 0 && l < trackedLevels && !j.isArray(l) && j.keyLen[l] > 0 &&
			s.schema.streamed(j, l) {
			j.counting, j.quarters = true, 0
		}
	case '{':
		j.push(false)
		j.expectKey = true
	case '[':
		j.push(true)
		j.expectKey = false
	case '}', ']':
		if j.depth > 0 {
			j.depth--
		}
		j.expectKey = false
	case ',':
		j.expectKey = j.depth > 0 && !j.isArray(j.depth-1)
	case ':':
		j.expectKey = false
	case '-':
		j.inNumber, j.numValid, j.num = true, false, 0
	case '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		j.inNumber, j.numValid, j.num = true, true, int64(c-'0')
	}
}

func (j *jsonScanner) push(array bool) {
	l := j.depth
	if l < 64 {
		if array {
			j.arrays |= 1 << l
		} else {
			j.arrays &^= 1 << l
		}
	}
	if l < trackedLevels {
		j.keyLen[l] = -1
	}
	j.depth++
}

func (j *jsonScanner) isArray(l int) bool {
	return l < 64 && j.arrays&(1<<l) != 0
}

// eq reports whether the key remembered at level l is k. The conversion in the
// comparison does not allocate.
func (j *jsonScanner) eq(l int, k string) bool {
	n := int(j.keyLen[l])
	return n == len(k) && string(j.keys[l][:n]) == k
}

// number handles a completed integer at the current level.
func (j *jsonScanner) number(s *Scanner) {
	l := j.depth - 1
	if l < 0 || l >= trackedLevels || j.keyLen[l] < 0 {
		return
	}
	// Every level on the path must be an object: an array in between means
	// the number belongs to some element (a content block, a choice), not usage.
	if j.arrays&(1<<(l+1)-1) != 0 {
		return
	}
	if p := s.schema.match(j, l); p != nil {
		s.set(p.Field, p.Interim, j.num)
	}
}

// endsWith reports whether keys are the keys of the levels up to l (the
// innermost last), arrays in between skipped; level l itself is an object.
func (j *jsonScanner) endsWith(l int, keys []string) bool {
	for k := len(keys) - 1; k >= 0; k-- {
		for l >= 0 && j.isArray(l) {
			l--
		}
		if l < 0 || l >= trackedLevels || !j.eq(l, keys[k]) {
			return false
		}
		l--
	}
	return true
}

// textQuarters is p's length in quarter tokens: one per ASCII byte, four
// per non-ASCII character (its first byte), as the input estimate counts.
func textQuarters(p []byte) int64 {
	var q int64
	for _, c := range p {
		switch {
		case c < 0x80:
			q++
		case c >= 0xC0:
			q += 4
		}
	}
	return q
}

// streamedTokens is what one content delta of q quarter tokens is charged:
// its text rounded up to whole tokens (a delta carries at least one token).
func streamedTokens(q int64) int64 { return (q + 3) / 4 }
