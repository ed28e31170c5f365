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
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"cloud.google.com/go/auth"
	"google.golang.org/genai"

	"github.com/keypool-dev/keypool-operator/internal/apitest"
	"github.com/keypool-dev/keypool-operator/internal/fakeprovider"
	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/provider"
	"github.com/keypool-dev/keypool-operator/internal/proxytest"
)

// The service accounts of vertexPool, each of a project of its own.
var vertexAccounts = []struct{ email, project string }{
	{"sa-1@proj-1.iam.gserviceaccount.com", "proj-1"},
	{"sa-2@proj-2.iam.gserviceaccount.com", "proj-2"},
	{"sa-3@proj-3.iam.gserviceaccount.com", "proj-3"},
}

// vertexPool is a Vertex pool of three service-account keys, tiered keys/k1
// first (with token limits), whose tokens come from the fake's token
// endpoint; the fake serves only a path naming the token's own project.
func vertexPool(t *testing.T) *env {
	t.Helper()
	keys := make([]fakeprovider.Key, len(vertexAccounts))
	for i, a := range vertexAccounts {
		keys[i] = fakeprovider.Key{Key: a.email, Org: a.project}
	}
	fake := fakeprovider.New(fakeprovider.Config{Keys: keys})
	t.Cleanup(fake.ReleaseStreams)
	tokens := httptest.NewServer(fake)
	t.Cleanup(tokens.Close)
	values := make([]string, len(vertexAccounts))
	secrets := []string{clientToken, "ya29.fake-"}
	for i, a := range vertexAccounts {
		js, err := fake.ServiceAccountKey(a.email, a.project, tokens.URL+"/token")
		if err != nil {
			t.Fatal(err)
		}
		values[i] = string(js)
		var k struct {
			PrivateKey string `json:"private_key"`
		}
		_ = json.Unmarshal(js, &k)
		// A line of the key's PEM body: no log line may hold any of it.
		secrets = append(secrets, strings.Split(k.PrivateKey, "\n")[2])
	}
	pk := proxytest.Keys(values, true)
	pk[0].ITPMLimit, pk[0].OTPMLimit = tokenLimit, tokenLimit
	e := newEnv(t, envConfig{provider: provider.Vertex, keys: pk, upstream: fake, logger: proxytest.Logger(t, secrets...)})
	e.fake = fake
	return e
}

// claudePath is what Claude Code sends in Vertex mode: its own project and
// region, which the pool replaces with the chosen credential's.
const claudePath = "/v1/projects/client-project/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5"

func rawPredict(t *testing.T, e *env, stream bool) *http.Response {
	t.Helper()
	method := ":rawPredict"
	if stream {
		method = ":streamRawPredict"
	}
	body, _ := json.Marshal(map[string]any{
		"anthropic_version": "vertex-2023-10-16", "max_tokens": 1024, "stream": stream,
		"messages": []map[string]any{{"role": "user", "content": "a story [[output_tokens=40]]"}},
	})
	return e.do(t.Context(), http.MethodPost, claudePath+method, string(body),
		map[string]string{"Authorization": "Bearer " + clientToken, "Content-Type": "application/json"})
}

type staticToken string

func (s staticToken) Token(context.Context) (*auth.Token, error) {
	return &auth.Token{Value: string(s), Type: "Bearer"}, nil
}

// TestVertexThroughPool: Claude on Vertex (:rawPredict and
// :streamRawPredict, as Claude Code sends them) and Gemini on Vertex
// through Google's genai client in Vertex mode, over a pool of three
// service accounts: the client's project rewritten to each credential's,
// one token per credential (cached), usage settled as the fake charged, a
// token that ends early renewed without a failed request, a throttled
// credential failed over, a revoked one retired after its re-check.
func TestVertexThroughPool(t *testing.T) {
	e := vertexPool(t)

	resp := rawPredict(t, e, false)
	var msg struct {
		Content []struct{ Text string } `json:"content"`
		Usage   struct {
			OutputTokens int64 `json:"output_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal([]byte(wantStatus(t, resp, http.StatusOK)), &msg); err != nil || msg.Usage.OutputTokens != 40 {
		t.Fatalf("rawPredict: %+v, %v", msg, err)
	}
	resp = rawPredict(t, e, true)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("streamRawPredict answered %s", ct)
	}
	sse := apitest.NewSSEReader(resp.Body)
	var text strings.Builder
	for {
		lines, err := sse.Next()
		if err != nil {
			break
		}
		_, data, _ := strings.Cut(lines, "data: ")
		var ev struct {
			Delta struct {
				Text string `json:"text"`
			} `json:"delta"`
		}
		_ = json.Unmarshal([]byte(data), &ev)
		text.WriteString(ev.Delta.Text)
	}
	_ = resp.Body.Close()
	if text.String() != msg.Content[0].Text {
		t.Fatalf("streamed %q, want %q", text.String(), msg.Content[0].Text)
	}

	client, err := genai.NewClient(t.Context(), &genai.ClientConfig{
		Backend: genai.BackendVertexAI, Project: "client-project", Location: "us-central1",
		Credentials: auth.NewCredentials(&auth.CredentialsOptions{TokenProvider: staticToken(clientToken)}),
		HTTPOptions: genai.HTTPOptions{BaseURL: e.base + "/"},
	})
	if err != nil {
		t.Fatal(err)
	}
	prompt := genai.Text("a story [[output_tokens=24]]")
	gen, err := client.Models.GenerateContent(t.Context(), "gemini-2.5-flash", prompt, nil)
	if err != nil || gen.UsageMetadata.CandidatesTokenCount != 24 {
		t.Fatalf("generateContent: %+v, %v", gen, err)
	}
	var streamed int32
	for chunk, err := range client.Models.GenerateContentStream(t.Context(), "gemini-2.5-flash", prompt, nil) {
		if err != nil {
			t.Fatal(err)
		}
		streamed = chunk.UsageMetadata.CandidatesTokenCount
	}
	if streamed != 24 {
		t.Fatalf("streamGenerateContent: %d output tokens", streamed)
	}

	e.waitIdle()
	sa1 := vertexAccounts[0].email
	charged := e.fake.Stats().Keys[sa1]
	// Claude and Gemini are two model classes, each with its own limits:
	// what the pool charged is the sum over the key's classes.
	var in, out int64
	for _, c := range e.keyStats("keys/k1").Classes {
		in, out = in+tokenLimit-c.ITPMRemaining, out+tokenLimit-c.OTPMRemaining
	}
	if charged.OK != 4 || charged.OutputTokens != 128 || out != charged.OutputTokens || in != charged.InputTokens {
		t.Errorf("fake charged %+v; the pool charged %d input and %d output tokens over the key's classes", charged, in, out)
	}
	if g := e.fake.TokenGrants(); g != 1 {
		t.Errorf("%d access tokens for one credential's four requests, want 1 (cached)", g)
	}

	// The token ends before its time: the request is served anyway, by the
	// same credential with a new token.
	e.fake.ExpireAccessTokens()
	wantStatus(t, rawPredict(t, e, false), http.StatusOK)
	if g, ok := e.fake.TokenGrants(), e.fake.Stats().Keys[sa1].OK; g != 2 || ok != 5 {
		t.Errorf("after the token ended: %d grants, %d served by keys/k1; want 2 and 5", g, ok)
	}

	// A throttled credential, then a revoked one: the third serves.
	if err := e.fake.SetFault(fakeprovider.Fault{Kind: fakeprovider.FaultRateLimit, Key: sa1, Count: 1}); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, rawPredict(t, e, false), http.StatusOK)
	if s := e.fake.Stats().Keys; s[sa1].RateLimited != 1 || s[vertexAccounts[1].email].OK != 1 {
		t.Errorf("fake saw %+v", s)
	}
	if err := e.fake.RevokeKey(vertexAccounts[1].email); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, rawPredict(t, e, false), http.StatusOK)
	e.proxy.checks.Wait()
	if s := e.keyStats("keys/k2").State; s != keypool.StateRejected {
		t.Errorf("keys/k2 is %s, want Rejected", s)
	}
	if s := e.fake.Stats().Keys[vertexAccounts[2].email]; s.OK != 1 {
		t.Errorf("keys/k3 served %d requests, want 1", s.OK)
	}
	e.waitIdle()
}
