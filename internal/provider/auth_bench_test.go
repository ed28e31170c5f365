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
	"io"
	"net/http"
	"strings"
	"testing"
)

// answered is a RoundTripper that answers at once, so a benchmark times the
// credential's own work.
type answered struct{}

func (answered) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
}

// BenchmarkAuthenticate: what a credential costs an attempt with a 4 KiB
// body: a header (Anthropic), a Bedrock API key (a header too) and SigV4
// (the body hashed and the request signed).
func BenchmarkAuthenticate(b *testing.B) {
	body := strings.Repeat("x", 4<<10)
	for _, tc := range []struct {
		name string
		p    Provider
		cred string
	}{
		{"anthropic-header", Anthropic, "sk-ant-key"},
		{"bedrock-api-key", Bedrock, "ABSKkey"},
		{"bedrock-sigv4", Bedrock, `{"accessKeyId":"AKIAEXAMPLE","secretAccessKey":"secret","region":"us-east-1"}`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			rt := tc.p.Authenticate(answered{}, tc.cred)
			b.ReportAllocs()
			for b.Loop() {
				r, _ := http.NewRequest(http.MethodPost, "https://bedrock-runtime.us-east-1.amazonaws.com/model/m/invoke", strings.NewReader(body))
				resp, err := rt.RoundTrip(r)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
			}
		})
	}
}
