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
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/azure"
	openaioption "github.com/openai/openai-go/v3/option"
	"google.golang.org/genai"

	"github.com/keypool-dev/keypool-operator/internal/apitest"
)

// failoverRetry is the wait the injected 429 asks for: longer than the
// pool's 10s default, so a cooldown of exactly this long shows the pool read
// it (for Gemini: from the body's RetryInfo, as no header carries it).
const failoverRetry = "37s"

// azureSDK: openai-go's Azure option (api-key, deployment paths,
// api-version) through the pool against the Azure-shaped fake, streaming and
// not, with failover on a 429 and usage counted.
func (c *cluster) azureSDK(t *testing.T) {
	client := openai.NewClient(
		azure.WithEndpoint(c.proxyURL+"/pools/e2e/az", "2024-10-21"),
		azure.WithAPIKey(clientToken),
		azure.WithUnsafeAllowHTTP(), // the proxy listens on loopback HTTP in this test
		openaioption.WithMaxRetries(0),
	)
	params := openai.ChatCompletionNewParams{
		Model:    "gpt-4o-deployment",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hello to the key pool.")},
	}
	var in, out int64
	ask := func() *http.Response {
		t.Helper()
		var resp *http.Response
		cc, err := client.Chat.Completions.New(context.Background(), params, openaioption.WithResponseInto(&resp))
		if err != nil {
			t.Fatal(err)
		}
		if len(cc.Choices) != 1 || cc.Choices[0].Message.Content == "" || cc.Usage.PromptTokens == 0 || cc.Usage.CompletionTokens == 0 ||
			cc.Model != "gpt-4o-deployment" || !strings.HasPrefix(resp.Header.Get("X-Keypool-Key"), "az-keys/") {
			t.Fatalf("completion %+v, key %q", cc, resp.Header.Get("X-Keypool-Key"))
		}
		if resp.Header.Get("Apim-Request-Id") == "" || resp.Header.Get("X-Ratelimit-Remaining-Tokens") != "" {
			t.Errorf("response headers %v: want Azure's request id and not the key's own limits", resp.Header)
		}
		in, out = in+cc.Usage.PromptTokens, out+cc.Usage.CompletionTokens
		return resp
	}
	ask()

	params.StreamOptions.IncludeUsage = openai.Bool(true)
	acc, err := apitest.AccumulateOpenAI(client.Chat.Completions.NewStreaming(context.Background(), params))
	if err != nil {
		t.Fatal(err)
	}
	if len(acc.Choices) != 1 || acc.Choices[0].Message.Content == "" || acc.Usage.CompletionTokens == 0 {
		t.Fatalf("stream accumulated %+v", acc.ChatCompletion)
	}
	in, out = in+acc.Usage.PromptTokens, out+acc.Usage.CompletionTokens
	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{}

	c.failover(t, "az", "az-keys/", ask)
	c.wantTokens(t, "az", in, out)
}

// geminiSDK: google.golang.org/genai through the pool against the
// Gemini-shaped fake, streaming (alt=sse) and not, with failover on a 429
// whose wait is only in the body, and usage counted.
func (c *cluster) geminiSDK(t *testing.T) {
	one := int32(1)
	var last *http.Response
	client, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey:  clientToken, // sent as x-goog-api-key
		Backend: genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{
			BaseURL:      c.proxyURL + "/pools/e2e/gem/",
			RetryOptions: &genai.HTTPRetryOptions{Attempts: &one},
		},
		HTTPClient: &http.Client{Transport: responseKeeper{&last}},
	})
	if err != nil {
		t.Fatal(err)
	}
	const model = "gemini-2.5-flash"
	prompt := genai.Text("Say hello to the key pool.")
	var in, out int64
	ask := func() *http.Response {
		t.Helper()
		resp, err := client.Models.GenerateContent(context.Background(), model, prompt, nil)
		if err != nil {
			t.Fatal(err)
		}
		u := resp.UsageMetadata
		if resp.Text() == "" || u == nil || u.PromptTokenCount == 0 || u.CandidatesTokenCount == 0 ||
			!strings.HasPrefix(last.Header.Get("X-Keypool-Key"), "gem-keys/") {
			t.Fatalf("response %+v, key %q", resp, last.Header.Get("X-Keypool-Key"))
		}
		in, out = in+int64(u.PromptTokenCount), out+int64(u.CandidatesTokenCount)
		return last
	}
	ask()

	var text strings.Builder
	var final *genai.GenerateContentResponse
	for chunk, err := range client.Models.GenerateContentStream(context.Background(), model, prompt, nil) {
		if err != nil {
			t.Fatal(err)
		}
		text.WriteString(chunk.Text())
		final = chunk
	}
	if text.Len() == 0 || final == nil || final.UsageMetadata == nil || final.UsageMetadata.CandidatesTokenCount == 0 ||
		final.Candidates[0].FinishReason != genai.FinishReasonStop {
		t.Fatalf("stream: %q, last chunk %+v", text.String(), final)
	}
	in, out = in+int64(final.UsageMetadata.PromptTokenCount), out+int64(final.UsageMetadata.CandidatesTokenCount)

	// A client that carries its token in Google's key parameter instead.
	req, _ := http.NewRequest(http.MethodPost, c.proxyURL+"/pools/e2e/gem/v1beta/models/"+model+":generateContent?key="+clientToken,
		strings.NewReader(`{"contents":[{"parts":[{"text":"hi"}]}]}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"usageMetadata"`) {
		t.Fatalf("key parameter: %d %s", resp.StatusCode, body)
	}
	var gr genai.GenerateContentResponse
	if err := gr.UnmarshalJSON(body); err != nil || gr.UsageMetadata == nil {
		t.Fatalf("key parameter answer %s: %v", body, err)
	}
	in, out = in+int64(gr.UsageMetadata.PromptTokenCount), out+int64(gr.UsageMetadata.CandidatesTokenCount)

	// A wrong token is refused in Google's shape.
	bad, _ := genai.NewClient(context.Background(), &genai.ClientConfig{APIKey: "wrong-token", Backend: genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: c.proxyURL + "/pools/e2e/gem/", RetryOptions: &genai.HTTPRetryOptions{Attempts: &one}}})
	_, err = bad.Models.GenerateContent(context.Background(), model, prompt, nil)
	var apiErr genai.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != http.StatusUnauthorized || apiErr.Status != "UNAUTHENTICATED" {
		t.Fatalf("wrong token: want 401 UNAUTHENTICATED, got %v", err)
	}

	c.failover(t, "gem", "gem-keys/", ask)
	c.wantTokens(t, "gem", in, out)
}

// failover makes the next upstream answer a 429 asking for failoverRetry
// and checks that ask still succeeds on a second key, and that the first
// key cooled down for exactly that long.
func (c *cluster) failover(t *testing.T, pool, keyPrefix string, ask func() *http.Response) {
	t.Helper()
	c.fakePost(t, "/_fake/faults", `{"kind":"rate_limit","count":1,"retry_after":"`+failoverRetry+`"}`)
	resp := ask()
	if got := resp.Header.Get("X-Keypool-Attempts"); got != "2" {
		t.Fatalf("x-keypool-attempts = %q, want 2 (a 429, then another key)", got)
	}
	served := resp.Header.Get("X-Keypool-Key")
	other := keyPrefix + "one"
	if served == other {
		other = keyPrefix + "two"
	}
	eventually(t, 10*time.Second, func() error {
		state, err := c.keyState(pool, other)
		if err != nil {
			return err
		}
		if state != "CoolingDown" {
			return fmt.Errorf("key %s state %q, want CoolingDown", other, state)
		}
		notes, err := c.kubectl.Run("", "get", "events.events.k8s.io", "-n", namespace, "-o", "jsonpath={.items[*].note}")
		if err != nil {
			return err
		}
		if want := "key " + other + ": rate limited by provider (429), retry after " + failoverRetry; !strings.Contains(notes, want) {
			return fmt.Errorf("no event %q in %s", want, notes)
		}
		return nil
	})
}

// wantTokens checks that the manager counted exactly the tokens the SDKs
// reported for pool (keypool_proxy_tokens_total), once every answer settled.
func (c *cluster) wantTokens(t *testing.T, pool string, in, out int64) {
	t.Helper()
	eventually(t, 10*time.Second, func() error {
		got, err := c.scrapeTokens(pool)
		if err != nil {
			return err
		}
		if got["input"] != in || got["output"] != out {
			return fmt.Errorf("pool %s counted %v, the SDKs saw input %d output %d", pool, got, in, out)
		}
		return nil
	})
}

// scrapeTokens reads keypool_proxy_tokens_total of pool by direction from
// the manager's metrics endpoint.
func (c *cluster) scrapeTokens(pool string) (map[string]int64, error) {
	resp, err := http.Get(c.metricsURL)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	got := map[string]int64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "keypool_proxy_tokens_total{") || !strings.Contains(line, `namespace="e2e"`) ||
			!strings.Contains(line, `pool="`+pool+`"`) {
			continue
		}
		_, dir, _ := strings.Cut(line, `direction="`)
		dir, _, _ = strings.Cut(dir, `"`)
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("metric line %q: %w", line, err)
		}
		got[dir] = int64(v)
	}
	return got, sc.Err()
}

func (c *cluster) fakePost(t *testing.T, path, body string) {
	t.Helper()
	resp, err := http.Post(c.fakeURL+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("fake provider %s: %s", path, resp.Status)
	}
}

// responseKeeper keeps the last response's headers for a client (genai)
// that does not hand them out.
type responseKeeper struct{ last **http.Response }

func (k responseKeeper) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		*k.last = resp
	}
	return resp, err
}
