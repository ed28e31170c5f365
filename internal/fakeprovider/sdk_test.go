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

	"github.com/anthropics/anthropic-sdk-go/v2"
	anthropicoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	openaioption "github.com/openai/openai-go/v3/option"

	"github.com/keypool-dev/keypool-operator/internal/apitest"
)

// TestAnthropicSDK proves the official SDK decodes the fake's responses,
// streams and errors.
func TestAnthropicSDK(t *testing.T) {
	f := newFixture(t, orgAConfig(Limits{RPM: 2}))
	client := anthropic.NewClient(
		anthropicoption.WithBaseURL(f.srv.URL),
		anthropicoption.WithAPIKey("k1"),
		anthropicoption.WithMaxRetries(0),
	)
	params := anthropic.MessageNewParams{
		Model:     "claude-test",
		MaxTokens: 1024,
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(prompt40))},
	}
	msg, err := client.Messages.New(t.Context(), params)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Usage.InputTokens != 10 || msg.Usage.OutputTokens != DefaultOutputTokens || msg.StopReason != anthropic.StopReasonEndTurn ||
		len(msg.Content) != 1 || len(msg.Content[0].Text) != 4*DefaultOutputTokens || !strings.HasPrefix(msg.ID, "msg_") {
		t.Errorf("message %+v", msg)
	}

	stream := client.Messages.NewStreaming(t.Context(), params)
	acc, _, err := apitest.AccumulateAnthropic(stream)
	if err != nil {
		t.Fatal(err)
	}
	if acc.Usage.InputTokens != 10 || acc.Usage.OutputTokens != DefaultOutputTokens || acc.StopReason != anthropic.StopReasonEndTurn ||
		len(acc.Content) != 1 || len(acc.Content[0].Text) != 4*DefaultOutputTokens {
		t.Errorf("accumulated %+v", acc)
	}

	_, err = client.Messages.New(t.Context(), params)
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusTooManyRequests || apiErr.Type() != "rate_limit_error" {
		t.Errorf("want a 429 rate_limit_error, got %v", err)
	}
}

// TestOpenAISDK proves the official SDK decodes the fake's responses,
// streams (with the usage chunk) and errors.
func TestOpenAISDK(t *testing.T) {
	f := newFixture(t, orgAConfig(Limits{RPM: 2}))
	client := openai.NewClient(
		openaioption.WithBaseURL(f.srv.URL+"/v1/"),
		openaioption.WithAPIKey("k1"),
		openaioption.WithMaxRetries(0),
	)
	params := openai.ChatCompletionNewParams{
		Model:               "gpt-test",
		MaxCompletionTokens: openai.Int(1024),
		Messages:            []openai.ChatCompletionMessageParamUnion{openai.UserMessage(prompt40)},
	}
	cc, err := client.Chat.Completions.New(t.Context(), params)
	if err != nil {
		t.Fatal(err)
	}
	if cc.Usage.PromptTokens != 10 || cc.Usage.CompletionTokens != DefaultOutputTokens || cc.Usage.TotalTokens != 10+DefaultOutputTokens ||
		len(cc.Choices) != 1 || cc.Choices[0].FinishReason != "stop" || len(cc.Choices[0].Message.Content) != 4*DefaultOutputTokens {
		t.Errorf("completion %+v", cc)
	}

	params.StreamOptions.IncludeUsage = openai.Bool(true)
	stream := client.Chat.Completions.NewStreaming(t.Context(), params)
	acc, err := apitest.AccumulateOpenAI(stream)
	if err != nil {
		t.Fatal(err)
	}
	if acc.Usage.PromptTokens != 10 || acc.Usage.CompletionTokens != DefaultOutputTokens ||
		len(acc.Choices) != 1 || acc.Choices[0].FinishReason != "stop" || len(acc.Choices[0].Message.Content) != 4*DefaultOutputTokens {
		t.Errorf("accumulated %+v", acc.ChatCompletion)
	}

	_, err = client.Chat.Completions.New(t.Context(), params)
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusTooManyRequests || apiErr.Code != "rate_limit_exceeded" {
		t.Errorf("want a 429 rate_limit_exceeded, got %v", err)
	}
}
