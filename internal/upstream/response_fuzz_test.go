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
	"io"
	"net"
	"net/http"
	"testing"
)

// FuzzResponseParsing holds the transport's response parser to net/http's:
// whatever it accepts, net/http accepts too, with the same status, header
// fields and body. (It may refuse more: obsolete line folding, invalid
// keys, transfer codings other than chunked.)
func FuzzResponseParsing(f *testing.F) {
	for _, seed := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\nx-a: 2\r\n\r\nhello",
		"HTTP/1.1 429 Too Many Requests\r\nretry-after: 3\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nuntil close",
		"HTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nab",
		"HTTP/1.1 200\r\nA:  b \t\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, _ := http.NewRequest(http.MethodGet, "http://upstream.test/", nil)
		ours, oursBody, err := parseWithTransport(req, data)
		if err != nil {
			return
		}
		theirs, err := readFinalResponse(req, data)
		if err != nil {
			t.Fatalf("accepted what net/http refuses (%v): %q", err, data)
		}
		theirsBody, err := io.ReadAll(theirs.Body)
		if err != nil {
			t.Fatalf("accepted a body net/http fails to read (%v): %q", err, data)
		}
		if ours.StatusCode != theirs.StatusCode || !bytes.Equal(oursBody, theirsBody) {
			t.Fatalf("status %d body %q; net/http: %d %q; input %q",
				ours.StatusCode, oursBody, theirs.StatusCode, theirsBody, data)
		}
		if nextBody, err := nextWithTransport(req, data); err != nil || !bytes.Equal(nextBody, oursBody) {
			t.Fatalf("Next read %q, %v; Read read %q; input %q", nextBody, err, oursBody, data)
		}
		for k, v := range theirs.Header {
			if got := ours.Header[k]; !equalStrings(got, v) {
				t.Fatalf("%s: %q, net/http %q; input %q", k, got, v, data)
			}
		}
		if len(ours.Header) != len(theirs.Header) {
			t.Fatalf("header %v, net/http %v; input %q", ours.Header, theirs.Header, data)
		}
	})
}

// parseWithTransport reads data as a response on a connection of the
// transport, body included.
func parseWithTransport(req *http.Request, data []byte) (*http.Response, []byte, error) {
	return withTransport(req, data, func(b *body) ([]byte, error) { return io.ReadAll(b) })
}

// nextWithTransport is parseWithTransport's body read with Next.
func nextWithTransport(req *http.Request, data []byte) ([]byte, error) {
	_, out, err := withTransport(req, data, func(b *body) ([]byte, error) {
		var out []byte
		for {
			p, err := b.Next()
			out = append(out, p...)
			if err == io.EOF {
				return out, nil
			}
			if err != nil {
				return out, err
			}
		}
	})
	return out, err
}

// withTransport reads data as a response on a connection of the
// transport and its body with read.
func withTransport(req *http.Request, data []byte, read func(*body) ([]byte, error)) (*http.Response, []byte, error) {
	local, remote := net.Pipe()
	defer func() { _ = remote.Close() }()
	c := &conn{t: &Transport{}, nc: local, br: bufio.NewReader(bytes.NewReader(data))}
	c.expire = func() {}
	resp, err := c.readResponse(req)
	if err != nil {
		return nil, nil, err
	}
	b := resp.Body.(*body)
	b.stop = func() bool { return true }
	out, err := read(b)
	return resp, out, err
}

// readFinalResponse reads data with net/http, past the 1xx responses the
// transport skips and http.ReadResponse returns.
func readFinalResponse(req *http.Request, data []byte) (*http.Response, error) {
	br := bufio.NewReader(bytes.NewReader(data))
	for {
		resp, err := http.ReadResponse(br, req)
		if err != nil || resp.StatusCode >= 200 || resp.StatusCode < 100 {
			return resp, err
		}
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
