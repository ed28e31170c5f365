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
