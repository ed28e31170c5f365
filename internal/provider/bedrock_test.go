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
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keypool-dev/keypool-operator/internal/clock"
	"github.com/keypool-dev/keypool-operator/internal/fakeprovider"
)

// invoke sends one InvokeModel request through Bedrock's Authenticate for
// cred to srv, and returns the status and body.
func invoke(t *testing.T, srv *httptest.Server, cred string) (int, string) {
	t.Helper()
	body := `{"anthropic_version":"bedrock-2023-05-31","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost,
		srv.URL+"/model/anthropic.claude-sonnet-4-5-v1:0/invoke", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := Bedrock.Authenticate(http.DefaultTransport, cred).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestBedrockSignatureIsVerified: the fake checks every SigV4 signature
// with the AWS SDK's signer; only the right secret for the right region
// passes, and a refused credential is one KeyInvalid blames. A Bedrock API
// key goes as a bearer token. An entry that is no credential is refused
// without a request, in a message that holds nothing of it.
func TestBedrockSignatureIsVerified(t *testing.T) {
	fake := fakeprovider.New(fakeprovider.Config{Keys: []fakeprovider.Key{
		{Key: "AKIAEXAMPLE", Org: "a", Secret: "the-secret", Region: "eu-west-1"},
		{Key: "ABSKapikey", Org: "b"},
	}})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	for _, tc := range []struct {
		name, cred string
		want       int
	}{
		{"right secret and region", `{"accessKeyId":"AKIAEXAMPLE","secretAccessKey":"the-secret","region":"eu-west-1"}`, http.StatusOK},
		{"wrong secret", `{"accessKeyId":"AKIAEXAMPLE","secretAccessKey":"not-it","region":"eu-west-1"}`, http.StatusForbidden},
		{"wrong region", `{"accessKeyId":"AKIAEXAMPLE","secretAccessKey":"the-secret","region":"us-east-1"}`, http.StatusForbidden},
		{"unknown key", `{"accessKeyId":"AKIAOTHER","secretAccessKey":"the-secret","region":"eu-west-1"}`, http.StatusForbidden},
		{"API key", `ABSKapikey`, http.StatusOK},
		{"API key as JSON", `{"apiKey":"ABSKapikey"}`, http.StatusOK},
		{"wrong API key", `ABSKother`, http.StatusForbidden},
		{"neither", `{"region":"eu-west-1","secretAccessKey":"half-a-pair"}`, http.StatusForbidden},
		{"both", `{"accessKeyId":"AKIAEXAMPLE","secretAccessKey":"the-secret","apiKey":"ABSKapikey"}`, http.StatusForbidden},
		{"bad region", `{"accessKeyId":"AKIAEXAMPLE","secretAccessKey":"the-secret","region":"evil.com/x"}`, http.StatusForbidden},
	} {
		status, body := invoke(t, srv, tc.cred)
		if status != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, status, body, tc.want)
			continue
		}
		if status != http.StatusOK && !Bedrock.KeyInvalid(status, []byte(body)) {
			t.Errorf("%s: KeyInvalid(%d, %s) = false", tc.name, status, body)
		}
		if strings.Contains(body, "half-a-pair") || strings.Contains(body, "the-secret") {
			t.Errorf("%s: the answer holds the credential: %s", tc.name, body)
		}
	}
	// A signature made by a clock 10 minutes off is refused as AWS refuses
	// it, which blames the clock, not the credential.
	ahead := fakeprovider.New(fakeprovider.Config{Clock: clock.NewFake(time.Now().Add(10 * time.Minute)),
		Keys: []fakeprovider.Key{{Key: "AKIAEXAMPLE", Org: "a", Secret: "the-secret"}}})
	skewed := httptest.NewServer(ahead)
	defer skewed.Close()
	if status, body := invoke(t, skewed, `{"accessKeyId":"AKIAEXAMPLE","secretAccessKey":"the-secret"}`); status != http.StatusForbidden ||
		!strings.Contains(body, "Signature expired") || Bedrock.KeyInvalid(status, []byte(body)) {
		t.Errorf("a skewed clock: %d %s", status, body)
	}

	// A model this account may not use blames nothing.
	if Bedrock.KeyInvalid(http.StatusForbidden, []byte(`{"message":"You don't have access to the model with the specified model ID."}`)) {
		t.Error("a model's AccessDeniedException blamed the credential")
	}
}

// TestBedrockQuotaExceededIsThrottling: ServiceQuotaExceededException is a
// 400 to AWS and a spent limit to the pool: the RoundTripper makes it the 429
// it means, keeping its type for the client.
func TestBedrockQuotaExceededIsThrottling(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Amzn-ErrorType", "ServiceQuotaExceededException:http://internal.amazon.com/coral/com.amazon.bedrock/")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"message":"Your request exceeds the service quota for your account."}`)
	}))
	defer srv.Close()
	status, _ := invoke(t, srv, `ABSKapikey`)
	if status != http.StatusTooManyRequests {
		t.Errorf("status %d, want 429", status)
	}
}

// TestBedrockOfficialHostFollowsRegion: a request for an official host goes
// to the credential's region, the listings to the control plane; any other
// host (a gateway, the fake) stays.
func TestBedrockOfficialHostFollowsRegion(t *testing.T) {
	for _, tc := range []struct{ host, region, path, want string }{
		{"bedrock-runtime.us-east-1.amazonaws.com", "eu-west-1", "/model/m/invoke", "bedrock-runtime.eu-west-1.amazonaws.com"},
		{"bedrock-runtime.us-east-1.amazonaws.com", "us-east-1", "/foundation-models", "bedrock.us-east-1.amazonaws.com"},
		{"bedrock.ap-south-1.amazonaws.com", "ap-south-1", "/model/m/converse", "bedrock-runtime.ap-south-1.amazonaws.com"},
		{"gateway.example.com", "eu-west-1", "/model/m/invoke", ""},
		{"bedrock-runtime.evil.example.amazonaws.com", "eu-west-1", "/model/m/invoke", ""},
	} {
		got, ok := bedrockHost(tc.host, tc.region, tc.path)
		if ok != (tc.want != "") || got != tc.want {
			t.Errorf("bedrockHost(%s, %s, %s) = %q, %v; want %q", tc.host, tc.region, tc.path, got, ok, tc.want)
		}
	}
	a := newBedrockAuth(nil, `ABSKkey`)
	if r := a.region("bedrock-runtime.eu-central-1.amazonaws.com"); r != "eu-central-1" {
		t.Errorf("a credential without a region signs for %s on an eu-central-1 host", r)
	}
	if u, ok := RegionalUpstream(Bedrock, "eu-west-1"); !ok || u != "https://bedrock-runtime.eu-west-1.amazonaws.com" {
		t.Errorf("RegionalUpstream = %s, %v", u, ok)
	}
}

func TestCloudModels(t *testing.T) {
	for _, tc := range []struct {
		p          Provider
		path, want string
	}{
		{Bedrock, "/model/us.anthropic.claude-opus-5-5/invoke-with-response-stream", "us.anthropic.claude-opus-5-5"},
		{Bedrock, "/model/anthropic.claude-sonnet-4-5-v1:0/converse", "anthropic.claude-sonnet-4-5-v1:0"},
		{Bedrock, "/inference-profiles", ""},
		{Vertex, "/v1/projects/p/locations/us-east5/publishers/anthropic/models/claude-opus-5-5:streamRawPredict", "claude-opus-5-5"},
		{Vertex, "/v1beta1/projects/p/locations/global/publishers/google/models/gemini-2.5-pro:generateContent", "gemini-2.5-pro"},
		{Vertex, "/v1beta1/publishers/google/models", ""},
	} {
		if got := tc.p.Model(tc.path, &RequestFacts{}); got != tc.want {
			t.Errorf("%s Model(%s) = %q, want %q", tc.p.Name(), tc.path, got, tc.want)
		}
	}
}
