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
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// message is the part of a chat message both APIs share. Content is a string
// or an array of blocks, so it is decoded lazily.
type message struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// block is a content block or part. Only text is counted; tool results nest
// further content, which is counted too.
type block struct {
	Text    string          `json:"text"`
	Content json.RawMessage `json:"content"`
}

// textBytes returns the number of bytes of text in a content value (a JSON
// string or an array of blocks). Anything else counts as nothing, because the
// estimate only needs to be deterministic, not exact.
func textBytes(raw json.RawMessage) int64 {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0
		}
		return int64(len(s))
	case '[':
		var blocks []block
		if json.Unmarshal(raw, &blocks) != nil {
			return 0
		}
		var n int64
		for _, b := range blocks {
			n += int64(len(b.Text)) + textBytes(b.Content)
		}
		return n
	}
	return 0
}

// estimateInput is the fake tokenizer: total bytes of text / 4, at least 1.
// Proxies estimate the same way, so their reservations match the charge.
func estimateInput(system json.RawMessage, msgs []message) int64 {
	n := textBytes(system)
	for _, m := range msgs {
		n += textBytes(m.Content)
	}
	return max(n/4, 1)
}

// directivePrefix asks for a given output size from inside a prompt, so a
// test or simulation can mix short and long responses per request.
const directivePrefix = "[[output_tokens="

// outputDirective returns N from [[output_tokens=N]] in the last user
// message, or -1. It scans the raw JSON, which is safe because brackets,
// '=' and digits are never escaped.
func outputDirective(msgs []message) int64 {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role != "user" {
			continue
		}
		raw := msgs[i].Content
		at := bytes.Index(raw, []byte(directivePrefix))
		if at < 0 {
			return -1
		}
		rest := raw[at+len(directivePrefix):]
		end := bytes.Index(rest, []byte("]]"))
		if end < 0 {
			return -1
		}
		n, err := strconv.ParseInt(string(rest[:end]), 10, 64)
		if err != nil || n < 0 {
			return -1
		}
		return n
	}
	return -1
}

// outputPlan decides how many tokens a response has and whether it was cut
// off by max_tokens (maxTokens <= 0 means no cap).
func outputPlan(def, directive, maxTokens int64) (n int64, truncated bool) {
	want := def
	if directive >= 0 {
		want = directive
	}
	want = min(want, maxOutputTokens)
	if maxTokens > 0 && want > maxTokens {
		return maxTokens, true
	}
	return want, false
}

// words is the text the fake "generates": four bytes per token, matching the
// input estimate, so a response's bytes and its usage agree.
var words = func() string {
	pool := []string{"the", "fox", "ran", "far", "and", "sat", "low", "new", "day", "sun", "sky", "old", "key", "row", "map", "art"}
	var sb strings.Builder
	const cached = 4096
	sb.Grow(cached * 4)
	for i := range cached {
		sb.WriteString(pool[(i*7+i/16)%len(pool)])
		sb.WriteByte(' ')
	}
	return sb.String()
}()

// text returns the generated text for output tokens [from, to): each token
// is one three-letter word and a space.
func text(from, to int64) string {
	if to <= from {
		return ""
	}
	cached := int64(len(words) / 4)
	if to <= cached {
		return words[from*4 : to*4]
	}
	var sb strings.Builder
	sb.Grow(int((to - from) * 4))
	for i := from; i < to; i++ {
		j := (i % cached) * 4
		sb.WriteString(words[j : j+4])
	}
	return sb.String()
}
