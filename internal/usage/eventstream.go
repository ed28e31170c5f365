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
	"encoding/binary"
	"encoding/json"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// eventStreamMediaType is AWS's binary event-stream framing (Bedrock's
// InvokeModelWithResponseStream and ConverseStream).
const eventStreamMediaType = "application/vnd.amazon.eventstream"

// maxEventStreamMessage bounds one buffered message: the framing's own
// limit (a 16 MiB payload and 128 KiB of headers) and its prelude and CRC.
const maxEventStreamMessage = 16<<20 + 128<<10 + 16

// eventStreamState is the part of the current message not yet complete.
type eventStreamState struct {
	buf  []byte
	dec  *eventstream.Decoder
	gave bool // a message over the limit: the rest of the body is ignored
}

// writeEventStream feeds event-stream bytes: each complete message is
// decoded by the AWS SDK's decoder (which checks both CRCs), and its JSON
// payload read for usage. Bedrock wraps each chunk of a model's own stream
// (an Anthropic SSE event's data) as base64 in the payload's "bytes";
// ConverseStream's events are the JSON itself. Malformed messages are
// skipped; the body reaches the client unchanged either way.
func (s *Scanner) writeEventStream(p []byte) {
	st := &s.es
	if st.gave {
		return
	}
	st.buf = append(st.buf, p...)
	for len(st.buf) >= 4 {
		n := binary.BigEndian.Uint32(st.buf)
		if n > maxEventStreamMessage || n < 16 {
			st.gave, st.buf = true, nil
			return
		}
		if uint32(len(st.buf)) < n {
			return
		}
		if st.dec == nil {
			st.dec = eventstream.NewDecoder()
		}
		if m, err := st.dec.Decode(bytes.NewReader(st.buf[:n]), nil); err == nil {
			s.eventPayload(m.Payload)
		}
		st.buf = st.buf[n:]
	}
	if len(st.buf) == 0 {
		st.buf = st.buf[:0:0] // let a large message's bytes go
	}
}

// chunkPayload is InvokeModelWithResponseStream's chunk: the model's own
// event, base64.
type chunkPayload struct {
	Bytes []byte `json:"bytes"`
}

// eventPayload reads one message's payload, or the model event inside it.
func (s *Scanner) eventPayload(p []byte) {
	if bytes.Contains(p, []byte(`"bytes"`)) {
		var c chunkPayload
		if json.Unmarshal(p, &c) == nil && len(c.Bytes) > 0 {
			p = c.Bytes
		}
	}
	var js jsonScanner
	js.reset()
	js.write(p, s)
}
