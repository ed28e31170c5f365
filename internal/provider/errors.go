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

package provider

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// Error is a condition the proxy answers by itself, without an upstream
// answer to pass on. Each provider renders it in its own error shape.
type Error uint8

const (
	// ErrNotFound: no such route or pool (404).
	ErrNotFound Error = iota + 1
	// ErrUnauthorized: no valid client token (401).
	ErrUnauthorized
	// ErrTooLarge: the request body is over the proxy's limit (413).
	ErrTooLarge
	// ErrRateLimited: no key has capacity before the wait ends (429).
	ErrRateLimited
	// ErrBadGateway: the upstream could not be reached or broke off (502).
	ErrBadGateway
	// ErrUnavailable: the pool cannot serve at all (503).
	ErrUnavailable
	// ErrBadRequest: the request could not be read (400).
	ErrBadRequest
	// ErrRequestTimeout: the client sent its body too slowly (408).
	ErrRequestTimeout
)

// Status is the HTTP status the proxy answers e with.
func (e Error) Status() int {
	switch e {
	case ErrNotFound:
		return http.StatusNotFound
	case ErrUnauthorized:
		return http.StatusUnauthorized
	case ErrTooLarge:
		return http.StatusRequestEntityTooLarge
	case ErrRateLimited:
		return http.StatusTooManyRequests
	case ErrBadGateway:
		return http.StatusBadGateway
	case ErrUnavailable:
		return http.StatusServiceUnavailable
	case ErrRequestTimeout:
		return http.StatusRequestTimeout
	default:
		return http.StatusBadRequest
	}
}

// WriteJSON answers with status and v encoded as JSON, with an exact
// Content-Length: the body shape of every provider's errors.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil { // cannot happen for the error shapes of this package
		body = []byte(`{}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// errorName returns names[e], or the bad-request name for an Error outside
// the table.
func errorName(names []string, e Error) string {
	if int(e) < len(names) && names[e] != "" {
		return names[e]
	}
	return names[ErrBadRequest]
}
