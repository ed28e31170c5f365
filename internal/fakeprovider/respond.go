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

package fakeprovider

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// sseWriter writes server-sent events, each flushed on its own so the
// client sees it at once, as real providers stream.
type sseWriter struct {
	w     http.ResponseWriter
	rc    *http.ResponseController
	ctx   context.Context
	delay time.Duration // slow-drip fault: wait between events
	abort bool          // mid-stream reset fault: abort after the first event
	crlf  bool          // end lines with CRLF (Gemini), not LF
	n     int           // events written
	buf   []byte
	// frame, when set, frames each event instead of SSE: AWS event-stream
	// messages (Bedrock, framer).
	frame func(buf []byte, event string, data []byte) []byte
}

// framer is an API that streams in a framing of its own: the Content-Type
// and one frame per event.
type framer interface {
	framing(c *call) (contentType string, frame func(buf []byte, event string, data []byte) []byte)
}

func newSSEWriter(c *call, a api) *sseWriter {
	s := &sseWriter{w: c.w, rc: http.NewResponseController(c.w), ctx: c.r.Context(), buf: make([]byte, 0, 512)}
	switch c.fault.Kind {
	case FaultSlowStream:
		s.delay = c.fault.Delay
	case FaultResetMidStream:
		s.abort = true
	}
	h := c.w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	if f, ok := a.(framer); ok {
		var ct string
		ct, s.frame = f.framing(c)
		h.Set("Content-Type", ct)
		h.Del("Cache-Control")
	}
	c.w.WriteHeader(http.StatusOK)
	return s
}

// send writes one event; event "" writes a data-only event (OpenAI style).
func (s *sseWriter) send(event string, data []byte) error {
	if s.n > 0 && s.delay > 0 {
		if err := sleep(s.ctx, s.delay); err != nil {
			return err
		}
	}
	if err := s.ctx.Err(); err != nil {
		return fmt.Errorf("stream: %w", err)
	}
	if s.frame != nil {
		s.buf = s.frame(s.buf[:0], event, data)
	} else {
		s.buf = appendSSE(s.buf[:0], event, data, s.crlf)
	}
	if _, err := s.w.Write(s.buf); err != nil {
		return fmt.Errorf("write event: %w", err)
	}
	if err := s.rc.Flush(); err != nil {
		return fmt.Errorf("flush event: %w", err)
	}
	s.n++
	if s.abort {
		panic(http.ErrAbortHandler)
	}
	return nil
}

// appendSSE appends one server-sent event; event "" is a data-only event.
func appendSSE(buf []byte, event string, data []byte, crlf bool) []byte {
	eol := "\n"
	if crlf {
		eol = "\r\n"
	}
	if event != "" {
		buf = append(buf, "event: "...)
		buf = append(buf, event...)
		buf = append(buf, eol...)
	}
	buf = append(buf, "data: "...)
	buf = append(buf, data...)
	buf = append(buf, eol...)
	return append(buf, eol...)
}

// writeJSON writes a complete JSON response. Under the mid-stream reset
// fault it sends the headers and half the body, then aborts, which is how a
// non-streaming response gets cut off.
func writeJSON(c *call, status int, body []byte) {
	c.w.Header().Set("Content-Type", "application/json")
	c.w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	c.w.WriteHeader(status)
	if c.fault.Kind == FaultResetMidStream {
		_, _ = c.w.Write(body[:len(body)/2])
		_ = http.NewResponseController(c.w).Flush()
		panic(http.ErrAbortHandler)
	}
	if _, err := c.w.Write(body); err != nil {
		return // client gone: status stays 0, counted as an error
	}
	c.status = status
}

// sendJSON encodes v and sends it as one event.
func sendJSON(s *sseWriter, event string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", event, err)
	}
	return s.send(event, data)
}
