package proxy

import (
	"io"
	"net/http"
	"strconv"

	"github.com/keypool-dev/keypool-operator/internal/provider"
)

// maxFailedBody bounds how much of a retryable error response is kept in
// case it becomes the final answer. Provider error bodies are a few hundred
// bytes.
const maxFailedBody = 64 << 10

// failoverReasonFor says whether a response status is worth another key:
// 429 (this key is rate limited), 401/403 (this key is revoked or lacks
// access) and 5xx including Anthropic's 529 overloaded (this attempt failed;
// another key may land elsewhere). Other 4xx are the request's own fault and
// would fail on every key.
func failoverReasonFor(status int) (failoverReason, bool) {
	switch {
	case status == http.StatusTooManyRequests:
		return reasonRateLimited, true
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return reasonRejected, true
	case status >= 500 && status <= 599:
		return reasonServerError, true
	}
	return 0, false
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
