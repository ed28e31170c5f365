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
	"time"
)

// anthropicAPI is the Anthropic Messages API dialect.
type anthropicAPI struct{}

type anthropicRequest struct {
	Model     string          `json:"model"`
	MaxTokens *int64          `json:"max_tokens"`
	Stream    bool            `json:"stream"`
	System    json.RawMessage `json:"system"`
	Messages  []message       `json:"messages"`
	Tools     json.RawMessage `json:"tools"`
}

type anthropicUsage struct {
	InputTokens              int64  `json:"input_tokens"`
	CacheCreationInputTokens int64  `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64  `json:"cache_read_input_tokens"`
	OutputTokens             int64  `json:"output_tokens"`
	ServiceTier              string `json:"service_tier,omitempty"`
}

type anthropicBlock struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type anthropicMessage struct {
	ID           string           `json:"id"`
	Type         string           `json:"type"`
	Role         string           `json:"role"`
	Model        string           `json:"model"`
	Content      []anthropicBlock `json:"content"`
	StopReason   *string          `json:"stop_reason"`
	StopSequence *string          `json:"stop_sequence"`
	Usage        anthropicUsage   `json:"usage"`
}

type anthropicError struct {
	Type  string `json:"type"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
	RequestID string `json:"request_id,omitempty"`
}

// apiKey reads x-api-key, or else a bearer token: the official Go SDK (v2)
// sends API keys as "Authorization: Bearer", so the real API takes both.
func (anthropicAPI) apiKey(r *http.Request) string {
	if key := r.Header.Get("X-Api-Key"); key != "" {
		return key
	}
	return bearer(r)
}

func (anthropicAPI) parse(body []byte) (request, error) {
	var in anthropicRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return request{}, fmt.Errorf("invalid request body: %w", err)
	}
	switch {
	case in.Model == "":
		return request{}, errors.New("model: Field required")
	case in.MaxTokens == nil:
		return request{}, errors.New("max_tokens: Field required")
	case *in.MaxTokens < 1:
		return request{}, errors.New("max_tokens: Input should be greater than or equal to 1")
	case len(in.Messages) == 0:
		return request{}, errors.New("messages: at least one message is required")
	}
	return request{
		model:     in.Model,
		stream:    in.Stream,
		input:     estimateInput(in.System, in.Messages),
		maxTokens: *in.MaxTokens,
		directive: outputDirective(in.Messages),
		cache:     anthropicCachePlan(body, in.Model, in.Tools, in.System, in.Messages),
		// Cache-aware ITPM: cache reads do not count towards the limit.
		cacheReadsFree: true,
	}, nil
}

func (anthropicAPI) admission(input int64) admission {
	return admission{inDim: dimInput, input: input, outDim: dimOutput}
}

func (anthropicAPI) metaHeaders(h http.Header, reqID, org string) {
	h.Set("Request-Id", reqID)
	if org != "" {
		// The real API names the key's organisation, which lets a pool
		// discover that two keys share limits.
		h.Set("Anthropic-Organization-Id", org)
	}
}

// anthropicHeaders are the rate-limit header names per dimension.
var anthropicHeaders = [numDims]headerNames{
	dimRequests: anthropicHeaderNames("requests"),
	dimInput:    anthropicHeaderNames("input-tokens"),
	dimOutput:   anthropicHeaderNames("output-tokens"),
}

var anthropicTokensHeaders = anthropicHeaderNames("tokens")

// anthropicHeaderNames names anthropic-ratelimit-<dim>-{limit,remaining,reset}.
func anthropicHeaderNames(dim string) headerNames {
	p := "anthropic-ratelimit-" + dim
	return newHeaderNames(p+"-limit", p+"-remaining", p+"-reset")
}

func (anthropicAPI) rateHeaders(h http.Header, snap *snapshot) {
	for d, names := range anthropicHeaders {
		if names.limit != "" {
			setAnthropicDim(h, names, snap.now, snap.dims[d])
		}
	}
	// The combined tokens-* headers report the most restrictive token limit
	// in effect: the dimension with the fewest tokens left.
	in, out := snap.dims[dimInput], snap.dims[dimOutput]
	tightest := in
	if in.limit == 0 || (out.limit > 0 && out.remaining < in.remaining) {
		tightest = out
	}
	setAnthropicDim(h, anthropicTokensHeaders, snap.now, tightest)
}

func setAnthropicDim(h http.Header, names headerNames, now time.Time, d dimState) {
	if d.limit == 0 {
		return
	}
	setHeader(h, names.limit, strconv.FormatInt(d.limit, 10))
	setHeader(h, names.remaining, strconv.FormatInt(d.remaining, 10))
	setHeader(h, names.reset, resetTime(now, d.full))
}

// resetTime is when a bucket is full again, in RFC 3339 UTC, rounded up to
// the second so the bucket really is full by then.
func resetTime(now time.Time, full time.Duration) string {
	t := now.Add(full).UTC()
	if t.Nanosecond() != 0 {
		t = t.Truncate(time.Second).Add(time.Second)
	}
	return t.Format(time.RFC3339)
}

var anthropicDimNames = [numDims]string{
	dimRequests: "requests",
	dimInput:    "input tokens",
	dimOutput:   "output tokens",
}

func (anthropicAPI) limitError(c *call, short dim) (errClass, string) {
	return errRateLimit, fmt.Sprintf("This request would exceed the rate limit for your organization (%s) of %d %s per minute. "+
		"For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for current usage. "+
		"Please reduce the prompt length or the maximum tokens requested, or try again later.",
		c.ks.org.name, c.snap.dims[short].limit, anthropicDimNames[short])
}

var anthropicErrorTypes = map[errClass]string{
	errInvalid:         invalidRequestError,
	errAuth:            "authentication_error",
	errPermission:      "permission_error",
	errNotFound:        "not_found_error",
	errTooLarge:        "request_too_large",
	errRateLimit:       "rate_limit_error",
	errRateLimitTokens: "rate_limit_error",
	errAPI:             "api_error",
	errOverloaded:      "overloaded_error",
	errMismatchedOrg:   "authentication_error",
}

func (anthropicAPI) writeError(c *call, status int, class errClass, msg string) {
	var e anthropicError
	e.Type = errorType
	e.Error.Type = anthropicErrorTypes[class]
	e.Error.Message = msg
	e.RequestID = c.reqID
	body, _ := json.Marshal(e) // plain strings: cannot fail
	writeJSON(c, status, body)
}

func (c *call) anthropicStop() *string {
	reason := "end_turn"
	if c.cut {
		reason = "max_tokens"
	}
	return &reason
}

func (anthropicAPI) respond(c *call) {
	c.produced = c.output
	body, _ := json.Marshal(anthropicMessage{
		ID:         c.p.newID("msg_"),
		Type:       "message",
		Role:       roleAssistant,
		Model:      c.req.model,
		Content:    []anthropicBlock{{Type: blockText, Text: text(0, c.output)}},
		StopReason: c.anthropicStop(),
		Usage:      c.anthropicUsage(c.output, "standard"),
	})
	writeJSON(c, http.StatusOK, body)
}

// stream sends the real event sequence: message_start, content_block_start,
// ping, content_block_delta..., content_block_stop, message_delta,
// message_stop. A hold gate stops it after ping.
func (anthropicAPI) stream(c *call, s *sseWriter) error {
	start := struct {
		Type    string           `json:"type"`
		Message anthropicMessage `json:"message"`
	}{"message_start", anthropicMessage{
		ID:      c.p.newID("msg_"),
		Type:    "message",
		Role:    roleAssistant,
		Model:   c.req.model,
		Content: []anthropicBlock{},
		// The real API reports a token or so of output at the start; the
		// final count comes in message_delta.
		Usage: c.anthropicUsage(1, "standard"),
	}}
	if err := sendJSON(s, "message_start", start); err != nil {
		return err
	}
	blockStart := []byte(`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
	if err := s.send("content_block_start", blockStart); err != nil {
		return err
	}
	if err := s.send("ping", []byte(`{"type":"ping"}`)); err != nil {
		return err
	}
	if err := c.p.waitHold(s.ctx); err != nil {
		return err
	}
	type textDelta struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	delta := struct {
		Type  string    `json:"type"`
		Index int       `json:"index"`
		Delta textDelta `json:"delta"`
	}{Type: "content_block_delta", Delta: textDelta{Type: "text_delta"}}
	for from := int64(0); from < c.output; from += c.p.chunkTokens {
		to := min(from+c.p.chunkTokens, c.output)
		delta.Delta.Text = text(from, to)
		if err := sendJSON(s, "content_block_delta", delta); err != nil {
			return err
		}
		c.produced = to
	}
	if err := s.send("content_block_stop", []byte(`{"type":"content_block_stop","index":0}`)); err != nil {
		return err
	}
	// Usage in message_delta is cumulative for the whole message, as in the
	// current API: a client must overwrite, not add.
	final := struct {
		Type  string `json:"type"`
		Delta struct {
			StopReason   *string `json:"stop_reason"`
			StopSequence *string `json:"stop_sequence"`
		} `json:"delta"`
		Usage anthropicUsage `json:"usage"`
	}{Type: "message_delta", Usage: c.anthropicUsage(c.output, "")}
	final.Delta.StopReason = c.anthropicStop()
	if err := sendJSON(s, "message_delta", final); err != nil {
		return err
	}
	return s.send("message_stop", []byte(`{"type":"message_stop"}`))
}

// anthropicUsage splits the prompt as the API does: input_tokens is what
// was neither read from nor written to the cache.
func (c *call) anthropicUsage(output int64, tier string) anthropicUsage {
	return anthropicUsage{
		InputTokens:              max(c.req.input-c.cache.read-c.cache.created, 0),
		CacheCreationInputTokens: c.cache.created,
		CacheReadInputTokens:     c.cache.read,
		OutputTokens:             output,
		ServiceTier:              tier,
	}
}
