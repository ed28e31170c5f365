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
	"fmt"
	"net/http"
	"testing"

	"github.com/keypool-dev/keypool-operator/internal/provider"
)

// fatalRecorder is a TB that records Fatalf instead of stopping.
type fatalRecorder struct{ failed string }

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

func TestErrorShapeChecks(t *testing.T) {
	anth := `{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`
	oai := `{"error":{"type":"requests","code":"rate_limit_exceeded","message":"slow down","param":null}}`
	for _, tc := range []struct {
		name  string
		check func(TB)
		fails bool
	}{
		{"anthropic ok", func(tb TB) { WantAnthropicError(tb, anth, "rate_limit_error") }, false},
		{"anthropic wrong type", func(tb TB) { WantAnthropicError(tb, anth, "overloaded_error") }, true},
		{"anthropic given openai", func(tb TB) { WantAnthropicError(tb, oai, "requests") }, true},
		{"openai ok", func(tb TB) { WantOpenAIError(tb, oai, "requests", "rate_limit_exceeded") }, false},
		{"openai wrong code", func(tb TB) { WantOpenAIError(tb, oai, "requests", "x") }, true},
		{"openai without param", func(tb TB) {
			WantOpenAIError(tb, `{"error":{"type":"t","code":"c","message":"m"}}`, "t", "c")
		}, true},
	} {
		r := &fatalRecorder{}
		tc.check(r)
		if (r.failed != "") != tc.fails {
			t.Errorf("%s: failed=%q, want failure %t", tc.name, r.failed, tc.fails)
		}
	}
	js := http.Header{"Content-Type": {"application/json"}}
	if err := WellFormedError(provider.Anthropic, js, []byte(anth)); err != nil {
		t.Errorf("anthropic error rejected: %v", err)
	}
	if err := WellFormedError(provider.OpenAI, js, []byte(oai)); err != nil {
		t.Errorf("openai error rejected: %v", err)
	}
	if WellFormedError(provider.Anthropic, js, []byte(oai)) == nil {
		t.Error(`an error without "type":"error" passed as Anthropic's`)
	}
	if WellFormedError(provider.OpenAI, http.Header{"Content-Type": {"text/plain"}}, []byte(oai)) == nil {
		t.Error("a text/plain error passed")
	}
}
