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

// SSE line states.
const (
	sseLineStart  uint8 = iota
	sseField            // reading a field name
	sseValueStart       // just after "data:"; one leading space is skipped
	sseValue            // inside a data value: bytes go to the JSON scanner
	sseSkip             // inside the value of any other field or a comment
)

// sseState is the position of the SSE line parser between Writes.
type sseState struct {
	st       uint8
	afterCR  bool // the last line ended with CR; a following LF belongs to it
	isData   bool // the field name read so far is a prefix of "data"
	fieldLen int  // bytes of the field name read so far
}

var lineFeed = []byte{'\n'}

// writeSSE feeds event-stream bytes: the data of each event goes to the JSON
// scanner, which is reset at every event boundary (blank line), so a
// malformed or non-JSON event ("[DONE]") cannot disturb the next one.
func (s *Scanner) writeSSE(p []byte) {
	st := &s.sse
	for i := 0; i < len(p); {
		c := p[i]
		switch st.st {
		case sseLineStart:
			if st.afterCR {
				st.afterCR = false
				if c == '\n' {
					i++
					continue
				}
			}
			if c == '\n' || c == '\r' {
				st.afterCR = c == '\r'
				s.js.reset() // blank line: the event is complete
				i++
				continue
			}
			st.st, st.fieldLen, st.isData = sseField, 0, true
		case sseField:
			st.fieldByte(c)
			i++
		case sseValueStart:
			st.st = sseValue
			if c == ' ' {
				i++
			}
		case sseValue:
			n := indexEOL(p[i:])
			if n < 0 {
				s.js.write(p[i:], s)
				return
			}
			s.js.write(p[i:i+n], s)
			// Lines of one event are joined by LF; this also ends a number
			// that ended the line.
			s.js.write(lineFeed, s)
			i += n
			st.endLine(p[i])
			i++
		case sseSkip:
			n := indexEOL(p[i:])
			if n < 0 {
				return
			}
			i += n
			st.endLine(p[i])
			i++
		}
	}
}

// fieldByte consumes one byte of a field name.
func (st *sseState) fieldByte(c byte) {
	switch c {
	case ':':
		if st.isData && st.fieldLen == 4 {
			st.st = sseValueStart
		} else {
			st.st = sseSkip
		}
	case '\n', '\r':
		st.endLine(c)
	default:
		if st.fieldLen < 4 && "data"[st.fieldLen] == c {
			st.fieldLen++
		} else {
			st.isData = false
		}
	}
}

func (st *sseState) endLine(c byte) {
	st.st = sseLineStart
	st.afterCR = c == '\r'
}

// indexEOL returns the index of the first CR or LF in p, or -1.
func indexEOL(p []byte) int {
	n := bytes.IndexByte(p, '\n')
	if n < 0 {
		return bytes.IndexByte(p, '\r')
	}
	if r := bytes.IndexByte(p[:n], '\r'); r >= 0 {
		return r
	}
	return n
}
