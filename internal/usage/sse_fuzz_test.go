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

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzScanSSE frames fuzzed JSON documents as a server-sent event stream,
// with the framing itself fuzzed (LF, CRLF or CR line ends, comments, event
// and id fields, [DONE] events, documents spread over several data lines),
// and checks the scanner against the reference reader applied to each
// event's data in turn: usage in the stream is what the last event that
// reported each field said. The stream is also fed in two pieces split at a
// fuzzed point. Arbitrary raw streams are covered by FuzzScannerSplit.
func FuzzScanSSE(f *testing.F) {
	f.Add([]byte(`{"type":"message_start","message":{"usage":{"input_tokens":25,"output_tokens":1}}}`+"\x00"+
		`{"type":"message_delta","usage":{"output_tokens":15}}`), byte(0), 40)
	f.Add([]byte(`{"choices":[],"usage":{"prompt_tokens":11,"completion_tokens":22,"prompt_tokens_details":{"cached_tokens":4}}}`), byte(1), 7)
	f.Add([]byte("{\"usage\":\n{\"input_tokens\":\r\n3}}\x00not json\x00{\"usage\":{\"output_tokens\":4}}"), byte(0xff), 12)
	f.Add([]byte(`{"type":"response.completed","response":{"usage":{"input_tokens":40,"input_tokens_details":{"cached_tokens":8}}}}`), byte(6), 0)
	f.Fuzz(func(t *testing.T, docs []byte, framing byte, cut int) {
		stream, events := frameSSE(docs, framing)
		var want Tokens
		found := false
		for _, data := range events {
			// Each event's fields replace what earlier events said.
			got, ok, err := refUsageFrom(data, want)
			if err != nil {
				t.Fatalf("reference reader on %q: %v", data, err)
			}
			want, found = got, found || ok
		}
		s := NewScanner(FormatSSE, testSchema)
		_, _ = s.Write(stream)
		if s.Tokens() != want || s.Found() != found {
			t.Fatalf("scanner %+v (found %v), reference %+v (found %v), stream %q",
				s.Tokens(), s.Found(), want, found, stream)
		}
		if cut >= 0 && cut <= len(stream) {
			split := NewScanner(FormatSSE, testSchema)
			_, _ = split.Write(stream[:cut])
			_, _ = split.Write(stream[cut:])
			if split.Tokens() != want {
				t.Fatalf("split at %d: %+v, want %+v, stream %q", cut, split.Tokens(), want, stream)
			}
		}
	})
}

// frameSSE turns the NUL-separated documents in docs into an event stream.
// Only valid JSON documents become events (the scanner reads invalid data
// leniently, which has no reference); a document that is not valid JSON
// becomes a [DONE] event instead, which must change nothing. Bits of framing
// choose the line end (bits 0-1), whether comments and event/id fields
// precede the data (bits 2, 3), and whether a document is split into data
// lines at its own line breaks (bit 4; it always is when it has any CR or
// LF, since those end a line).
func frameSSE(docs []byte, framing byte) (stream []byte, events [][]byte) {
	eol := [...]string{"\n", "\r\n", "\r", "\n"}[framing&3]
	var b bytes.Buffer
	for doc := range bytes.SplitSeq(docs, []byte{0}) {
		if framing&4 != 0 {
			b.WriteString(": keep-alive" + eol)
		}
		if framing&8 != 0 {
			b.WriteString("event: message" + eol + "id: 7" + eol)
		}
		if !json.Valid(doc) {
			b.WriteString("data: [DONE]" + eol + eol)
			continue
		}
		events = append(events, doc)
		// Data lines are joined with LF: in valid JSON a CR or LF is
		// whitespace between tokens, so splitting there keeps the meaning.
		// Empty lines are dropped, because a blank line ends the event.
		lines := bytes.FieldsFunc(doc, func(r rune) bool { return r == '\n' || r == '\r' })
		if len(lines) == 0 {
			lines = [][]byte{nil}
		}
		for _, line := range lines {
			b.WriteString("data: ")
			b.Write(line)
			b.WriteString(eol)
		}
		b.WriteString(eol)
	}
	return b.Bytes(), events
}
