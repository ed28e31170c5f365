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

package proxy

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"

	"github.com/keypool-dev/keypool-operator/internal/provider"
)

// maxFailedBody bounds how much of a retryable error response is kept in
// case it becomes the final answer. Provider error bodies are a few hundred
// bytes.
const maxFailedBody = 64 << 10

// failoverFor says whether an answer is worth another key. Another key is
// tried only where it can honestly succeed and the upstream cannot have
// acted on the request, or the request is safe to repeat:
//
//   - 429: this key is rate limited; the request was not processed.
//   - 503 and Anthropic's 529: the upstream is overloaded and did not
//     process the request.
//   - 400, 401 or 403 that blames the key itself (KeyInvalid: Gemini
//     answers a bad key with 400): this key is bad, another may be fine.
//     Any other 401 or 403 is about the request and would fail on every key.
//   - other 5xx: the request may have been processed, so only a request the
//     provider calls safe to repeat goes to another key.
//
// Other 4xx are the request's own fault. keyInvalid is what the provider
// said of a 401's body.
func (x *exchange) failoverFor(status int, keyInvalid bool) (failoverReason, bool) {
	switch {
	case status == http.StatusTooManyRequests:
		return reasonRateLimited, true
	case status == http.StatusServiceUnavailable || status == statusOverloaded:
		return reasonServerError, true
	case keyInvalid, status == http.StatusUnauthorized:
		return reasonRejected, keyInvalid
	case status >= 500 && status <= 599:
		return reasonServerError, x.safeToRepeat()
	}
	return 0, false
}

// statusOverloaded is Anthropic's 529: overloaded, request not processed.
const statusOverloaded = 529

// retryableError says whether a transport error is worth another key: only
// when the request never left (the connection could not be made), or the
// request is safe to repeat. An error after the request was written (a
// reset, a response-header timeout) may follow a processed request.
func (x *exchange) retryableError(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return x.safeToRepeat()
}

func (x *exchange) safeToRepeat() bool { return x.prov.SafeToRepeat(x.r.Method, x.route.rest) }

// bodyJudged reports the statuses whose body is read before anything else
// happens: a 400, 401 or 403 body says whether the key is at fault
// (KeyInvalid), and a 429 body may say how long to wait (Gemini's
// RetryInfo). Error bodies are small; they are kept to answer with.
func bodyJudged(status int) bool {
	switch status {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests:
		return true
	}
	return false
}

// reportedHeader is the header the pool learns a response from: resp's own,
// except that a 429 whose headers name no wait but whose body does (Gemini
// sends google.rpc.RetryInfo and no rate-limit headers at all) gets that
// wait as Retry-After, so the key cools down exactly as long as the
// provider asked. The client still gets the headers as sent.
func reportedHeader(resp *http.Response, failed *failedResponse) http.Header {
	h := resp.Header
	if resp.StatusCode != http.StatusTooManyRequests || failed == nil ||
		provider.Header(h, "Retry-After") != "" || provider.Header(h, "Retry-After-Ms") != "" {
		return h
	}
	d, ok := provider.RetryDelay(failed.body)
	if !ok {
		return h
	}
	h = h.Clone()
	h["Retry-After"] = []string{strconv.FormatFloat(d.Seconds(), 'f', -1, 64)}
	return h
}

// failedResponse is a retryable upstream answer kept while the next key is
// tried, so that the client still gets the provider's own error if no other
// key can be acquired.
type failedResponse struct {
	status int
	header http.Header
	body   []byte
	key    string
}

// bufferFailed reads (a bounded prefix of) resp's body and closes it. Reading
// a small body to its end lets the connection go back to the pool.
func bufferFailed(resp *http.Response, key string) *failedResponse {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxFailedBody))
	_ = resp.Body.Close()
	return &failedResponse{status: resp.StatusCode, header: resp.Header, body: b, key: key}
}

// write sends the kept response to the client.
func (f *failedResponse) write(w http.ResponseWriter, prov provider.Provider, attempts int) {
	h := w.Header()
	copyResponseHeader(h, f.header, prov)
	h.Set("Content-Length", strconv.Itoa(len(f.body)))
	h[HeaderKey] = []string{f.key}
	h[HeaderAttempts] = attemptsValue(attempts)
	w.WriteHeader(f.status)
	_, _ = w.Write(f.body)
}
