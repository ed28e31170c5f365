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

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/auth"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go/auth/bearer"
	"google.golang.org/genai"

	"github.com/keypool-dev/keypool-operator/internal/apitest"
)

// The cloud credentials the fake knows (cloudFakeKeys, part of fakeKeys):
// two AWS access key pairs of two regions and a Bedrock API key; three
// Vertex service accounts of three projects, whose keys the fake makes.
const (
	awsSecret1   = "e2e-aws-secret-canary-1"
	awsSecret2   = "e2e-aws-secret-canary-2"
	bedrockKey3  = "e2e-bedrock-api-key-canary-3"
	cloudFakeKey = "E2EAKIA1:" + awsSecret1 + ":us-east-1=org-br1,E2EAKIA2:" + awsSecret2 + ":eu-west-1=org-br2," +
		bedrockKey3 + "=org-br3,sa-1@e2e-1.iam.gserviceaccount.com=org-vx1,sa-2@e2e-2.iam.gserviceaccount.com=org-vx2," +
		"sa-3@e2e-3.iam.gserviceaccount.com=org-vx3"
)

const bedrockManifests = `
apiVersion: v1
kind: Secret
metadata: {name: br-keys, namespace: e2e, labels: {llm.keypool.dev/secret-type: provider-keys}}
stringData:
  one: '{"accessKeyId":"E2EAKIA1","secretAccessKey":"` + awsSecret1 + `"}'
  two: '{"accessKeyId":"E2EAKIA2","secretAccessKey":"` + awsSecret2 + `","region":"eu-west-1"}'
  three: '{"apiKey":"` + bedrockKey3 + `"}'
---
apiVersion: llm.keypool.dev/v1alpha1
kind: KeyPool
metadata: {name: br, namespace: e2e}
spec:
  provider: bedrock
  upstream: FAKE
  keys: [{secretRef: {name: br-keys}, rpmLimit: 600, itpmLimit: 100000, otpmLimit: 100000}]
  clientAuth: {secretRef: {name: clients}}
`

const vertexManifests = `
apiVersion: llm.keypool.dev/v1alpha1
kind: KeyPool
metadata: {name: vx, namespace: e2e}
spec:
  provider: vertex
  upstream: FAKE
  keys: [{secretRef: {name: vx-keys}, rpmLimit: 600, itpmLimit: 100000, otpmLimit: 100000}]
  clientAuth: {secretRef: {name: clients}}
`

// applyReady applies manifests (FAKE: the fake's URL) and waits for pool.
func (c *cluster) applyReady(t *testing.T, manifests, pool string) {
	t.Helper()
	if _, err := c.kubectl.Run(strings.ReplaceAll(manifests, "FAKE", c.fakeURL), "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.kubectl.Run("", "wait", "-n", namespace, "--for=condition=Ready", "keypool/"+pool, "--timeout=60s"); err != nil {
		t.Fatal(err)
	}
}

// headerKeeper is an https-to-http transport that keeps the last
// response: the AWS SDK sends a bearer token over HTTPS only, and the proxy
// listens on loopback HTTP in this test.
type headerKeeper struct{ last **http.Response }

func (k headerKeeper) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme = "http"
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		*k.last = resp
	}
	return resp, err
}

func invokeBody(prompt string) []byte {
	b, _ := json.Marshal(map[string]any{
		"anthropic_version": "bedrock-2023-05-31", "max_tokens": 256,
		"messages": []map[string]any{{"role": "user", "content": prompt}},
	})
	return b
}

// bedrockSDK: the AWS SDK's bedrockruntime client through a pool of three
// credentials (SigV4 key pairs of two regions, verified by the fake, and a
// Bedrock API key): InvokeModel and its event stream, Converse and
// ConverseStream, usage counted as the SDK saw it, a throttled credential
// failed over unseen, a revoked one retired.
func (c *cluster) bedrockSDK(t *testing.T) {
	c.applyReady(t, bedrockManifests, "br")
	var last *http.Response
	client := bedrockruntime.New(bedrockruntime.Options{
		Region:                  "us-east-1",
		BaseEndpoint:            aws.String(strings.Replace(c.proxyURL, "http://", "https://", 1) + "/pools/e2e/br"),
		HTTPClient:              &http.Client{Transport: headerKeeper{&last}},
		BearerAuthTokenProvider: bearer.StaticTokenProvider{Token: bearer.Token{Value: clientToken}},
		AuthSchemePreference:    []string{"httpBearerAuth"},
		Retryer:                 aws.NopRetryer{},
	})
	ctx := context.Background()
	model := aws.String("us.anthropic.claude-sonnet-4-5-v1:0")
	var in, out int64
	invoke := func() *http.Response {
		t.Helper()
		res, err := client.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: model, Body: invokeBody("Say hello to the key pool.")})
		if err != nil {
			t.Fatal(err)
		}
		var msg struct {
			Content []struct{ Text string }
			Usage   struct {
				InputTokens  int64 `json:"input_tokens"`
				OutputTokens int64 `json:"output_tokens"`
			}
		}
		if err := json.Unmarshal(res.Body, &msg); err != nil || len(msg.Content) != 1 || msg.Usage.OutputTokens == 0 ||
			!strings.HasPrefix(last.Header.Get("X-Keypool-Key"), "br-keys/") {
			t.Fatalf("InvokeModel: %s, key %q (%v)", res.Body, last.Header.Get("X-Keypool-Key"), err)
		}
		in, out = in+msg.Usage.InputTokens, out+msg.Usage.OutputTokens
		return last
	}
	invoke()

	stream, err := client.InvokeModelWithResponseStream(ctx, &bedrockruntime.InvokeModelWithResponseStreamInput{
		ModelId: model, Body: invokeBody("Say hello to the key pool.")})
	if err != nil {
		t.Fatal(err)
	}
	var metrics struct{ In, Out int64 }
	for ev := range stream.GetStream().Events() {
		var part struct {
			M *struct {
				In  int64 `json:"inputTokenCount"`
				Out int64 `json:"outputTokenCount"`
			} `json:"amazon-bedrock-invocationMetrics"`
		}
		if chunk, ok := ev.(*types.ResponseStreamMemberChunk); ok && json.Unmarshal(chunk.Value.Bytes, &part) == nil && part.M != nil {
			metrics.In, metrics.Out = part.M.In, part.M.Out
		}
	}
	if err := stream.GetStream().Err(); err != nil || metrics.Out == 0 {
		t.Fatalf("InvokeModelWithResponseStream: metrics %+v, %v", metrics, err)
	}
	in, out = in+metrics.In, out+metrics.Out

	msgs := []types.Message{{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "Say hello."}}}}
	conv, err := client.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: model, Messages: msgs})
	if err != nil {
		t.Fatal(err)
	}
	in, out = in+int64(aws.ToInt32(conv.Usage.InputTokens)), out+int64(aws.ToInt32(conv.Usage.OutputTokens))
	cs, err := client.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{ModelId: model, Messages: msgs})
	if err != nil {
		t.Fatal(err)
	}
	var usage *types.TokenUsage
	for ev := range cs.GetStream().Events() {
		if m, ok := ev.(*types.ConverseStreamOutputMemberMetadata); ok {
			usage = m.Value.Usage
		}
	}
	if err := cs.GetStream().Err(); err != nil || usage == nil {
		t.Fatalf("ConverseStream: usage %v, %v", usage, err)
	}
	in, out = in+int64(aws.ToInt32(usage.InputTokens)), out+int64(aws.ToInt32(usage.OutputTokens))
	c.wantTokens(t, "br", in, out)

	c.cloudFailover(t, "br", "br-keys/", invoke)
	c.cloudRevoked(t, "br", "br-keys/two", "E2EAKIA2", func() { invoke() })
}

// vertexAPIs: Claude on Vertex (:rawPredict and :streamRawPredict, as
// Claude Code sends them, the client's project and region in the path) and
// Gemini on Vertex through genai in Vertex mode, over a pool of three
// service accounts whose tokens come from the fake's token endpoint.
func (c *cluster) vertexAPIs(t *testing.T) {
	args := []string{"create", "secret", "generic", "vx-keys", "-n", namespace}
	for i, name := range []string{"one", "two", "three"} {
		q := url.Values{"email": {fmt.Sprintf("sa-%d@e2e-%d.iam.gserviceaccount.com", i+1, i+1)},
			"project": {fmt.Sprintf("e2e-%d", i+1)}, "token_url": {c.fakeURL + "/token"}}
		resp, err := http.Post(c.fakeURL+"/_fake/service-accounts?"+q.Encode(), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		key, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		args = append(args, "--from-literal="+name+"="+string(key))
	}
	if _, err := c.kubectl.Run("", args...); err != nil {
		t.Fatal(err)
	}
	if _, err := c.kubectl.Run("", "label", "secret", "vx-keys", "-n", namespace, "llm.keypool.dev/secret-type=provider-keys"); err != nil {
		t.Fatal(err)
	}
	c.applyReady(t, vertexManifests, "vx")

	var in, out int64
	claude := func(stream bool) *http.Response {
		t.Helper()
		method := ":rawPredict"
		if stream {
			method = ":streamRawPredict"
		}
		body, _ := json.Marshal(map[string]any{"anthropic_version": "vertex-2023-10-16", "max_tokens": 256, "stream": stream,
			"messages": []map[string]any{{"role": "user", "content": "Say hello to the key pool."}}})
		req, _ := http.NewRequest(http.MethodPost, c.proxyURL+"/pools/e2e/vx/v1/projects/my-laptop-project/locations/us-east5"+
			"/publishers/anthropic/models/claude-sonnet-4-5"+method, strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer "+clientToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var usage struct {
			In  int64 `json:"input_tokens"`
			Out int64 `json:"output_tokens"`
		}
		if !stream {
			var raw struct {
				Usage struct {
					In  int64 `json:"input_tokens"`
					Out int64 `json:"output_tokens"`
				} `json:"usage"`
			}
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &raw) != nil || raw.Usage.Out == 0 {
				t.Fatalf("rawPredict: %d %s", resp.StatusCode, b)
			}
			usage.In, usage.Out = raw.Usage.In, raw.Usage.Out
		} else {
			sse := apitest.NewSSEReader(resp.Body)
			for {
				ev, err := sse.Next()
				if err != nil {
					break
				}
				_, data, _ := strings.Cut(ev, "data: ")
				var e struct {
					Message *struct {
						Usage struct {
							In int64 `json:"input_tokens"`
						} `json:"usage"`
					} `json:"message"`
					Usage *struct {
						Out int64 `json:"output_tokens"`
					} `json:"usage"`
				}
				_ = json.Unmarshal([]byte(data), &e)
				if e.Message != nil {
					usage.In = e.Message.Usage.In
				}
				if e.Usage != nil {
					usage.Out = e.Usage.Out
				}
			}
			if resp.StatusCode != http.StatusOK || usage.Out == 0 {
				t.Fatalf("streamRawPredict: %d, usage %+v", resp.StatusCode, usage)
			}
		}
		in, out = in+usage.In, out+usage.Out
		return resp
	}
	claude(false)
	claude(true)

	client, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		Backend: genai.BackendVertexAI, Project: "my-laptop-project", Location: "us-central1",
		Credentials: auth.NewCredentials(&auth.CredentialsOptions{TokenProvider: staticToken(clientToken)}),
		HTTPOptions: genai.HTTPOptions{BaseURL: c.proxyURL + "/pools/e2e/vx/"},
	})
	if err != nil {
		t.Fatal(err)
	}
	gen, err := client.Models.GenerateContent(context.Background(), "gemini-2.5-flash", genai.Text("Say hello."), nil)
	if err != nil || gen.Text() == "" {
		t.Fatalf("generateContent: %+v, %v", gen, err)
	}
	in, out = in+int64(gen.UsageMetadata.PromptTokenCount), out+int64(gen.UsageMetadata.CandidatesTokenCount)
	var last *genai.GenerateContentResponse
	for chunk, err := range client.Models.GenerateContentStream(context.Background(), "gemini-2.5-flash", genai.Text("Say hello."), nil) {
		if err != nil {
			t.Fatal(err)
		}
		last = chunk
	}
	in, out = in+int64(last.UsageMetadata.PromptTokenCount), out+int64(last.UsageMetadata.CandidatesTokenCount)
	c.wantTokens(t, "vx", in, out)

	c.cloudFailover(t, "vx", "vx-keys/", func() *http.Response { return claude(false) })
	c.cloudRevoked(t, "vx", "vx-keys/two", "sa-2@e2e-2.iam.gserviceaccount.com", func() { claude(false) })
}

type staticToken string

func (s staticToken) Token(context.Context) (*auth.Token, error) {
	return &auth.Token{Value: string(s), Type: "Bearer"}, nil
}

// cloudFailover: a throttled credential (a 429 without any wait: neither
// cloud sends one) is failed over before the client sees it, and cools down.
func (c *cluster) cloudFailover(t *testing.T, pool, keyPrefix string, ask func() *http.Response) {
	t.Helper()
	c.fakePost(t, "/_fake/faults", `{"kind":"rate_limit","count":1}`)
	resp := ask()
	if got := resp.Header.Get("X-Keypool-Attempts"); got != "2" {
		t.Fatalf("x-keypool-attempts = %q, want 2 (a 429, then another credential)", got)
	}
	served := resp.Header.Get("X-Keypool-Key")
	eventually(t, 10*time.Second, func() error {
		out, err := c.kubectl.Run("", "get", "keypool", pool, "-n", namespace, "-o", "jsonpath={.status.keys[*].state}")
		if err != nil {
			return err
		}
		if !strings.Contains(out, "CoolingDown") || !strings.HasPrefix(served, keyPrefix) {
			return fmt.Errorf("states %s (served by %s), want one CoolingDown", out, served)
		}
		return nil
	})
}

// cloudRevoked: a revoked credential is retired after its re-check while
// every request still succeeds.
func (c *cluster) cloudRevoked(t *testing.T, pool, key, fakeKey string, ask func()) {
	t.Helper()
	c.fakeAdmin(t, "/_fake/revoke?key="+url.QueryEscape(fakeKey))
	for range 6 {
		ask()
	}
	eventually(t, 10*time.Second, func() error {
		state, err := c.keyState(pool, key)
		if err != nil {
			return err
		}
		if state != "Rejected" {
			return fmt.Errorf("revoked %s state %q, want Rejected", key, state)
		}
		return nil
	})
}
