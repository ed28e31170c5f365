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
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go/auth/bearer"

	"github.com/keypool-dev/keypool-operator/internal/fakeprovider"
	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/provider"
	"github.com/keypool-dev/keypool-operator/internal/proxytest"
)

// bedrockPool is a Bedrock pool of three credentials, tiered keys/k1 first:
// an access key pair of us-east-1 with token limits, one of eu-west-1, and
// a Bedrock API key, each an account of its own at the fake, which checks
// every signature with the AWS SDK's signer (the secret and the region).
func bedrockPool(t *testing.T) (*env, []string) {
	t.Helper()
	fake := fakeprovider.New(fakeprovider.Config{Keys: []fakeprovider.Key{
		{Key: "AKIAFAKE1", Org: "acct-1", Secret: "secret-one-0123456789"},
		{Key: "AKIAFAKE2", Org: "acct-2", Secret: "secret-two-0123456789", Region: "eu-west-1"},
		{Key: "ABSKfake-api-key-3", Org: "acct-3"},
	}})
	t.Cleanup(fake.ReleaseStreams)
	values := []string{
		`{"accessKeyId":"AKIAFAKE1","secretAccessKey":"secret-one-0123456789"}`,
		`{"accessKeyId":"AKIAFAKE2","secretAccessKey":"secret-two-0123456789","region":"eu-west-1"}`,
		`{"apiKey":"ABSKfake-api-key-3","region":"us-west-2"}`,
	}
	keys := proxytest.Keys(values, true)
	keys[0].ITPMLimit, keys[0].OTPMLimit = tokenLimit, tokenLimit
	secrets := []string{clientToken, "secret-one-0123456789", "secret-two-0123456789", "ABSKfake-api-key-3"}
	e := newEnv(t, envConfig{provider: provider.Bedrock, keys: keys, upstream: fake, logger: proxytest.Logger(t, secrets...)})
	e.fake = fake
	return e, secrets
}

// bedrockClient is the AWS SDK's Bedrock runtime client as a service would
// configure it for the pool: the pool's endpoint and the client token as a
// Bedrock API key. The SDK sends a bearer token over HTTPS only: it is
// given an https endpoint, which the test's transport sends over the test
// server's plain HTTP.
func bedrockClient(e *env) *bedrockruntime.Client {
	return bedrockruntime.New(bedrockruntime.Options{
		Region:                  "us-east-1",
		BaseEndpoint:            aws.String(strings.Replace(e.base, "http://", "https://", 1)),
		HTTPClient:              &http.Client{Transport: plainHTTP{}},
		BearerAuthTokenProvider: bearer.StaticTokenProvider{Token: bearer.Token{Value: clientToken}},
		AuthSchemePreference:    []string{"httpBearerAuth"},
		Retryer:                 aws.NopRetryer{},
	})
}

// plainHTTP sends an https request as http.
type plainHTTP struct{}

func (plainHTTP) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme = "http"
	return http.DefaultTransport.RoundTrip(r)
}

const bedrockModel = "us.anthropic.claude-sonnet-4-5-v1:0"

func invokeBody(prompt string) []byte {
	b, _ := json.Marshal(map[string]any{
		"anthropic_version": "bedrock-2023-05-31", "max_tokens": 1024,
		"messages": []map[string]any{{"role": "user", "content": prompt}},
	})
	return b
}

// TestBedrockSDKThroughPool: the AWS SDK's InvokeModel,
// InvokeModelWithResponseStream, Converse and ConverseStream through a pool
// of three credentials: answers intact (the event stream decoded by the
// SDK as sent), the usage the pool settled equal to what the fake charged,
// a throttled credential failed over before the client sees it, a revoked
// one retired after its re-check, and no secret in any log line.
func TestBedrockSDKThroughPool(t *testing.T) {
	e, _ := bedrockPool(t)
	c := bedrockClient(e)
	ctx := t.Context()

	out, err := c.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{
		ModelId: aws.String(bedrockModel), ContentType: aws.String("application/json"), Body: invokeBody("a story [[output_tokens=40]]"),
	})
	if err != nil {
		t.Fatal(err)
	}
	var msg struct {
		Content []struct{ Text string } `json:"content"`
		Usage   struct {
			InputTokens  int64 `json:"input_tokens"`
			OutputTokens int64 `json:"output_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(out.Body, &msg); err != nil || len(msg.Content) != 1 || msg.Usage.OutputTokens != 40 {
		t.Fatalf("InvokeModel answered %s (%v)", out.Body, err)
	}

	stream, err := c.InvokeModelWithResponseStream(ctx, &bedrockruntime.InvokeModelWithResponseStreamInput{
		ModelId: aws.String(bedrockModel), ContentType: aws.String("application/json"), Body: invokeBody("a story [[output_tokens=40]]"),
	})
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	var metrics bool
	for ev := range stream.GetStream().Events() {
		chunk, ok := ev.(*types.ResponseStreamMemberChunk)
		if !ok {
			t.Fatalf("event %T", ev)
		}
		var part struct {
			Type  string `json:"type"`
			Delta struct {
				Text string `json:"text"`
			} `json:"delta"`
			Metrics *struct {
				OutputTokenCount int64 `json:"outputTokenCount"`
			} `json:"amazon-bedrock-invocationMetrics"`
		}
		if err := json.Unmarshal(chunk.Value.Bytes, &part); err != nil {
			t.Fatal(err)
		}
		text.WriteString(part.Delta.Text)
		metrics = metrics || (part.Metrics != nil && part.Metrics.OutputTokenCount == 40)
	}
	if err := stream.GetStream().Err(); err != nil || text.String() != msg.Content[0].Text || !metrics {
		t.Fatalf("stream: %q (metrics %v), %v; want %q", text.String(), metrics, err, msg.Content[0].Text)
	}

	conv, err := c.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String(bedrockModel), Messages: []types.Message{{
		Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "a story [[output_tokens=24]]"}},
	}}})
	if err != nil || aws.ToInt32(conv.Usage.OutputTokens) != 24 {
		t.Fatalf("Converse: %+v, %v", conv, err)
	}
	cs, err := c.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{ModelId: aws.String(bedrockModel), Messages: []types.Message{{
		Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "a story [[output_tokens=24]]"}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	var streamed int32
	for ev := range cs.GetStream().Events() {
		if m, ok := ev.(*types.ConverseStreamOutputMemberMetadata); ok {
			streamed = aws.ToInt32(m.Value.Usage.OutputTokens)
		}
	}
	if err := cs.GetStream().Err(); err != nil || streamed != 24 {
		t.Fatalf("ConverseStream: %d output tokens, %v", streamed, err)
	}

	// What the pool settled on keys/k1 is what the fake charged AKIAFAKE1.
	e.waitIdle()
	charged := e.fake.Stats().Keys["AKIAFAKE1"]
	ks := e.keyStats("keys/k1")
	if charged.OK != 4 || charged.OutputTokens != 128 || ks.OTPMRemaining != tokenLimit-charged.OutputTokens ||
		ks.ITPMRemaining != tokenLimit-charged.InputTokens {
		t.Errorf("fake charged %+v; pool has ITPM %d, OTPM %d remaining", charged, ks.ITPMRemaining, ks.OTPMRemaining)
	}

	// A throttled credential: the client never sees the 429, the next
	// credential (another region's) serves.
	if err := e.fake.SetFault(fakeprovider.Fault{Kind: fakeprovider.FaultRateLimit, Key: "AKIAFAKE1", Count: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(bedrockModel), Body: invokeBody("hi")}); err != nil {
		t.Fatalf("the client saw the throttled credential: %v", err)
	}
	if s := e.fake.Stats().Keys; s["AKIAFAKE1"].RateLimited != 1 || s["AKIAFAKE2"].OK != 1 {
		t.Errorf("fake saw %+v", s)
	}

	// A revoked credential: retired after its re-check, the request served
	// by the API key.
	if err := e.fake.RevokeKey("AKIAFAKE2"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(bedrockModel), Body: invokeBody("hi")}); err != nil {
		t.Fatalf("the client saw the revoked credential: %v", err)
	}
	e.proxy.checks.Wait()
	if s := e.keyStats("keys/k2").State; s != keypool.StateRejected {
		t.Errorf("keys/k2 is %s, want Rejected", s)
	}
	if s := e.fake.Stats().Keys["ABSKfake-api-key-3"]; s.OK != 1 {
		t.Errorf("the API key served %d requests, want 1", s.OK)
	}
	e.waitIdle()
}
