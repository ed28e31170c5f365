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
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/clock"
)

// t0 is a whole second, so reset headers are easy to predict.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// fixture is a provider behind a real HTTP server, on a manual clock.
type fixture struct {
	p     *Provider
	clock *clock.Fake
	srv   *httptest.Server
	// started and done receive once per handler as it starts and finishes
	// (also after an abort), so a test can sync with the server side
	// without sleeping.
	started, done chan struct{}
}

func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	f := &fixture{clock: clock.NewFake(t0), started: make(chan struct{}, 1024), done: make(chan struct{}, 1024)}
	cfg.Clock = f.clock
	f.p = New(cfg)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		signal(f.started)
		defer signal(f.done)
		f.p.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// signal sends without blocking; tests that do not wait just drop them.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// waitDone waits for n handlers to finish.
func (f *fixture) waitDone(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for range n {
		select {
		case <-f.done:
		case <-timeout:
			t.Fatal("handler did not finish")
		}
	}
}

// anthropicBody builds a Messages API request body.
func anthropicBody(prompt string, maxTokens int, stream bool) string {
	b, _ := json.Marshal(map[string]any{
		"model":      "claude-test",
		"max_tokens": maxTokens,
		"stream":     stream,
		"messages":   []map[string]any{{"role": "user", "content": prompt}},
	})
	return string(b)
}

// openaiBody builds a Chat Completions request body.
func openaiBody(prompt string, stream, includeUsage bool) string {
	m := map[string]any{
		"model":    "gpt-test",
		"stream":   stream,
		"messages": []map[string]any{{"role": "user", "content": prompt}},
	}
	if includeUsage {
		m["stream_options"] = map[string]any{"include_usage": true}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// postAnthropic sends a Messages request with key; the caller closes the body.
func (f *fixture) postAnthropic(t *testing.T, ctx context.Context, key, body string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.srv.URL+"/v1/messages", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-api-key", key)
	req.Header.Set("anthropic-version", "2023-06-01")
	req.Header.Set("content-type", "application/json")
	return f.client().Do(req)
}

// postOpenAI sends a Chat Completions request with key.
func (f *fixture) postOpenAI(t *testing.T, ctx context.Context, key, body string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.srv.URL+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("content-type", "application/json")
	return f.client().Do(req)
}

// client returns a client with its own connections, so a reset in one test
// step cannot break the next.
func (f *fixture) client() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
}

// mustDo returns a func that fails the test on a transport error and
// returns the response and its body; it is curried so a request call's two
// results can be passed straight in.
func mustDo(t *testing.T) func(*http.Response, error) (*http.Response, []byte) {
	return func(resp *http.Response, err error) (*http.Response, []byte) {
		t.Helper()
		return readAll(t, resp, err)
	}
}

func readAll(t *testing.T, resp *http.Response, err error) (*http.Response, []byte) {
	t.Helper()
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp, body
}

// sseEvent is one parsed server-sent event.
type sseEvent struct {
	name string
	data string
}

// sseReader parses server-sent events as a client would.
type sseReader struct{ r *bufio.Reader }

func newSSEReader(r io.Reader) *sseReader { return &sseReader{r: bufio.NewReader(r)} }

// next returns the next event or an error (io.EOF at a clean end).
func (s *sseReader) next() (sseEvent, error) {
	var ev sseEvent
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			if err == io.EOF && line != "" {
				err = io.ErrUnexpectedEOF
			}
			return ev, err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if ev.data != "" || ev.name != "" {
				return ev, nil
			}
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ev.data = strings.TrimPrefix(line, "data: ")
		}
	}
}

// all reads events until the end of the stream.
func (s *sseReader) all(t *testing.T) []sseEvent {
	t.Helper()
	var out []sseEvent
	for {
		ev, err := s.next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("read event %d: %v", len(out), err)
		}
		out = append(out, ev)
	}
}

// decode unmarshals JSON into a generic map, failing the test on error.
func decode(t *testing.T, data string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(data), &m); err != nil {
		t.Fatalf("decode %q: %v", data, err)
	}
	return m
}

// num reads a number at a dotted path of a decoded JSON object.
func num(t *testing.T, m map[string]any, path string) int64 {
	t.Helper()
	var cur any = m
	for part := range strings.SplitSeq(path, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			t.Fatalf("path %s: %v is not an object", path, cur)
		}
		cur = obj[part]
	}
	f, ok := cur.(float64)
	if !ok {
		t.Fatalf("path %s: %v is not a number", path, cur)
	}
	return int64(f)
}
