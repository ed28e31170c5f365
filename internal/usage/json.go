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
	// for the deepest path we read, response.usage.input_tokens_details.cached_tokens.
	trackedLevels = 4
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
	keyLen    [trackedLevels]int8 // -1: no usable key at that level
	keys      [trackedLevels][maxKeyLen]byte
}

func (j *jsonScanner) reset() { *j = jsonScanner{} }

// write consumes the next piece of the document and reports usage fields to s.
func (j *jsonScanner) write(p []byte, s *Scanner) {
	for i := 0; i < len(p); i++ {
		if j.inString {
			i = j.stringBytes(p, i)
			continue
		}
		c := p[i]
		if j.inNumber && j.numberByte(c, s) {
			continue
		}
		j.structural(c)
	}
}

// stringBytes consumes string contents from p[i:] and returns the index of
// the last byte it consumed.
func (j *jsonScanner) stringBytes(p []byte, i int) int {
	if j.escape {
		j.escape = false
		if j.isKey {
			// Usage keys have no escapes; an escaped key can never match.
			j.keyLen[j.depth-1] = -1
		}
		return i
	}
	if !j.isKey {
		// Skip string contents with vectorised searches: strings are most
		// of a response.
		rest := p[i:]
		q := bytes.IndexByte(rest, '"')
		if q >= 0 {
			rest = rest[:q]
		}
		if e := bytes.IndexByte(rest, '\\'); e >= 0 {
			i += e
		} else if q >= 0 {
			i += q
		} else {
			return len(p) - 1
		}
	}
	switch c := p[i]; c {
	case '\\':
		j.escape = true
	case '"':
		j.inString = false
		j.isKey = false
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
func (j *jsonScanner) structural(c byte) {
	switch c {
	case '"':
		j.inString = true
		l := j.depth - 1
		j.isKey = j.expectKey && l >= 0 && l < trackedLevels
		if j.isKey {
			j.keyLen[l] = 0
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
	s.set(s.schema.match(j, l), j.num)
}
