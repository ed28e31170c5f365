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
	"strings"
)

// geminiAPI is Google's Gemini API: the key in x-goog-api-key (or the key
// query parameter), the model and the method in the path
// (/v1beta/models/{model}:generateContent, :streamGenerateContent?alt=sse),
// usage in usageMetadata, no rate-limit headers, a bad key answered with 400
// API_KEY_INVALID, and a 429 RESOURCE_EXHAUSTED whose RetryInfo (not a
// Retry-After header) says how long to wait.
type geminiAPI struct {
	model     string
	streaming bool // :streamGenerateContent
	sse       bool // alt=sse: server-sent events, else one JSON array
}

// Gemini's request, as far as the fake reads it.
type geminiRequest struct {
	Contents          []geminiContent `json:"contents"`
	SystemInstruction *geminiContent  `json:"systemInstruction"`
	GenerationConfig  *struct {
		MaxOutputTokens *int64 `json:"maxOutputTokens"`
	} `json:"generationConfig"`
}

type geminiContent struct {
	Role  string          `json:"role,omitempty"`
	Parts json.RawMessage `json:"parts"`
}

type geminiPart struct {
	Text string `json:"text"`
}

type geminiCandidate struct {
	Content struct {
		Parts []geminiPart `json:"parts"`
		Role  string       `json:"role"`
	} `json:"content"`
	FinishReason string `json:"finishReason,omitempty"`
	Index        int    `json:"index"`
}

type geminiModalityCount struct {
	Modality   string `json:"modality"`
	TokenCount int64  `json:"tokenCount"`
}

type geminiUsage struct {
	PromptTokenCount     int64                 `json:"promptTokenCount"`
	CandidatesTokenCount int64                 `json:"candidatesTokenCount,omitempty"`
	TotalTokenCount      int64                 `json:"totalTokenCount"`
	PromptTokensDetails  []geminiModalityCount `json:"promptTokensDetails"`
}

type geminiResponse struct {
	Candidates    []geminiCandidate `json:"candidates"`
	UsageMetadata geminiUsage       `json:"usageMetadata"`
	ModelVersion  string            `json:"modelVersion"`
	ResponseID    string            `json:"responseId"`
}

// Google's error shape (google.rpc.Status) with the details Gemini sends.
type googleError struct {
	Error struct {
		Code    int              `json:"code"`
		Message string           `json:"message"`
		Status  string           `json:"status"`
		Details []map[string]any `json:"details,omitempty"`
	} `json:"error"`
}

// geminiRoute reads /v1beta/models/{model}:{method} (or /v1/...). ok is false
// for any other path or method.
func geminiRoute(r *http.Request) (g geminiAPI, ok bool) {
	rest, found := strings.CutPrefix(r.URL.Path, "/v1beta/models/")
	if !found {
		if rest, found = strings.CutPrefix(r.URL.Path, "/v1/models/"); !found {
			return g, false
		}
	}
	model, method, found := strings.Cut(rest, ":")
	if !found || model == "" {
		return g, false
	}
	switch method {
	case "generateContent":
	case methodStreamGenerate:
		g.streaming, g.sse = true, r.URL.Query().Get("alt") == "sse"
	default:
		return g, false
	}
	g.model = model
	return g, true
}

func (geminiAPI) apiKey(r *http.Request) string {
	if k := r.Header.Get("X-Goog-Api-Key"); k != "" {
		return k
	}
	return r.URL.Query().Get("key")
}

func (g geminiAPI) parse(body []byte) (request, error) {
	var in geminiRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return request{}, fmt.Errorf("invalid JSON payload received: %w", err)
	}
	if len(in.Contents) == 0 {
		return request{}, errors.New("* GenerateContentRequest.contents: contents is not specified")
	}
	msgs := make([]message, len(in.Contents))
	for i, c := range in.Contents {
		msgs[i] = message{Role: c.Role, Content: c.Parts}
		if c.Role == "" { // a single-turn request may leave the role out
			msgs[i].Role = "user"
		}
	}
	var system json.RawMessage
	if in.SystemInstruction != nil {
		system = in.SystemInstruction.Parts
	}
	var maxTokens int64
	if gc := in.GenerationConfig; gc != nil && gc.MaxOutputTokens != nil {
		if *gc.MaxOutputTokens < 1 {
			return request{}, errors.New("* GenerateContentRequest.generation_config.max_output_tokens: must be positive")
		}
		maxTokens = *gc.MaxOutputTokens
	}
	return request{
		model:     g.model,
		stream:    g.streaming && g.sse, // without alt=sse, respond writes the array
		input:     estimateInput(system, msgs),
		maxTokens: maxTokens,
		directive: outputDirective(msgs),
	}, nil
}

// admission: Gemini's per-minute token quota, like OpenAI's, is one bucket.
func (geminiAPI) admission(input int64) admission {
	return admission{inDim: dimTokens, input: input, outDim: dimTokens}
}

func (geminiAPI) metaHeaders(h http.Header, _, _ string) {
	h.Set("Server-Timing", "gfet4t7; dur=412")
	h.Set("Vary", "Origin, X-Origin, Referer")
}

// rateHeaders sends nothing: Gemini has no rate-limit headers.
func (geminiAPI) rateHeaders(http.Header, *snapshot) {}

func (geminiAPI) limitError(*call, dim) (errClass, string) {
	return errRateLimit, "You exceeded your current quota, please check your plan and billing details. " +
		"For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits."
}

// Google's names the fake's errors use.
const (
	statusInvalidArgument = "INVALID_ARGUMENT"
	detailType            = "@type"
)

// googleStatuses are google.rpc.Code names per class.
var googleStatuses = map[errClass]string{
	errInvalid:         statusInvalidArgument,
	errAuth:            statusInvalidArgument, // a bad key is a bad argument to Google
	errPermission:      "PERMISSION_DENIED",
	errNotFound:        "NOT_FOUND",
	errTooLarge:        statusInvalidArgument,
	errRateLimit:       "RESOURCE_EXHAUSTED",
	errRateLimitTokens: "RESOURCE_EXHAUSTED",
	errAPI:             "INTERNAL",
	errOverloaded:      "UNAVAILABLE",
}

// writeError writes Google's shape. A bad key is 400 API_KEY_INVALID (not
// 401); a 429's wait moves from the Retry-After header the shared flow set
// into a RetryInfo detail, where Gemini sends it.
func (g geminiAPI) writeError(c *call, status int, class errClass, msg string) {
	var e googleError
	switch class {
	case errAuth:
		status, msg = http.StatusBadRequest, "API key not valid. Please pass a valid API key."
		e.Error.Details = []map[string]any{{
			detailType: "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com",
			"metadata": map[string]string{"service": "generativelanguage.googleapis.com"},
		}}
	case errRateLimit, errRateLimitTokens:
		e.Error.Details = []map[string]any{{
			detailType: "type.googleapis.com/google.rpc.QuotaFailure",
			"violations": []map[string]any{{
				"quotaMetric":     "generativelanguage.googleapis.com/generate_content_paid_tier_requests",
				"quotaId":         "GenerateRequestsPerMinutePerProjectPerModel",
				"quotaDimensions": map[string]string{"location": "global", "model": g.model},
			}},
		}, {
			detailType: "type.googleapis.com/google.rpc.Help",
			"links": []map[string]string{{
				"description": "Learn more about Gemini API quotas",
				"url":         "https://ai.google.dev/gemini-api/docs/rate-limits",
			}},
		}}
		h := c.w.Header()
		if ra := h.Get("Retry-After"); ra != "" {
			h.Del("Retry-After")
			e.Error.Details = append(e.Error.Details, map[string]any{
				detailType: "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": ra + "s"})
		}
	}
	s, ok := googleStatuses[class]
	if !ok {
		s = "UNKNOWN"
	}
	e.Error.Code, e.Error.Message, e.Error.Status = status, msg, s
	body, _ := json.Marshal(e) // strings and maps of strings: cannot fail
	writeJSON(c, status, body)
}

func (c *call) geminiFinish() string {
	if c.cut {
		return "MAX_TOKENS"
	}
	return "STOP"
}

// geminiResponse is one response or chunk carrying text, the output
// produced so far and, when finish is set, the finish reason.
func (c *call) geminiResponse(text string, produced int64, finish bool, id string) geminiResponse {
	r := geminiResponse{
		Candidates: []geminiCandidate{{}},
		UsageMetadata: geminiUsage{
			PromptTokenCount: c.req.input, CandidatesTokenCount: produced, TotalTokenCount: c.req.input + produced,
			PromptTokensDetails: []geminiModalityCount{{Modality: "TEXT", TokenCount: c.req.input}},
		},
		ModelVersion: c.req.model,
		ResponseID:   id,
	}
	r.Candidates[0].Content.Parts = []geminiPart{{Text: text}}
	r.Candidates[0].Content.Role = "model"
	if finish {
		r.Candidates[0].FinishReason = c.geminiFinish()
	}
	return r
}

func (g geminiAPI) respond(c *call) {
	c.produced = c.output
	body, _ := json.Marshal(c.geminiResponse(text(0, c.output), c.output, true, c.p.newID("")))
	if g.streaming { // streamGenerateContent without alt=sse: a JSON array of chunks
		body = append(append([]byte("["), body...), ']')
	}
	writeJSON(c, http.StatusOK, body)
}

// stream sends one chunk per StreamChunkTokens, each with the cumulative
// usageMetadata and the last with the finish reason, as data-only events
// ended by CRLF CRLF, as Gemini does. Without alt=sse the chunks are the
// elements of one JSON array. A hold gate stops it after the first chunk.
func (g geminiAPI) stream(c *call, s *sseWriter) error {
	id := c.p.newID("")
	s.crlf = true
	for from := int64(0); ; from += c.p.chunkTokens {
		to := min(from+c.p.chunkTokens, c.output)
		last := to >= c.output
		if err := sendJSON(s, "", c.geminiResponse(text(from, to), to, last, id)); err != nil {
			return err
		}
		c.produced = to
		if from == 0 {
			if err := c.p.waitHold(s.ctx); err != nil {
				return err
			}
		}
		if last {
			return nil
		}
	}
}
