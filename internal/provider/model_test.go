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
	"net/http"
	"testing"
)

// TestModel: each provider names the model where its rate limits do.
func TestModel(t *testing.T) {
	body := []byte(`{"model":"claude-haiku-4-5","messages":[{"role":"user","content":"hi"}]}`)
	cases := []struct {
		p          Provider
		path       string
		body       []byte
		want, name string
	}{
		{Anthropic, "/v1/messages", body, "claude-haiku-4-5", "anthropic body"},
		{Anthropic, "/v1/models", nil, "", "anthropic without a body"},
		{OpenAI, "/v1/chat/completions", []byte(`{"messages":[],"model":"gpt-4o-mini"}`), "gpt-4o-mini", "openai body"},
		{Azure, "/openai/deployments/gpt4o-prod/chat/completions", body, "gpt4o-prod", "azure deployment"},
		{Azure, "/openai/v1/chat/completions", []byte(`{"model":"gpt4o-prod"}`), "gpt4o-prod", "azure v1 body"},
		{Gemini, "/v1beta/models/gemini-2.5-flash:generateContent", body, "gemini-2.5-flash", "gemini path"},
		{Gemini, "/v1beta/models/gemini-2.5-pro", nil, "gemini-2.5-pro", "gemini model get"},
		{Gemini, "/v1beta/files", nil, "", "gemini without a model"},
	}
	for _, c := range cases {
		f := c.p.ReadRequest(http.MethodPost, c.path, c.body)
		if got := c.p.Model(c.path, &f); got != c.want {
			t.Errorf("%s: Model = %q, want %q", c.name, got, c.want)
		}
	}
}
