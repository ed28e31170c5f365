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
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/keypool-dev/keypool-operator/internal/provider"
)

// anthropicError is Anthropic's error body; other providers' bodies are
// read into it for their error type and message.
type anthropicError struct {
	Type  string `json:"type"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

// WantAnthropicError fails t unless body is an Anthropic error of type typ
// with a message.
func WantAnthropicError(t TB, body, typ string) {
	t.Helper()
	var v anthropicError
	if err := json.Unmarshal([]byte(body), &v); err != nil || v.Type != "error" || v.Error.Type != typ || v.Error.Message == "" {
		t.Fatalf("want Anthropic error %s, got %s (%v)", typ, body, err)
	}
}

// WantOpenAIError fails t unless body is an OpenAI error of type typ and
// code code, with a message and "param": null.
func WantOpenAIError(t TB, body, typ, code string) {
	t.Helper()
	var v struct {
		Error map[string]any `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil || v.Error["type"] != typ || v.Error["code"] != code ||
		v.Error["message"] == "" {
		t.Fatalf("want OpenAI error %s/%s, got %s (%v)", typ, code, body, err)
	}
	if p, ok := v.Error["param"]; !ok || p != nil {
		t.Fatalf("want param: null, got %s", body)
	}
}

// WellFormedError reports why a response is not a JSON error in p's shape
// (any type): for harnesses that count rather than fail.
func WellFormedError(p provider.Provider, h http.Header, body []byte) error {
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("content type %q", ct)
	}
	var v anthropicError
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if v.Error.Type == "" || v.Error.Message == "" {
		return errors.New("no error type or message")
	}
	if p == provider.Anthropic && v.Type != "error" {
		return errors.New(`no "type":"error"`)
	}
	return nil
}

// TB is the part of testing.TB the checks use.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}
