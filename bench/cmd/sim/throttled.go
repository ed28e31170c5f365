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

package main

import (
	"net/http"
	"sync"
)

// throttleCounter wraps the fake provider and counts its 429s by
// organisation and by the dimension that was short, read from the
// rate-limit headers of the 429 itself: requests or output tokens when their
// remaining count is 0, input tokens otherwise (the request's input did not
// fit in what was left). It also counts the admitted requests by class.
type throttleCounter struct {
	next    http.Handler
	classes *classCounter
	mu      sync.Mutex
	n       map[string]map[string]int64 // org -> dimension -> 429s
	on      bool                        // counting only inside the measured window
}

func newThrottleCounter(next http.Handler, classes *classCounter) *throttleCounter {
	return &throttleCounter{next: next, classes: classes, n: map[string]map[string]int64{}}
}

// counting reports whether the measured window is open.
func (t *throttleCounter) counting() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.on
}

// setCounting switches counting on or off.
func (t *throttleCounter) setCounting(on bool) {
	t.mu.Lock()
	t.on = on
	t.mu.Unlock()
}

// counts returns a copy of the counts.
func (t *throttleCounter) counts() map[string]map[string]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]map[string]int64, len(t.n))
	for o, m := range t.n {
		out[o] = map[string]int64{}
		for d, v := range m {
			out[o][d] = v
		}
	}
	return out
}

func (t *throttleCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t.next.ServeHTTP(&statusWriter{ResponseWriter: w, t: t, class: t.classes.classOf(r)}, r)
}

// record counts one 429 from its headers.
func (t *throttleCounter) record(h http.Header) {
	dim := "input"
	switch {
	case h.Get("Anthropic-Ratelimit-Requests-Remaining") == "0":
		dim = "requests"
	case h.Get("Anthropic-Ratelimit-Output-Tokens-Remaining") == "0":
		dim = "output"
	}
	org := h.Get("Anthropic-Organization-Id")
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.on {
		return
	}
	if t.n[org] == nil {
		t.n[org] = map[string]int64{}
	}
	t.n[org][dim]++
}

// statusWriter notices a 429 as its header is written, and passes flushes
// through so streams stay streams.
type statusWriter struct {
	http.ResponseWriter
	t     *throttleCounter
	class int
}

func (s *statusWriter) WriteHeader(code int) {
	switch {
	case code == http.StatusTooManyRequests:
		s.t.record(s.Header())
	case code == http.StatusOK && s.t.counting():
		s.t.classes.served(s.class)
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
