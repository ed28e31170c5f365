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
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// openaiAPI is the OpenAI Chat Completions API dialect.
type openaiAPI struct{}

type openaiRequest struct {
	Model               string    `json:"model"`
	Messages            []message `json:"messages"`
	MaxTokens           *int64    `json:"max_tokens"`
	MaxCompletionTokens *int64    `json:"max_completion_tokens"`
	Stream              bool      `json:"stream"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

type openaiUsage struct {
	PromptTokens        int64 `json:"prompt_tokens"`
	CompletionTokens    int64 `json:"completion_tokens"`
	TotalTokens         int64 `json:"total_tokens"`
	PromptTokensDetails struct {
		CachedTokens int64 `json:"cached_tokens"`
		AudioTokens  int64 `json:"audio_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails struct {
		ReasoningTokens          int64 `json:"reasoning_tokens"`
		AudioTokens              int64 `json:"audio_tokens"`
		AcceptedPredictionTokens int64 `json:"accepted_prediction_tokens"`
		RejectedPredictionTokens int64 `json:"rejected_prediction_tokens"`
	} `json:"completion_tokens_details"`
}

type openaiMessage struct {
	Role        string   `json:"role"`
	Content     string   `json:"content"`
	Refusal     *string  `json:"refusal"`
	Annotations []string `json:"annotations"`
}

type openaiChoice struct {
	Index        int           `json:"index"`
	Message      openaiMessage `json:"message"`
	Logprobs     *struct{}     `json:"logprobs"`
	FinishReason string        `json:"finish_reason"`
}

type openaiCompletion struct {
	ID                string         `json:"id"`
	Object            string         `json:"object"`
	Created           int64          `json:"created"`
	Model             string         `json:"model"`
	Choices           []openaiChoice `json:"choices"`
	Usage             openaiUsage    `json:"usage"`
	ServiceTier       string         `json:"service_tier"`
	SystemFingerprint string         `json:"system_fingerprint"`
}

type openaiDelta struct {
	Role    string          `json:"role,omitempty"`
	Content *string         `json:"content,omitempty"`
	Refusal json.RawMessage `json:"refusal,omitempty"`
}

type openaiChunkChoice struct {
	Index        int         `json:"index"`
	Delta        openaiDelta `json:"delta"`
	Logprobs     *struct{}   `json:"logprobs"`
	FinishReason *string     `json:"finish_reason"`
}

type openaiChunk struct {
	ID                string              `json:"id"`
	Object            string              `json:"object"`
	Created           int64               `json:"created"`
	Model             string              `json:"model"`
	ServiceTier       string              `json:"service_tier"`
	SystemFingerprint string              `json:"system_fingerprint"`
	Choices           []openaiChunkChoice `json:"choices"`
	// Usage is absent unless stream_options.include_usage is set; then it is
	// null in every chunk but the last, as in the real API.
	Usage json.RawMessage `json:"usage,omitempty"`
}

type openaiError struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

func (openaiAPI) apiKey(r *http.Request) string { return bearer(r) }

// bearer returns the token of an "Authorization: Bearer" header, or "".
func bearer(r *http.Request) string {
	key, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return key
}

func (openaiAPI) parse(body []byte) (request, error) { return parseOpenAI(body, "") }

// parseOpenAI reads a chat completion request; model is used when the body
// names none (an Azure deployment's model).
func parseOpenAI(body []byte, model string) (request, error) {
	var in openaiRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return request{}, fmt.Errorf("invalid request body: %w", err)
	}
	if in.Model == "" {
		in.Model = model
	}
	switch {
	case in.Model == "":
		return request{}, errors.New("you must provide a model parameter")
	case len(in.Messages) == 0:
		return request{}, errors.New("[] is too short - 'messages'")
	}
	// max_completion_tokens supersedes the deprecated max_tokens.
	var maxTokens int64
	for _, m := range []*int64{in.MaxCompletionTokens, in.MaxTokens} {
		if m != nil {
			if *m < 1 {
				return request{}, errors.New("max_tokens must be at least 1")
			}
			maxTokens = *m
			break
		}
	}
	input := estimateInput(nil, in.Messages)
	return request{
		cache:        openaiCachePlan(in.Model, input, in.Messages),
		model:        in.Model,
		stream:       in.Stream,
		includeUsage: in.Stream && in.StreamOptions != nil && in.StreamOptions.IncludeUsage,
		input:        input,
		maxTokens:    maxTokens,
		directive:    outputDirective(in.Messages),
	}, nil
}

// admission charges prompt and completion tokens to the single TPM bucket.
func (openaiAPI) admission(input int64) admission {
	return admission{inDim: dimTokens, input: input, outDim: dimTokens}
}

func (openaiAPI) metaHeaders(h http.Header, reqID, org string) {
	h.Set("X-Request-Id", reqID)
	if org != "" {
		h.Set("Openai-Organization", org)
	}
}

// openaiHeaders are the rate-limit header names per dimension.
var openaiHeaders = [numDims]headerNames{
	dimRequests: newHeaderNames("x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests"),
	dimTokens:   newHeaderNames("x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"),
}

func (openaiAPI) rateHeaders(h http.Header, snap *snapshot) {
	for d, names := range openaiHeaders {
		s := snap.dims[d]
		if names.limit == "" || s.limit == 0 {
			continue
		}
		setHeader(h, names.limit, strconv.FormatInt(s.limit, 10))
		setHeader(h, names.remaining, strconv.FormatInt(s.remaining, 10))
		setHeader(h, names.reset, resetDuration(s.full))
	}
}

// resetDuration formats the time until a bucket is full like OpenAI does
// ("6m0s", "1s", "12ms"), rounded up to the millisecond.
func resetDuration(d time.Duration) string {
	return ((d + time.Millisecond - 1) / time.Millisecond * time.Millisecond).String()
}

func (openaiAPI) limitError(c *call, short dim) (errClass, string) {
	class, what := errRateLimit, "requests per min (RPM)"
	if short != dimRequests {
		class, what = errRateLimitTokens, "tokens per min (TPM)"
	}
	d := c.snap.dims[short]
	return class, fmt.Sprintf("Rate limit reached for %s in organization %s on %s: Limit %d, Remaining %d. Please try again later.",
		c.req.model, c.ks.org.name, what, d.limit, d.remaining)
}

// openaiErrorTypes maps classes to OpenAI's error type and code.
var openaiErrorTypes = map[errClass][2]string{
	errInvalid:         {invalidRequestError, ""},
	errAuth:            {invalidRequestError, "invalid_api_key"},
	errPermission:      {"request_forbidden", ""},
	errNotFound:        {invalidRequestError, "unknown_url"},
	errTooLarge:        {invalidRequestError, ""},
	errRateLimit:       {"requests", "rate_limit_exceeded"},
	errRateLimitTokens: {"tokens", "rate_limit_exceeded"},
	errAPI:             {"server_error", ""},
	errOverloaded:      {"server_error", ""},
	errMismatchedOrg:   {invalidRequestError, "mismatched_organization"},
}

func (openaiAPI) writeError(c *call, status int, class errClass, msg string) {
	var e openaiError
	t := openaiErrorTypes[class]
	e.Error.Message, e.Error.Type = msg, t[0]
	if t[1] != "" {
		e.Error.Code = &t[1]
	}
	body, _ := json.Marshal(e) // plain strings: cannot fail
	writeJSON(c, status, body)
}

func (c *call) openaiFinish() string {
	if c.cut {
		return "length"
	}
	return "stop"
}

func (c *call) openaiUsage() openaiUsage {
	u := openaiUsage{PromptTokens: c.req.input, CompletionTokens: c.output, TotalTokens: c.req.input + c.output}
	u.PromptTokensDetails.CachedTokens = c.cache.read
	return u
}

func (openaiAPI) respond(c *call) {
	c.produced = c.output
	body, _ := json.Marshal(openaiCompletion{
		ID:      c.p.newID("chatcmpl-"),
		Object:  "chat.completion",
		Created: c.p.clock.Now().Unix(),
		Model:   c.req.model,
		Choices: []openaiChoice{{
			Message:      openaiMessage{Role: roleAssistant, Content: text(0, c.output), Annotations: []string{}},
			FinishReason: c.openaiFinish(),
		}},
		Usage:             c.openaiUsage(),
		ServiceTier:       "default",
		SystemFingerprint: "fp_fake",
	})
	writeJSON(c, http.StatusOK, body)
}

// stream sends chat.completion.chunk events: a role chunk, content chunks,
// a finish chunk, the usage chunk with empty choices if asked for, and
// [DONE]. A hold gate stops it after the role chunk.
func (openaiAPI) stream(c *call, s *sseWriter) error {
	chunk := openaiChunk{
		ID:                c.p.newID("chatcmpl-"),
		Object:            "chat.completion.chunk",
		Created:           c.p.clock.Now().Unix(),
		Model:             c.req.model,
		ServiceTier:       "default",
		SystemFingerprint: "fp_fake",
		Choices:           []openaiChunkChoice{{}},
	}
	if c.req.includeUsage {
		chunk.Usage = json.RawMessage("null")
	}
	empty := ""
	chunk.Choices[0].Delta = openaiDelta{Role: roleAssistant, Content: &empty, Refusal: json.RawMessage("null")}
	if err := sendJSON(s, "", chunk); err != nil {
		return err
	}
	if err := c.p.waitHold(s.ctx); err != nil {
		return err
	}
	for from := int64(0); from < c.output; from += c.p.chunkTokens {
		to := min(from+c.p.chunkTokens, c.output)
		t := text(from, to)
		chunk.Choices[0].Delta = openaiDelta{Content: &t}
		if err := sendJSON(s, "", chunk); err != nil {
			return err
		}
		c.produced = to
	}
	finish := c.openaiFinish()
	chunk.Choices[0] = openaiChunkChoice{FinishReason: &finish}
	if err := sendJSON(s, "", chunk); err != nil {
		return err
	}
	if c.req.includeUsage {
		usage, err := json.Marshal(c.openaiUsage())
		if err != nil {
			return fmt.Errorf("encode usage: %w", err)
		}
		chunk.Choices, chunk.Usage = []openaiChunkChoice{}, usage
		if err := sendJSON(s, "", chunk); err != nil {
			return err
		}
	}
	return s.send("", []byte("[DONE]"))
}
