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

import "fmt"

// Field is one usage counter.
type Field uint8

const (
	// FieldNone is no counter.
	FieldNone Field = iota
	// FieldInput is input (prompt) tokens.
	FieldInput
	// FieldOutput is output (completion) tokens.
	FieldOutput
	// FieldCacheCreation is tokens written to the prompt cache.
	FieldCacheCreation
	// FieldCacheRead is tokens read from the prompt cache.
	FieldCacheRead
	// FieldStreamed marks a string of generated content (a text or
	// tool-argument delta) rather than a counter: its path is a suffix,
	// matched from the string's own key outwards (arrays in between are
	// skipped), and the scanner counts the output it carries (see
	// Scanner.Streamed).
	FieldStreamed
)

// Path is where one counter sits: the object keys from the root of a JSON
// body (or of one server-sent event's data) down to the integer.
type Path struct {
	Keys  []string
	Field Field
	// Interim marks an output count reported before the answer is complete
	// (Anthropic's message_start): it is read, but does not make the
	// output final (see Scanner.Final).
	Interim bool
}

// Schema is where one provider reports usage. Its paths run through objects
// only: a counter inside an array belongs to some element (a content block,
// a choice), never to the response's usage. When a response reports a path
// more than once the last value wins.
type Schema struct {
	paths []Path
}

// NewSchema returns the schema of paths. It fails for a path deeper than
// the scanner tracks or with a key longer than it remembers.
func NewSchema(paths ...Path) (*Schema, error) {
	for _, p := range paths {
		if len(p.Keys) == 0 || len(p.Keys) > trackedLevels {
			return nil, fmt.Errorf("usage path %v: depth must be 1 to %d", p.Keys, trackedLevels)
		}
		for _, k := range p.Keys {
			if len(k) > maxKeyLen {
				return nil, fmt.Errorf("usage path %v: key %q longer than %d bytes", p.Keys, k, maxKeyLen)
			}
		}
		if p.Field == FieldNone || p.Field > FieldStreamed {
			return nil, fmt.Errorf("usage path %v: unknown field %d", p.Keys, p.Field)
		}
	}
	return &Schema{paths: paths}, nil
}

// MustSchema is NewSchema for schemas fixed at compile time; it panics on an
// invalid path.
func MustSchema(paths ...Path) *Schema {
	s, err := NewSchema(paths...)
	if err != nil {
		panic(err)
	}
	return s
}

// Under returns leaves, paths relative to one usage object, below prefix:
// the same counters in another place of the body or of an event.
func Under(prefix []string, leaves ...Path) []Path {
	paths := make([]Path, len(leaves))
	for i, l := range leaves {
		keys := append(append(make([]string, 0, len(prefix)+len(l.Keys)), prefix...), l.Keys...)
		paths[i] = Path{Keys: keys, Field: l.Field}
	}
	return paths
}

// Interim returns paths marked Interim.
func Interim(paths []Path) []Path {
	for i := range paths {
		paths[i].Interim = true
	}
	return paths
}

// match returns the counter path j is at, whose innermost level is l; nil
// if none.
func (s *Schema) match(j *jsonScanner, l int) *Path {
	for i := range s.paths {
		p := &s.paths[i]
		if len(p.Keys) != l+1 || p.Field == FieldStreamed {
			continue
		}
		ok := true
		for lvl := l; lvl >= 0 && ok; lvl-- { // innermost first: it differs most
			ok = j.eq(lvl, p.Keys[lvl])
		}
		if ok {
			return p
		}
	}
	return nil
}

// streamed reports whether the string value j is at, whose key is at level
// l, is generated content: a FieldStreamed path is a suffix of its keys.
func (s *Schema) streamed(j *jsonScanner, l int) bool {
	for i := range s.paths {
		p := &s.paths[i]
		if p.Field == FieldStreamed && j.endsWith(l, p.Keys) {
			return true
		}
	}
	return false
}
