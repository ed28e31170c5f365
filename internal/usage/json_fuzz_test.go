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
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
)

// FuzzScanJSON feeds arbitrary bytes to the JSON scanner, whole and split
// at an arbitrary point. Whatever the input, the scanner must not panic and
// must find the same usage both ways (a response arrives in pieces of any
// size). For every valid JSON document it must also agree with a reference
// reader built on encoding/json (refUsage), which walks the document in
// order and applies the paths the package documents.
func FuzzScanJSON(f *testing.F) {
	for _, s := range []string{
		anthropicMessage, openAIChat,
		`{"usage":{"input_tokens":1,"output_tokens":2}}`,
		`{"usage":{"input_tokens":1},"usage":{"input_tokens":7}}`,
		`{"message":{"usage":{"input_tokens":3,"cache_read_input_tokens":4}}}`,
		`{"response":{"usage":{"input_tokens":40,"input_tokens_details":{"cached_tokens":8}}}}`,
		`{"usage":{"prompt_tokens_details":{"cached_tokens":5},"prompt_tokens":9}}`,
		`{"usage":{"input\u005ftokens":5}}`,
		`{"usage":{"input_tokens":-5,"output_tokens":1.5,"cache_creation_input_tokens":1e3}}`,
		`{"usage":{"input_tokens":9999999999999999999999}}`,
		`[{"usage":{"input_tokens":1}}]`,
		`{"usage":[{"input_tokens":1}]}`,
		`{"a":"\"usage\":{\"input_tokens\":9}","usage":{"output_tokens":3}}`,
		`{"usage":{"input_tokens":1`, `}}}]]]{"usage"`, ``,
	} {
		f.Add([]byte(s), len(s)/2)
	}
	f.Fuzz(func(t *testing.T, data []byte, cut int) {
		whole := NewScanner(FormatJSON, testSchema)
		_, _ = whole.Write(data)
		if cut >= 0 && cut <= len(data) {
			split := NewScanner(FormatJSON, testSchema)
			_, _ = split.Write(data[:cut])
			_, _ = split.Write(data[cut:])
			if whole.Tokens() != split.Tokens() || whole.Found() != split.Found() {
				t.Fatalf("split at %d: %+v (found %v), whole %+v (found %v)",
					cut, split.Tokens(), split.Found(), whole.Tokens(), whole.Found())
			}
		}
		if !json.Valid(data) {
			return
		}
		want, found, err := refUsage(data)
		if err != nil {
			t.Fatalf("reference reader: %v", err)
		}
		if whole.Tokens() != want || whole.Found() != found {
			t.Fatalf("scanner %+v (found %v), reference %+v (found %v), for %q",
				whole.Tokens(), whole.Found(), want, found, data)
		}
	})
}

// refUsage reads the usage of one valid JSON document the slow, obvious
// way: encoding/json's tokenizer, a stack of the keys on the path to each
// value, and the path table of the package documentation. Integers count
// when they are non-negative, have no fraction or exponent, and stay below
// the scanner's overflow guard. Keys written with escapes never match,
// because providers never escape them and the scanner does not decode them.
func refUsage(doc []byte) (Tokens, bool, error) { return refUsageFrom(doc, Tokens{}) }

// refUsageFrom is refUsage starting from the usage tokens already seen:
// the fields doc reports replace those, the others stay.
func refUsageFrom(doc []byte, tokens Tokens) (Tokens, bool, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var (
		found bool
		stack []refFrame
	)
	for {
		before := dec.InputOffset()
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return tokens, found, nil
		}
		if err != nil {
			return tokens, found, err
		}
		top := len(stack) - 1
		switch v := tok.(type) {
		case json.Delim:
			if v == '{' || v == '[' {
				if top >= 0 && !stack[top].array {
					stack[top].expectKey = true // the container is this key's value
				}
				stack = append(stack, refFrame{array: v == '[', expectKey: v == '{'})
				continue
			}
			stack = stack[:top]
			if top > 0 && !stack[top-1].array {
				stack[top-1].expectKey = true
			}
			continue
		case string:
			if top >= 0 && !stack[top].array && stack[top].expectKey {
				raw := doc[before:dec.InputOffset()]
				stack[top].key, stack[top].escaped = v, bytes.IndexByte(raw, '\\') >= 0
				stack[top].expectKey = false
				continue
			}
		case json.Number:
			if f, ok := refField(stack); ok {
				if n, ok := refCount(string(v)); ok {
					setField(&tokens, f, n)
					found = true
				}
			}
		}
		if top >= 0 && !stack[top].array {
			stack[top].expectKey = true
		}
	}
}

// refFrame is one open container on the reference reader's path.
type refFrame struct {
	array     bool
	expectKey bool
	key       string
	escaped   bool
}

// refField applies the schema's path table to the path of a number, the
// plain way: join the keys and compare.
func refField(stack []refFrame) (Field, bool) {
	keys := make([]string, len(stack))
	for i, fr := range stack {
		if fr.array || fr.escaped {
			return FieldNone, false // numbers inside arrays are never usage
		}
		keys[i] = fr.key
	}
	for _, p := range testSchema.paths {
		if strings.Join(p.Keys, "\x00") == strings.Join(keys, "\x00") {
			return p.Field, true
		}
	}
	return FieldNone, false
}

// refCount accepts what a token count can be: digits only, and no larger
// than the scanner's guard lets through (it stops accepting digits once the
// value so far reaches maxCount).
func refCount(s string) (int64, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	if len(s) > 1 {
		prefix, err := strconv.ParseInt(s[:len(s)-1], 10, 64)
		if err != nil || prefix >= maxCount {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// setField records one counter, as Scanner.set does.
func setField(t *Tokens, f Field, n int64) {
	switch f {
	case FieldInput:
		t.Input = n
	case FieldOutput:
		t.Output = n
	case FieldCacheCreation:
		t.CacheCreation = n
	case FieldCacheRead:
		t.CacheRead = n
	}
}
