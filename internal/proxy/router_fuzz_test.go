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

package proxy_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/keypool-dev/keypool-operator/internal/provider"
	"github.com/keypool-dev/keypool-operator/internal/proxytest"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/proxy"
)

const (
	fuzzToken    = "fuzz-client-token"
	fuzzKey      = "fuzz-upstream-key"
	fuzzPoolPath = "/pools/team-a/claude"
	fuzzBase     = "/base" // the upstream's own path prefix, which must be kept
)

// FuzzRoute sends arbitrary request targets through the proxy's whole
// routing path (the HTTP/1.1 request-line parser, then ServeHTTP) and
// checks the proxy's promise about where a request may go:
//
//   - it is forwarded exactly when its decoded path is the known pool's
//     /v1/..., /v1beta/..., /v1alpha/... or /openai/... with no dot
//     segment, empty segment (but a trailing slash), backslash or control
//     character, also once percent-decoded again, and the client token is
//     right (in a header or the key query parameter);
//   - a forwarded request reaches the pool's upstream host under its base
//     path, its escaped and decoded paths agree, and even an upstream that
//     does not clean paths, or decodes them twice, can never see a "." or
//     ".." segment or a backslash;
//   - the upstream gets the pool key, never the client token (in a header
//     or the query), and no query parameter the provider does not document;
//   - anything not forwarded is answered with a JSON error of 4xx.
func FuzzRoute(f *testing.F) {
	for _, s := range []string{
		"/pools/team-a/claude/v1/messages", "/pools/team-a/claude/v1/messages?beta=true",
		"/pools/team-a/claude/v1/files/a%2Fb", "/pools/team-a/claude/v1/%2e%2e/admin",
		"/pools/team-a/claude/v1/../admin", "/pools/team-a/claude/v1/..%2fadmin",
		"/pools/team-a/claude%2Fv1/x", "/pools/team-a%2Fclaude/v1/v1/x", "/pools//claude/v1/x",
		"/pools/team-a/claude", "/pools/team-a/claude/v1", "/pools/team-a/claude/v1/", "/v1/messages",
		"http://evil.example/pools/team-a/claude/v1/messages", "*", "/pools/team-a/claude/v1/./x",
		"/pools/team-a/claude/v1//x", "/pools/team-a/claude/v1/x;/../..", "/pools/team-a/claude/v1/%252e%252e/x",
		"/pools/team-a/claude/v1/..\\admin", "/pools/team-a/claude/v1/a%255cb", "/pools/team-a/claude/v1/a%252fb",
		"/pools/team-a/claude/v1/x%0d%0a", "/pools/team-a/claude/v1/x/",
		"/pools/team-a/nope/v1/messages", "/pools/team-a/claude/v1/x%00y",
		"/pools/team-a/claude/v1beta/models/m:generateContent?alt=sse&key=" + fuzzToken,
		"/pools/team-a/claude/openai/deployments/d/chat/completions?api-version=1&%6Bey=" + fuzzToken,
		"/pools/team-a/claude/v1alpha/../v1/x", "/pools/team-a/claude/admin?key=" + fuzzToken,
		"/pools/team-a/claude/v1/models?limit=1&userProject=p&%6Bey=k&quotaUser=q;beta=true",
	} {
		f.Add(s, byte(0))
		f.Add(s, byte(2))
	}
	rec := &recorder{}
	u, err := url.Parse("http://upstream.test" + fuzzBase)
	if err != nil {
		f.Fatal(err)
	}
	access := proxytest.Access(u, 1, fuzzToken)
	access.PassThroughPaths = []string{"/"} // the routing is fuzzed here, not the object checks
	pool, err := keypool.NewKeyPool(provider.Anthropic, keypool.PoolConfig{
		Keys: proxytest.Keys([]string{fuzzKey}, false), Access: access,
	})
	if err != nil {
		f.Fatal(err)
	}
	reg := keypool.NewRegistry()
	reg.Set("team-a", "claude", pool)
	srv := proxy.New(reg, proxy.Options{Logger: logr.Discard(), Transport: rec, Metrics: prometheus.NewRegistry()})

	f.Fuzz(func(t *testing.T, target string, auth byte) {
		token := fuzzToken
		if auth&1 != 0 {
			token += "-wrong"
		}
		cred := "X-Api-Key: " + token
		if auth&2 != 0 {
			cred = "Authorization: Bearer " + token
		}
		raw := "POST " + target + " HTTP/1.1\r\nHost: proxy.test\r\n" + cred +
			"\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return // net/http answers 400 before any handler runs
		}
		rec.reset()
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		sent := rec.sent()

		rest, routed := strings.CutPrefix(req.URL.Path, fuzzPoolPath)
		q, _ := url.ParseQuery(req.URL.RawQuery)
		authed := auth&1 == 0 || q.Get("key") == fuzzToken
		want := routed && authed && underAPIRoot(rest) && staysCanonical(rest)
		switch {
		case want && sent == nil:
			t.Fatalf("%q (path %q) not forwarded: %d %s", target, req.URL.Path, w.Code, w.Body)
		case !want && sent != nil:
			t.Fatalf("%q (path %q, auth %d) forwarded to %s", target, req.URL.Path, auth, sent.URL)
		case sent == nil:
			checkRefusal(t, target, w)
			return
		}
		checkForwarded(t, target, rest, sent)
		if w.Code != http.StatusOK {
			t.Fatalf("%q: forwarded but answered %d", target, w.Code)
		}
	})
}

// checkForwarded checks what the upstream received for a request whose
// decoded path under the pool was rest.
func checkForwarded(t *testing.T, target, rest string, sent *http.Request) {
	t.Helper()
	if sent.URL.Host != "upstream.test" || sent.URL.Scheme != "http" {
		t.Fatalf("%q went to %s://%s", target, sent.URL.Scheme, sent.URL.Host)
	}
	if want := fuzzBase + rest; sent.URL.Path != want {
		t.Fatalf("%q: upstream path %q, want %q", target, sent.URL.Path, want)
	}
	// What goes on the wire is the escaped path; the upstream decodes it.
	decoded, err := url.PathUnescape(sent.URL.EscapedPath())
	if err != nil || decoded != sent.URL.Path {
		t.Fatalf("%q: escaped path %q decodes to %q (%v), not %q", target, sent.URL.EscapedPath(), decoded, err, sent.URL.Path)
	}
	if c := path.Clean(decoded) + "/"; !underAPIRoot(strings.TrimPrefix(c, fuzzBase)) {
		t.Fatalf("%q: upstream path %q cleans to %q, outside the API roots under %s", target, decoded, c, fuzzBase)
	}
	if twice := decodeAgain(decoded); hasDotSegment(decoded) || hasDotSegment(twice) || strings.ContainsRune(twice, '\\') {
		t.Fatalf("%q: upstream path %q (%q decoded again) has a dot segment or a backslash", target, decoded, twice)
	}
	if got := sent.Header.Get("X-Api-Key"); got != fuzzKey {
		t.Fatalf("%q: upstream x-api-key %q, want the pool key", target, got)
	}
	for k, vs := range sent.Header {
		for _, v := range vs {
			if strings.Contains(v, fuzzToken) {
				t.Fatalf("%q: the client token reached the upstream in %s", target, k)
			}
		}
	}
	if q, _ := url.ParseQuery(sent.URL.RawQuery); q.Has("key") {
		t.Fatalf("%q: the key parameter reached the upstream in %q", target, sent.URL.RawQuery)
	}
	for pair := range strings.SplitSeq(sent.URL.RawQuery, "&") {
		name, _, _ := strings.Cut(pair, "=")
		if n, err := url.QueryUnescape(name); pair != "" && (err != nil || !provider.Anthropic.ForwardsQueryParam(n)) {
			t.Fatalf("%q: parameter %q, which the API does not document, reached the upstream", target, name)
		}
	}
}

// underAPIRoot reports whether p is below one of the provider API roots.
func underAPIRoot(p string) bool {
	for _, root := range []string{"/v1/", "/v1beta/", "/v1alpha/", "/openai/"} {
		if strings.HasPrefix(p, root) {
			return true
		}
	}
	return false
}

// checkRefusal checks that a request the proxy kept is answered with a
// well-formed JSON error.
func checkRefusal(t *testing.T, target string, w *httptest.ResponseRecorder) {
	t.Helper()
	if w.Code < 400 || w.Code > 499 {
		t.Fatalf("%q refused with %d", target, w.Code)
	}
	var v struct {
		Error struct {
			Type    string          `json:"type"`
			Status  string          `json:"status"` // Google's shape: a status and a numeric code
			Code    json.RawMessage `json:"code"`   // Azure's shape: a code only
			Message string          `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil || (v.Error.Type == "" && v.Error.Status == "" && len(v.Error.Code) == 0) || v.Error.Message == "" {
		t.Fatalf("%q refused with %d and body %q (%v)", target, w.Code, w.Body, err)
	}
}

// staysCanonical is the proxy's promise about a forwarded path, written
// apart from its code: canonical as decoded, and once decoded again.
func staysCanonical(p string) bool { return canonical(p) && canonical(decodeAgain(p)) }

// canonical reports whether p has no dot segment, no empty segment but a
// trailing slash's, no backslash and no control character.
func canonical(p string) bool {
	if hasDotSegment(p) || strings.Contains(p, "//") ||
		strings.ContainsFunc(p, func(r rune) bool { return r == '\\' || r < 0x20 || r == 0x7f }) {
		return false
	}
	return true
}

var escape = regexp.MustCompile(`%[0-9A-Fa-f]{2}`)

// decodeAgain decodes the well-formed escapes of p, as a server that
// decodes a path twice would.
func decodeAgain(p string) string {
	return escape.ReplaceAllStringFunc(p, func(e string) string {
		s, _ := url.PathUnescape(e)
		return s
	})
}

// hasDotSegment reports whether p has a "." or ".." segment.
func hasDotSegment(p string) bool {
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// recorder is an upstream transport that keeps the last request and
// answers 200 with a small JSON body.
type recorder struct {
	mu   sync.Mutex
	last *http.Request
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		_ = req.Body.Close()
	}
	r.mu.Lock()
	r.last = req
	r.mu.Unlock()
	return &http.Response{
		StatusCode: http.StatusOK, ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(strings.NewReader(`{"usage":{"input_tokens":1}}`)),
		ContentLength: int64(len(`{"usage":{"input_tokens":1}}`)),
		Request:       req,
	}, nil
}

func (r *recorder) reset() {
	r.mu.Lock()
	r.last = nil
	r.mu.Unlock()
}

func (r *recorder) sent() *http.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}
