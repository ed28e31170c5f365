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

package proxy

import (
	"bytes"
	"net/http"
)

// usageOption is what the proxy adds to an OpenAI chat or completion
// stream request that did not ask for usage, as other gateways do: the
// answer then ends with a chunk that reports it, which the proxy charges and
// keeps from the client (usageChunkFilter).
const usageOption = `"stream_options":{"include_usage":true},`

// askUsage adds usageOption at the start of the request body's top-level
// object (provider.RequestFacts.AskUsage says the body is one, streaming,
// with no stream_options of its own). When the body budget has no room for
// the few bytes, the request goes as the client sent it.
func (x *exchange) askUsage() {
	b := &x.body
	at := bytes.IndexByte(b.buf, '{') + 1
	if at == 0 {
		return
	}
	n := len(b.buf)
	if n+len(usageOption) > cap(b.buf) {
		if b.grow(int64(n+len(usageOption))) != nil {
			return
		}
	}
	b.buf = b.buf[:n+len(usageOption)]
	copy(b.buf[at+len(usageOption):], b.buf[at:n])
	copy(b.buf[at:], usageOption)
	x.usageFilter = &usageChunkFilter{}
}

// usageChunkFilter passes an OpenAI stream on event by event, dropping the
// usage-only chunk (no choices, a usage object) that usageOption asked for.
// An event is held back until its blank line arrives; the chunks OpenAI
// sends are a few hundred bytes each. The other chunks keep the
// "usage":null the option adds to them, which clients read as no usage.
type usageChunkFilter struct {
	pending []byte
}

// write passes on every event p completes, but the usage chunk.
func (f *usageChunkFilter) write(w http.ResponseWriter, p []byte) error {
	f.pending = append(f.pending, p...)
	sent := 0 // pending[:sent] is done with
	from := 0 // the start of the events not yet written
	for {
		end := eventEnd(f.pending[sent:])
		if end < 0 {
			break
		}
		ev := f.pending[sent : sent+end]
		if isUsageChunk(ev) {
			if err := writeSome(w, f.pending[from:sent]); err != nil {
				return err
			}
			from = sent + end
		}
		sent += end
	}
	err := writeSome(w, f.pending[from:sent])
	f.pending = f.pending[:copy(f.pending, f.pending[sent:])]
	return err
}

// flush passes on what is left of a stream that ended without a blank
// line.
func (f *usageChunkFilter) flush(w http.ResponseWriter) error {
	err := writeSome(w, f.pending)
	f.pending = f.pending[:0]
	return err
}

func writeSome(w http.ResponseWriter, p []byte) error {
	if len(p) == 0 {
		return nil
	}
	_, err := w.Write(p)
	return err
}

// eventEnd is the length of the first complete event in p, its blank line
// included; -1 if p holds none.
func eventEnd(p []byte) int {
	for i := 0; i+1 < len(p); i++ {
		if p[i] != '\n' && p[i] != '\r' {
			continue
		}
		switch {
		case p[i] == '\n' && p[i+1] == '\n':
			return i + 2
		case p[i] == '\r' && i+3 < len(p) && string(p[i:i+4]) == "\r\n\r\n":
			return i + 4
		case p[i] == '\r' && p[i+1] == '\r':
			return i + 2
		}
	}
	return -1
}

// isUsageChunk reports whether an event is OpenAI's usage-only chunk: an
// empty choices list and a usage object, as OpenAI writes them (compact).
func isUsageChunk(ev []byte) bool {
	return bytes.Contains(ev, []byte(`"choices":[]`)) && bytes.Contains(ev, []byte(`"usage":{`))
}
