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
	"errors"
	"net/http"
	"testing"

	"github.com/keypool-dev/keypool-operator/internal/apitest"
	"github.com/keypool-dev/keypool-operator/internal/provider"

	"github.com/anthropics/anthropic-sdk-go/v2"
	anthropicoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	openaioption "github.com/openai/openai-go/v3/option"

	"github.com/keypool-dev/keypool-operator/internal/fakeprovider"
)

// The SDK tests use the official clients exactly as a service would: only
// the base URL and the key change.

func TestAnthropicSDKThroughProxy(t *testing.T) {
	e := newEnv(t, envConfig{keys: limitedKeys()})
	client := anthropic.NewClient(
		anthropicoption.WithBaseURL(e.base+"/"),
		anthropicoption.WithAPIKey(clientToken),
		anthropicoption.WithMaxRetries(0),
	)
	params := anthropic.MessageNewParams{
		Model:     "claude-test",
		MaxTokens: 1024,
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("tell me a story [[output_tokens=40]]"))},
	}
	msg, err := client.Messages.New(t.Context(), params)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Usage.OutputTokens != 40 || len(msg.Content) != 1 || msg.Content[0].Text == "" {
		t.Errorf("message %+v", msg)
	}

	stream := client.Messages.NewStreaming(t.Context(), params)
	acc, events, err := apitest.AccumulateAnthropic(stream)
	if err != nil {
		t.Fatal(err)
	}
	if acc.Usage.OutputTokens != 40 || acc.Usage.InputTokens != msg.Usage.InputTokens || acc.Content[0].Text != msg.Content[0].Text || events < 5 {
		t.Errorf("accumulated %+v from %d events", acc, events)
	}
	e.waitIdle()
	if ks := e.keyStats("keys/k1"); ks.OTPMRemaining != tokenLimit-80 || ks.ITPMRemaining != tokenLimit-2*msg.Usage.InputTokens {
		t.Errorf("settled usage: ITPM remaining %d, OTPM remaining %d", ks.ITPMRemaining, ks.OTPMRemaining)
	}

	// A wrong client token is the provider's authentication error to the SDK.
	bad := anthropic.NewClient(anthropicoption.WithBaseURL(e.base+"/"), anthropicoption.WithAPIKey("wrong"), anthropicoption.WithMaxRetries(0))
	_, err = bad.Messages.New(t.Context(), params)
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized || apiErr.Type() != "authentication_error" {
		t.Errorf("want a 401 authentication_error, got %v", err)
	}
}

func TestAnthropicSDKFailoverIsInvisible(t *testing.T) {
	e := newEnv(t, envConfig{})
	if err := e.fake.SetFault(fakeprovider.Fault{Kind: fakeprovider.FaultStatus, Key: keyValue(1), Status: 529}); err != nil {
		t.Fatal(err)
	}
	client := anthropic.NewClient(anthropicoption.WithBaseURL(e.base+"/"), anthropicoption.WithAPIKey(clientToken), anthropicoption.WithMaxRetries(0))
	stream := client.Messages.NewStreaming(t.Context(), anthropic.MessageNewParams{
		Model: "claude-test", MaxTokens: 64,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))},
	})
	acc, _, err := apitest.AccumulateAnthropic(stream)
	if err != nil {
		t.Fatalf("the client saw the overloaded key: %v", err)
	}
	if acc.StopReason != anthropic.StopReasonEndTurn {
		t.Errorf("accumulated %+v", acc)
	}
	e.waitIdle()
}

func TestOpenAISDKThroughProxy(t *testing.T) {
	e := newEnv(t, envConfig{provider: provider.OpenAI, keys: limitedKeys()})
	client := openai.NewClient(
		openaioption.WithBaseURL(e.base+"/v1/"),
		openaioption.WithAPIKey(clientToken),
		openaioption.WithMaxRetries(0),
	)
	params := openai.ChatCompletionNewParams{
		Model:    "gpt-test",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("tell me a story [[output_tokens=40]]")},
	}
	cc, err := client.Chat.Completions.New(t.Context(), params)
	if err != nil {
		t.Fatal(err)
	}
	if cc.Usage.CompletionTokens != 40 || len(cc.Choices) != 1 || cc.Choices[0].Message.Content == "" {
		t.Errorf("completion %+v", cc)
	}

	params.StreamOptions.IncludeUsage = openai.Bool(true)
	stream := client.Chat.Completions.NewStreaming(t.Context(), params)
	acc, err := apitest.AccumulateOpenAI(stream)
	if err != nil {
		t.Fatal(err)
	}
	if acc.Usage.CompletionTokens != 40 || acc.Usage.PromptTokens != cc.Usage.PromptTokens || acc.Choices[0].Message.Content != cc.Choices[0].Message.Content {
		t.Errorf("accumulated %+v", acc.ChatCompletion)
	}
	e.waitIdle()
	if ks := e.keyStats("keys/k1"); ks.OTPMRemaining != tokenLimit-80 || ks.ITPMRemaining != tokenLimit-2*cc.Usage.PromptTokens {
		t.Errorf("settled usage: ITPM remaining %d, OTPM remaining %d", ks.ITPMRemaining, ks.OTPMRemaining)
	}

	bad := openai.NewClient(openaioption.WithBaseURL(e.base+"/v1/"), openaioption.WithAPIKey("wrong"), openaioption.WithMaxRetries(0))
	_, err = bad.Chat.Completions.New(t.Context(), params)
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized || apiErr.Code != "invalid_api_key" {
		t.Errorf("want a 401 invalid_api_key, got %v", err)
	}
}
