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
	"net/http"
	"testing"

	"github.com/keypool-dev/keypool-operator/internal/provider"
)

func TestOutboundHeader(t *testing.T) {
	in := http.Header{
		"Connection":          {"keep-alive, X-Listed"},
		"X-Listed":            {"1"},
		"Keep-Alive":          {"timeout=5"},
		"Proxy-Authorization": {"Basic x"},
		"Te":                  {"trailers"},
		"Transfer-Encoding":   {"chunked"},
		"Upgrade":             {"websocket"},
		"Expect":              {"100-continue"},
		"Accept-Encoding":     {"gzip"},
		"Authorization":       {"Bearer client"},
		"X-Api-Key":           {"client"},
		"Content-Length":      {"12"},
		"Anthropic-Version":   {"2023-06-01"},
		"Openai-Organization": {"org-1"},
		"X-Stainless-Lang":    {"go"},
		"X-Forwarded-For":     {"169.254.169.254"},
		"Metadata-Flavor":     {"Google"},
		"Cookie":              {"session=1"},
	}
	out := outboundHeader(in, provider.Anthropic)
	want := http.Header{
		"Anthropic-Version": {"2023-06-01"},
		"X-Stainless-Lang":  {"go"},
		"User-Agent":        {""}, // none from the client: none upstream either
	}
	if len(out) != len(want) {
		t.Fatalf("got %v, want %v", out, want)
	}
	for k, v := range want {
		if got := out[k]; len(got) != 1 || got[0] != v[0] {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}

	// OpenAI-Organization is the client's choice of account for the pool's
	// key: dropped for OpenAI too, so a mismatch cannot make a key look bad.
	if out := outboundHeader(in, provider.OpenAI); out.Get("Openai-Organization") != "" || out.Get("X-Stainless-Lang") != "go" {
		t.Errorf("openai: %v", out)
	}
}

func TestCopyResponseHeader(t *testing.T) {
	src := http.Header{
		"Connection": {"X-Should-Retry"}, "X-Should-Retry": {"true"}, "Transfer-Encoding": {"chunked"},
		"Request-Id": {"r"}, "Content-Type": {"application/json"}, "Set-Cookie": {"a=b"},
		"Anthropic-Organization-Id": {"org"}, "Anthropic-Ratelimit-Requests-Remaining": {"3"},
		"Openai-Organization": {"org"}, "Openai-Project": {"p"}, "Date": {"Sat, 28 Nov 2026 15:00:30 GMT"},
	}
	const date = "Sat, 28 Nov 2026 15:00:30 GMT" // passed on: net/http then writes no date of its own
	dst := http.Header{}
	copyResponseHeader(dst, src, provider.Anthropic)
	if len(dst) != 3 || dst.Get("Request-Id") != "r" || dst.Get("Content-Type") != "application/json" || dst.Get("Date") != date {
		t.Errorf("anthropic response header %v", dst)
	}
	dst = http.Header{}
	copyResponseHeader(dst, src, provider.OpenAI)
	if len(dst) != 2 || dst.Get("Content-Type") != "application/json" || dst.Get("Date") != date {
		t.Errorf("openai response header %v", dst)
	}
}
