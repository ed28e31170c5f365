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

package fakeprovider

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/azure"
	openaioption "github.com/openai/openai-go/v3/option"

	"github.com/keypool-dev/keypool-operator/internal/apitest"
)

// azureClient is the official SDK's Azure OpenAI client for the fake.
func azureClient(f *fixture, key string) openai.Client {
	return openai.NewClient(
		azure.WithEndpoint(f.srv.URL, "2024-10-21"),
		azure.WithAPIKey(key),
		azure.WithUnsafeAllowHTTP(),
		openaioption.WithMaxRetries(0),
	)
}

// TestAzureSDK proves the official SDK's Azure option decodes the fake's
// deployment responses, streams and errors, with the key in api-key.
func TestAzureSDK(t *testing.T) {
	f := newFixture(t, orgAConfig(Limits{RPM: 2, TPM: 100_000}))
	client := azureClient(f, "k1")
	params := openai.ChatCompletionNewParams{
		Model:               "my-gpt-4o", // the deployment's name
		MaxCompletionTokens: openai.Int(1024),
		Messages:            []openai.ChatCompletionMessageParamUnion{openai.UserMessage(prompt40)},
	}
	var resp *http.Response
	cc, err := client.Chat.Completions.New(t.Context(), params, openaioption.WithResponseInto(&resp))
	if err != nil {
		t.Fatal(err)
	}
	if cc.Usage.PromptTokens != 10 || cc.Usage.CompletionTokens != DefaultOutputTokens || len(cc.Choices) != 1 ||
		cc.Model != "my-gpt-4o" || len(cc.Choices[0].Message.Content) != 4*DefaultOutputTokens {
		t.Errorf("completion %+v", cc)
	}
	h := resp.Header
	if h.Get("X-Ratelimit-Remaining-Requests") != "1" || h.Get("X-Ratelimit-Limit-Tokens") != "100000" ||
		h.Get("Apim-Request-Id") == "" || h.Get("X-Ratelimit-Reset-Requests") != "" || h.Get("Openai-Organization") != "" {
		t.Errorf("azure headers %v", h)
	}

	params.StreamOptions.IncludeUsage = openai.Bool(true)
	acc, err := apitest.AccumulateOpenAI(client.Chat.Completions.NewStreaming(t.Context(), params))
	if err != nil {
		t.Fatal(err)
	}
	if acc.Usage.PromptTokens != 10 || acc.Usage.CompletionTokens != DefaultOutputTokens || len(acc.Choices) != 1 {
		t.Errorf("accumulated %+v", acc.ChatCompletion)
	}

	// The RPM is spent: Azure's 429 with retry-after and retry-after-ms.
	_, err = client.Chat.Completions.New(t.Context(), params, openaioption.WithResponseInto(&resp))
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusTooManyRequests || apiErr.Code != "429" ||
		!strings.Contains(apiErr.Message, "exceeded call rate limit") {
		t.Fatalf("want Azure's 429, got %v", err)
	}
	if h := apiErr.Response.Header; h.Get("Retry-After") == "" || h.Get("Retry-After-Ms") != h.Get("Retry-After")+"000" {
		t.Errorf("429 headers %v", h)
	}

	// A wrong key: Azure's 401 with code "401".
	bad := azureClient(f, "nope")
	_, err = bad.Chat.Completions.New(t.Context(), params)
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized || apiErr.Code != "401" {
		t.Errorf("want Azure's 401, got %v", err)
	}
}

// TestAzurePaths: the v1 path takes the model from the body; a deployment
// path needs api-version; the key check lists models.
func TestAzurePaths(t *testing.T) {
	f := newFixture(t, orgAConfig(Limits{}))
	do := func(method, path, key, body string) (*http.Response, []byte) {
		req, err := http.NewRequestWithContext(t.Context(), method, f.srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Api-Key", key)
		req.Header.Set("Content-Type", "application/json")
		return mustDo(t)(f.client().Do(req))
	}
	body := openaiBody(prompt40, false, false)
	if resp, b := do("POST", "/openai/v1/chat/completions", "k1", body); resp.StatusCode != 200 || num(t, decode(t, string(b)), "usage.prompt_tokens") != 10 {
		t.Errorf("v1 path: %d %s", resp.StatusCode, b)
	}
	resp, b := do("POST", "/openai/deployments/d1/chat/completions", "k1", body)
	if resp.StatusCode != 404 || !strings.Contains(string(b), `"code":"404"`) {
		t.Errorf("deployment path without api-version: %d %s", resp.StatusCode, b)
	}
	if resp, b := do("GET", "/openai/models?api-version=2024-10-21", "k1", ""); resp.StatusCode != 200 || f.p.ModelChecks() != 1 {
		t.Errorf("model list: %d %s", resp.StatusCode, b)
	}
	if resp, b := do("GET", "/openai/models?api-version=2024-10-21", "nope", ""); resp.StatusCode != 401 || !strings.Contains(string(b), `"code":"401"`) {
		t.Errorf("model list with a wrong key: %d %s", resp.StatusCode, b)
	}
}
