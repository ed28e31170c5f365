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

package upstream

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/net/http/httpguts"
)

// field is one header line's key and value, as offsets into the head.
type field struct{ k0, k1, v0, v1 int }

// readResponse reads the status line and header fields (skipping 1xx
// interim responses) and frames the body.
func (c *conn) readResponse(req *http.Request) (*http.Response, error) {
	for first := true; ; first = false {
		resp, err := c.readHead(req, first)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 200 || resp.StatusCode < 100 {
			return resp, c.frameBody(req, resp)
		}
		if resp.StatusCode == http.StatusSwitchingProtocols {
			return nil, errors.New("upstream: protocol switch is not supported")
		}
	}
}

// readHead reads one response head into a single allocation: the status
// text, keys and values of the returned header are strings over it, which
// is never written again (unsafe.String), so a response costs one buffer,
// one map and one slice of values instead of a string per field.
func (c *conn) readHead(req *http.Request, first bool) (*http.Response, error) {
	var fieldsBuf [32]field
	fields := fieldsBuf[:0]
	limit := c.t.MaxResponseHeaderBytes
	if limit <= 0 {
		limit = DefaultMaxResponseHeaderBytes
	}
	head := make([]byte, 0, 1024)
	statusLine := true
	for {
		line, err := readLine(c.br)
		if err != nil {
			if first && statusLine && len(head) == 0 && len(line) == 0 && (err == io.EOF || isConnReset(err)) {
				if c.reused {
					return nil, fmt.Errorf("read response: %w: %w", errNothingRead, err)
				}
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("read response head: %w", err)
		}
		if len(head)+len(line) > limit {
			return nil, fmt.Errorf("response head exceeds %d bytes", limit)
		}
		if statusLine {
			head = append(head, line...)
			statusLine = false
			continue
		}
		if len(line) == 0 {
			break
		}
		var f field
		if head, f, err = appendField(head, line); err != nil {
			return nil, err
		}
		fields = append(fields, f)
	}
	return c.buildResponse(req, head, fields)
}

// appendField appends a header line to head, its key in canonical form,
// and returns where its key and value (without surrounding blanks) are.
func appendField(head, line []byte) ([]byte, field, error) {
	if line[0] == ' ' || line[0] == '\t' {
		return head, field{}, errors.New("malformed response header: obsolete line folding")
	}
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return head, field{}, fmt.Errorf("malformed response header line %q", truncate(line))
	}
	start := len(head)
	head = append(head, line...)
	if key := head[start : start+colon]; !canonicalizeInPlace(key) {
		return head, field{}, fmt.Errorf("malformed response header key %q", truncate(key))
	}
	v0, v1 := start+colon+1, len(head)
	for v0 < v1 && (head[v0] == ' ' || head[v0] == '\t') {
		v0++
	}
	for v1 > v0 && (head[v1-1] == ' ' || head[v1-1] == '\t') {
		v1--
	}
	if !httpguts.ValidHeaderFieldValue(str(head[v0:v1])) {
		return head, field{}, fmt.Errorf("malformed response header value for %s", head[start:start+colon])
	}
	return head, field{start, start + colon, v0, v1}, nil
}

func (c *conn) buildResponse(req *http.Request, head []byte, fields []field) (*http.Response, error) {
	statusEnd := len(head)
	if len(fields) > 0 {
		statusEnd = fields[0].k0
	}
	proto, status, ok := strings.Cut(str(head[:statusEnd]), " ")
	major, minor, okProto := http.ParseHTTPVersion(proto)
	if !ok || !okProto || major != 1 || len(status) < 3 {
		return nil, fmt.Errorf("malformed response status line %q", truncate(head[:statusEnd]))
	}
	code, err := strconv.Atoi(status[:3])
	if err != nil || code < 100 || (len(status) > 3 && status[3] != ' ') {
		return nil, fmt.Errorf("malformed response status code %q", truncate(head[:statusEnd]))
	}
	h := make(http.Header, len(fields))
	values := make([]string, len(fields))
	for i, f := range fields {
		k, v := str(head[f.k0:f.k1]), str(head[f.v0:f.v1])
		values[i] = v
		if vs, ok := h[k]; ok {
			h[k] = append(vs, v)
			continue
		}
		h[k] = values[i : i+1 : i+1]
	}
	return &http.Response{
		Status:     status,
		StatusCode: code,
		Proto:      proto,
		ProtoMajor: major,
		ProtoMinor: minor,
		Header:     h,
		Request:    req,
	}, nil
}

// str is b as a string without a copy; b must never be written again.
func str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// readLine reads one line without its CRLF (or LF). The returned slice
// points into br's buffer, valid until the next read; a line longer than
// the buffer is gathered into a new slice.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		long := append([]byte(nil), line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = br.ReadSlice('\n')
			long = append(long, line...)
		}
		line = long
	}
	if err != nil {
		return line, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// canonicalizeInPlace rewrites key as net/http's canonical form
// (content-type -> Content-Type) and reports whether it is a valid token.
func canonicalizeInPlace(key []byte) bool {
	upper := true
	for i, b := range key {
		if !httpguts.IsTokenRune(rune(b)) {
			return false
		}
		switch {
		case upper && 'a' <= b && b <= 'z':
			key[i] = b - ('a' - 'A')
		case !upper && 'A' <= b && b <= 'Z':
			key[i] = b + ('a' - 'A')
		}
		upper = b == '-'
	}
	return true
}

func truncate(b []byte) string {
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}
