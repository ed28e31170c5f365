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
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// bedrockAPI is Amazon Bedrock's runtime: SigV4-signed requests (verified
// for real, sigv4.go) or a Bedrock API key as a bearer token; the model in
// the path (/model/{id}/invoke, /invoke-with-response-stream, /converse,
// /converse-stream); the Anthropic Messages body with anthropic_version
// bedrock-2023-05-31 and no model, or the Converse body; streams as AWS
// event-stream messages; no rate-limit headers; errors {"message":...} typed
// by X-Amzn-ErrorType, a throttled request 429 ThrottlingException.
type bedrockAPI struct {
	p       *Provider
	model   string
	op      string
	refusal *string // why apiKey refused the credential
}

// The Bedrock runtime operations the fake serves.
const (
	opInvoke         = "invoke"
	opInvokeStream   = "invoke-with-response-stream"
	opConverse       = "converse"
	opConverseStream = "converse-stream"
)

func (p *Provider) serveBedrock(w http.ResponseWriter, r *http.Request) {
	b := bedrockAPI{p: p, refusal: new(string)}
	rest, _ := strings.CutPrefix(r.URL.Path, "/model/")
	model, op, _ := strings.Cut(rest, "/")
	switch op {
	case opInvoke, opInvokeStream, opConverse, opConverseStream:
		if model != "" {
			b.model, b.op = model, op
			p.serveAPI(w, r, b)
			return
		}
	}
	c := &call{p: p, w: w, reqID: p.newID("")}
	b.writeError(c, http.StatusNotFound, errNotFound, "The requested operation is not recognized by the service.")
}

func (b bedrockAPI) apiKey(r *http.Request) string {
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		if _, signed := b.p.secrets[tok]; !signed {
			return tok
		}
		return ""
	}
	key, refusal := b.p.verifySigV4(r)
	*b.refusal = refusal
	return key
}

// bedrockAnthropicVersion is the anthropic_version Bedrock requires.
const bedrockAnthropicVersion = "bedrock-2023-05-31"

func (b bedrockAPI) parse(body []byte) (request, error) {
	if b.op == opConverse || b.op == opConverseStream {
		return b.parseConverse(body)
	}
	var in struct {
		Version string          `json:"anthropic_version"`
		Model   json.RawMessage `json:"model"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return request{}, fmt.Errorf("malformed input request: %w", err)
	}
	switch {
	case in.Model != nil:
		return request{}, errors.New("extraneous key [model] is not permitted")
	case in.Version != bedrockAnthropicVersion:
		return request{}, errors.New("invalid anthropic_version: use " + bedrockAnthropicVersion)
	}
	// The model is the path's: Anthropic's parser reads it from the body.
	withModel := append([]byte(`{"model":`+strconv.Quote(b.model)+`,`), bytes.TrimSpace(body)[1:]...)
	req, err := anthropicAPI{}.parse(withModel)
	req.stream = b.op == opInvokeStream
	return req, err
}

// converseRequest is the Converse body, as far as the fake reads it.
type converseRequest struct {
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	System          json.RawMessage `json:"system"`
	InferenceConfig *struct {
		MaxTokens *int64 `json:"maxTokens"`
	} `json:"inferenceConfig"`
}

func (b bedrockAPI) parseConverse(body []byte) (request, error) {
	var in converseRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return request{}, fmt.Errorf("malformed input request: %w", err)
	}
	if len(in.Messages) == 0 {
		return request{}, errors.New("a conversation must start with a user message")
	}
	msgs := make([]message, len(in.Messages))
	for i, m := range in.Messages {
		msgs[i] = message{Role: m.Role, Content: m.Content}
	}
	var maxTokens int64
	if ic := in.InferenceConfig; ic != nil && ic.MaxTokens != nil {
		maxTokens = *ic.MaxTokens
	}
	return request{
		model:     b.model,
		stream:    b.op == opConverseStream,
		input:     estimateInput(in.System, msgs),
		maxTokens: maxTokens,
		directive: outputDirective(msgs),
	}, nil
}

// admission: Bedrock's quotas are requests and tokens per minute per model;
// the fake keeps input and output apart, as for Anthropic.
func (bedrockAPI) admission(input int64) admission { return anthropicAPI{}.admission(input) }

func (bedrockAPI) metaHeaders(h http.Header, reqID, _ string) { h.Set("X-Amzn-Requestid", reqID) }

// rateHeaders sends nothing: Bedrock has no rate-limit headers.
func (bedrockAPI) rateHeaders(http.Header, *snapshot) {}

func (bedrockAPI) limitError(*call, dim) (errClass, string) {
	return errRateLimit, "Too many requests, please wait before trying again."
}

// bedrockErrors are X-Amzn-ErrorType and status per class.
var bedrockErrors = map[errClass]struct {
	typ    string
	status int
}{
	errInvalid:         {"ValidationException", http.StatusBadRequest},
	errAuth:            {"UnrecognizedClientException", http.StatusForbidden},
	errPermission:      {"AccessDeniedException", http.StatusForbidden},
	errNotFound:        {"ResourceNotFoundException", http.StatusNotFound},
	errTooLarge:        {"ValidationException", http.StatusBadRequest},
	errRateLimit:       {"ThrottlingException", http.StatusTooManyRequests},
	errRateLimitTokens: {"ThrottlingException", http.StatusTooManyRequests},
	errAPI:             {"InternalServerException", http.StatusInternalServerError},
	errOverloaded:      {"ServiceUnavailableException", http.StatusServiceUnavailable},
}

// writeError writes AWS's shape. A refused credential is 403 with AWS's own
// message; Bedrock sends no Retry-After.
func (b bedrockAPI) writeError(c *call, status int, class errClass, msg string) {
	e, ok := bedrockErrors[class]
	if !ok {
		e = bedrockErrors[errInvalid]
	}
	switch class {
	case errAuth:
		msg = msgUnrecognized
		if b.refusal != nil && *b.refusal != "" {
			msg = *b.refusal
		}
		if strings.Contains(strings.ToLower(msg), "signature") {
			e.typ = "InvalidSignatureException"
		}
		status = e.status
	case errPermission:
		msg, status = "You don't have access to the model with the specified model ID.", e.status
	case errInvalid, errNotFound, errTooLarge, errRateLimit, errRateLimitTokens:
		status = e.status
	}
	h := c.w.Header()
	h.Del("Retry-After")
	h.Set("X-Amzn-Errortype", e.typ+":http://internal.amazon.com/coral/com.amazon.bedrock/")
	body, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{msg})
	writeJSON(c, status, body)
}

func (b bedrockAPI) respond(c *call) {
	h := c.w.Header()
	h.Set("X-Amzn-Bedrock-Input-Token-Count", strconv.FormatInt(c.req.input, 10))
	h.Set("X-Amzn-Bedrock-Output-Token-Count", strconv.FormatInt(c.output, 10))
	if b.op == opInvoke {
		anthropicAPI{}.respond(c)
		return
	}
	c.produced = c.output
	var out struct {
		Output struct {
			Message struct {
				Role    string           `json:"role"`
				Content []map[string]any `json:"content"`
			} `json:"message"`
		} `json:"output"`
		StopReason string        `json:"stopReason"`
		Usage      converseUsage `json:"usage"`
		Metrics    struct {
			LatencyMs int `json:"latencyMs"`
		} `json:"metrics"`
	}
	out.Output.Message.Role = roleAssistant
	out.Output.Message.Content = []map[string]any{{blockText: text(0, c.output)}}
	out.StopReason = c.converseStop()
	out.Usage = c.converseUsage()
	out.Metrics.LatencyMs = 412
	body, _ := json.Marshal(out)
	writeJSON(c, http.StatusOK, body)
}

type converseUsage struct {
	InputTokens  int64 `json:"inputTokens"`
	OutputTokens int64 `json:"outputTokens"`
	TotalTokens  int64 `json:"totalTokens"`
}

func (c *call) converseUsage() converseUsage {
	return converseUsage{c.req.input, c.produced, c.req.input + c.produced}
}

func (c *call) converseStop() string {
	if c.cut {
		return "max_tokens"
	}
	return "end_turn"
}

// stream: InvokeModelWithResponseStream sends the Anthropic event sequence,
// each event a chunk (framing); ConverseStream its own events.
func (b bedrockAPI) stream(c *call, s *sseWriter) error {
	if b.op == opInvokeStream {
		return anthropicAPI{}.stream(c, s)
	}
	if err := s.send("messageStart", []byte(`{"role":"assistant"}`)); err != nil {
		return err
	}
	if err := c.p.waitHold(s.ctx); err != nil {
		return err
	}
	type delta struct {
		Index int               `json:"contentBlockIndex"`
		Delta map[string]string `json:"delta"`
	}
	for from := int64(0); from < c.output; from += c.p.chunkTokens {
		to := min(from+c.p.chunkTokens, c.output)
		if err := sendJSON(s, "contentBlockDelta", delta{Delta: map[string]string{blockText: text(from, to)}}); err != nil {
			return err
		}
		c.produced = to
	}
	if err := s.send("contentBlockStop", []byte(`{"contentBlockIndex":0}`)); err != nil {
		return err
	}
	if err := sendJSON(s, "messageStop", map[string]string{"stopReason": c.converseStop()}); err != nil {
		return err
	}
	return sendJSON(s, "metadata", map[string]any{jsonUsage: c.converseUsage(), "metrics": map[string]int{"latencyMs": 412}})
}

// framing: AWS event-stream messages. An InvokeModelWithResponseStream
// chunk carries the model's event base64 in "bytes", and the last one
// (message_stop) Bedrock's own invocation metrics; a ConverseStream
// event is its JSON, named by :event-type.
func (b bedrockAPI) framing(c *call) (string, func([]byte, string, []byte) []byte) {
	enc := eventstream.NewEncoder()
	return "application/vnd.amazon.eventstream", func(buf []byte, event string, data []byte) []byte {
		payload := data
		if b.op == opInvokeStream {
			if event == "message_stop" {
				data, _ = json.Marshal(map[string]any{"type": "message_stop", "amazon-bedrock-invocationMetrics": map[string]int64{
					"inputTokenCount": c.req.input, "outputTokenCount": c.produced,
					"invocationLatency": 412, "firstByteLatency": 120,
				}})
			}
			payload, _ = json.Marshal(map[string][]byte{jsonBytes: data})
			event = "chunk"
		}
		out := bytes.NewBuffer(buf)
		_ = enc.Encode(out, eventstream.Message{Headers: eventstream.Headers{
			{Name: ":event-type", Value: eventstream.StringValue(event)},
			{Name: ":content-type", Value: eventstream.StringValue("application/json")},
			{Name: ":message-type", Value: eventstream.StringValue("event")},
		}, Payload: payload})
		return out.Bytes()
	}
}

// serveBedrockList answers the control plane's listings of foundation
// models and inference profiles, signed as any Bedrock request.
func (p *Provider) serveBedrockList(w http.ResponseWriter, r *http.Request) {
	p.serveModels(w, r, bedrockAPI{p: p, refusal: new(string)})
}

// bedrockListing is a listing's body.
func bedrockListing(path string) []byte {
	if path == "/inference-profiles" {
		return []byte(`{"inferenceProfileSummaries":[{"inferenceProfileId":"us.anthropic.claude-sonnet-4-5-v1:0",` +
			`"inferenceProfileName":"US Claude Sonnet 4.5","status":"ACTIVE","type":"SYSTEM_DEFINED",` +
			`"models":[{"modelArn":"arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-4-5-v1:0"}]}]}`)
	}
	return []byte(`{"modelSummaries":[{"modelId":"anthropic.claude-sonnet-4-5-v1:0","providerName":"Anthropic",` +
		`"modelName":"Claude Sonnet 4.5","inputModalities":["TEXT","IMAGE"],"outputModalities":["TEXT"],` +
		`"responseStreamingSupported":true}]}`)
}
