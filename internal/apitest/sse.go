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

package apitest

import (
	"bufio"
	"io"
	"strings"
)

// SSEReader reads one server-sent event at a time.
type SSEReader struct{ r *bufio.Reader }

// NewSSEReader reads events from r.
func NewSSEReader(r io.Reader) *SSEReader { return &SSEReader{bufio.NewReader(r)} }

// Next returns the next event's lines (without the blank line that ends
// it), or what was read before an error.
func (s *SSEReader) Next() (string, error) {
	var b strings.Builder
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return b.String() + line, err
		}
		if line == "\n" {
			return b.String(), nil
		}
		b.WriteString(line)
	}
}
