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

import "strings"

// Tokens is the usage a response reported.
type Tokens struct {
	Input         int64 // input (prompt) tokens
	Output        int64 // output (completion) tokens
	CacheCreation int64 // tokens written to the prompt cache (Anthropic)
	CacheRead     int64 // tokens read from the prompt cache
}

// Format says how a response body is framed.
type Format uint8

const (
	// FormatNone ignores the body (the zero value).
	FormatNone Format = iota
	// FormatJSON reads a single JSON document.
	FormatJSON
	// FormatSSE reads server-sent events whose data lines are JSON documents.
	FormatSSE
	// FormatEventStream reads AWS event-stream messages whose payloads are
	// JSON documents (eventstream.go).
	FormatEventStream
)

// String returns the format's name for logs.
func (f Format) String() string {
	switch f {
	case FormatJSON:
		return "json"
	case FormatSSE:
		return "sse"
	case FormatEventStream:
		return "eventstream"
	default:
		return "none"
	}
}

// FormatOf picks the format from a Content-Type header value. It does not
// allocate.
func FormatOf(contentType string) Format {
	// Media types are case-insensitive; parameters (charset) are ignored.
	mt := contentType
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = mt[:i]
	}
	mt = strings.TrimSpace(mt)
	switch {
	case strings.EqualFold(mt, "text/event-stream"):
		return FormatSSE
	case strings.EqualFold(mt, eventStreamMediaType):
		return FormatEventStream
	case strings.EqualFold(mt, "application/json"),
		len(mt) > 5 && strings.EqualFold(mt[len(mt)-5:], "+json"):
		return FormatJSON
	default:
		return FormatNone
	}
}

// Scanner extracts usage from a response body fed to it with Write.
// The zero value ignores everything; call Reset to choose a format.
// A Scanner is not safe for concurrent use.
type Scanner struct {
	format Format
	schema *Schema
	sse    sseState
	es     eventStreamState
	js     jsonScanner
	tokens Tokens
	found  bool
	final  bool // an output count that is not Interim was read
	// streamed is the output counted from content deltas (FieldStreamed).
	streamed int64
}

// NewScanner returns a Scanner for the given format that reads the counters
// schema names.
func NewScanner(f Format, schema *Schema) *Scanner {
	s := &Scanner{}
	s.Reset(f, schema)
	return s
}

// Reset clears what was seen and sets the format and schema, so a Scanner
// can be reused. A nil schema reads nothing.
func (s *Scanner) Reset(f Format, schema *Schema) {
	if schema == nil {
		f = FormatNone
	}
	*s = Scanner{format: f, schema: schema}
	s.js.reset()
}

// Write feeds the next piece of the body. It never fails and never retains p.
func (s *Scanner) Write(p []byte) (int, error) {
	switch s.format {
	case FormatJSON:
		s.js.write(p, s)
	case FormatSSE:
		s.writeSSE(p)
	case FormatEventStream:
		s.writeEventStream(p)
	}
	return len(p), nil
}

// Tokens returns the usage seen so far.
func (s *Scanner) Tokens() Tokens { return s.tokens }

// Found reports whether any usage field was seen.
func (s *Scanner) Found() bool { return s.found }

// Final reports whether the body reported its output count as complete:
// a JSON body's usage, or a stream's closing usage event (Anthropic's
// message_delta, OpenAI's include_usage chunk). A stream that ends without
// it was cut off (the client or the upstream left); Streamed is then what
// it delivered.
func (s *Scanner) Final() bool { return s.final }

// Streamed is the output the content deltas seen so far carried, counted
// by the input estimate's rule (one token per four ASCII bytes, one per
// non-ASCII character) rounded up per delta, so at least one token per
// delta: never less than a provider that sends whole tokens charged for
// them.
func (s *Scanner) Streamed() int64 {
	n := s.streamed
	if s.js.counting { // a delta cut off in the middle
		n += streamedTokens(s.js.quarters)
	}
	return n
}

// set records one counter; the last report of a field wins.
func (s *Scanner) set(f Field, interim bool, v int64) {
	switch f {
	case FieldInput:
		s.tokens.Input = v
	case FieldOutput:
		s.tokens.Output = v
		s.final = s.final || !interim
	case FieldCacheCreation:
		s.tokens.CacheCreation = v
	case FieldCacheRead:
		s.tokens.CacheRead = v
	default:
		return
	}
	s.found = true
}
