package proxy

import (
	"net/http"
	"testing"
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
	}
	out := outboundHeader(in)
	want := http.Header{
		"Anthropic-Version":   {"2023-06-01"},
		"Openai-Organization": {"org-1"},
		"X-Stainless-Lang":    {"go"},
		"User-Agent":          {""}, // none from the client: none upstream either
	}
	if len(out) != len(want) {
		t.Fatalf("got %v, want %v", out, want)
	}
	for k, v := range want {
		if got := out[k]; len(got) != 1 || got[0] != v[0] {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}

	dst := http.Header{}
	copyResponseHeader(dst, http.Header{"Connection": {"X-Hop"}, "X-Hop": {"1"}, "Transfer-Encoding": {"chunked"}, "Request-Id": {"r"}})
	if len(dst) != 1 || dst.Get("Request-Id") != "r" {
		t.Errorf("response header %v", dst)
	}
}
