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
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

// The object APIs: Anthropic's Files and Message Batches, OpenAI's Files,
// Batches and stored Responses. Objects belong to the organisation of the
// key that made them: any key of that organisation reaches them, a key of
// another gets the API's 404, as upstream. Batches end at once, their
// results made as the messages API would answer each request. Object calls
// are outside the rate limits (the providers limit batches apart).

// Names the object answers repeat.
const (
	jsonObject        = "object"
	jsonType          = "type"
	jsonStatus        = "status"
	jsonContent       = "content"
	jsonFilename      = "filename"
	jsonMessage       = "message"
	jsonText          = "text"
	jsonModel         = "model"
	jsonUsage         = "usage"
	jsonBytes         = "bytes"
	statusCompleted   = "completed"
	collectionBatches = "batches"
	kindFile          = "file"
	jsonResponse      = "response"
	jsonSequence      = "sequence_number"
)

// objectStore holds every organisation's objects.
type objectStore struct {
	mu    sync.Mutex
	byOrg map[string]map[string]*object // org -> id -> object
	// misses counts requests naming an object their organisation does not
	// have (404s): a proxy that sends a follow-up to the wrong key shows here.
	misses atomic.Int64
}

// object is one stored object: its answer and, for a file or a batch, its
// content or results.
type object struct {
	meta    map[string]any
	content []byte
	stream  bool // a Responses request asked for events
}

// ObjectMisses is how many requests named an object their key's
// organisation does not hold.
func (p *Provider) ObjectMisses() int64 { return p.objects.misses.Load() }

func (s *objectStore) get(org, id string) *object {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byOrg[org][id]
}

func (s *objectStore) put(org, id string, o *object) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byOrg == nil {
		s.byOrg = make(map[string]map[string]*object)
	}
	if s.byOrg[org] == nil {
		s.byOrg[org] = make(map[string]*object)
	}
	s.byOrg[org][id] = o
}

func (s *objectStore) remove(org, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byOrg[org], id)
}

// list is the organisation's objects whose ids start with prefix.
func (s *objectStore) list(org, prefix string) []any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []any{}
	for id, o := range s.byOrg[org] {
		if strings.HasPrefix(id, prefix) {
			out = append(out, o.meta)
		}
	}
	return out
}

// isObjectPath reports whether path belongs to an object API.
func isObjectPath(path string) bool {
	for _, p := range []string{"/v1/files", "/v1/messages/batches", "/v1/batches", "/v1/responses"} {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// objectCall is one object request: its key's organisation and dialect.
type objectCall struct {
	*call
	org       string
	anthropic bool
}

// serveObjects answers the object APIs.
func (p *Provider) serveObjects(w http.ResponseWriter, r *http.Request) {
	oc := &objectCall{call: &call{p: p, w: w, r: r, reqID: p.newID("req_")},
		anthropic: r.Header.Get("X-Api-Key") != "" || r.Header.Get("Anthropic-Version") != ""}
	var a api = openaiAPI{}
	if oc.anthropic {
		a = anthropicAPI{}
	}
	ks := p.keys[a.apiKey(r)]
	if ks == nil {
		p.unauthenticated.Add(1)
		a.writeError(oc.call, http.StatusUnauthorized, errAuth, "invalid api key")
		return
	}
	oc.org = ks.org.name
	a.metaHeaders(w.Header(), oc.reqID, oc.org)
	ks.stats.requests.Add(1)
	defer func() { ks.stats.record(oc.status) }()

	segs := strings.Split(strings.TrimPrefix(r.URL.Path, "/v1/"), "/")
	if segs[0] == "messages" { // messages/batches/...
		segs = segs[1:]
	}
	id, action := "", ""
	if len(segs) > 1 {
		id = segs[1]
	}
	if len(segs) > 2 {
		action = segs[2]
	}
	switch {
	case r.Method == http.MethodPost && id == "":
		oc.create(a, segs[0])
	case r.Method == http.MethodGet && id == "":
		oc.list(segs[0])
	default:
		oc.onObject(a, r.Method, id, action)
	}
}

// onObject reads, cancels, deletes or fetches the content of object id.
func (oc *objectCall) onObject(a api, method, id, action string) {
	o := oc.p.objects.get(oc.org, id)
	if o == nil {
		oc.p.objects.misses.Add(1)
		oc.notFound(a, id)
		return
	}
	switch {
	case method == http.MethodGet && action == "":
		oc.writeMeta(o.meta)
	case method == http.MethodGet && (action == jsonContent || action == "results"):
		oc.w.Header().Set("Content-Type", "application/octet-stream")
		if action == "results" {
			oc.w.Header().Set("Content-Type", "application/x-jsonl")
		}
		oc.w.WriteHeader(http.StatusOK)
		_, _ = oc.w.Write(o.content)
		oc.status = http.StatusOK
	case method == http.MethodPost && action == "cancel":
		oc.p.objects.mu.Lock()
		if oc.anthropic {
			o.meta["cancel_initiated_at"] = o.meta["created_at"]
		} else {
			o.meta[jsonStatus] = "cancelled"
		}
		oc.p.objects.mu.Unlock()
		oc.writeMeta(o.meta)
	case method == http.MethodDelete && action == "":
		oc.p.objects.remove(oc.org, id)
		deleted := map[string]any{"id": id, jsonObject: o.meta[jsonObject], "deleted": true}
		if oc.anthropic {
			deleted = map[string]any{"id": id, jsonType: o.meta[jsonType].(string) + "_deleted"}
		}
		oc.writeMeta(deleted)
	default:
		a.writeError(oc.call, http.StatusNotFound, errNotFound, "Not found: "+oc.r.URL.Path)
	}
}

// notFound is the API's own answer to an unknown object.
func (oc *objectCall) notFound(a api, id string) {
	msg := "No such object: " + id
	if !oc.anthropic && strings.HasPrefix(id, "resp_") {
		msg = "Response with id '" + id + "' not found."
	}
	a.writeError(oc.call, http.StatusNotFound, errNotFound, msg)
}

func (oc *objectCall) writeMeta(meta map[string]any) {
	oc.p.objects.mu.Lock()
	body, _ := json.Marshal(meta)
	oc.p.objects.mu.Unlock()
	writeJSON(oc.call, http.StatusOK, body)
}

func (oc *objectCall) list(collection string) {
	prefixes := map[string]string{"files": kindFile, collectionBatches: "msgbatch_", "responses": "resp_"}
	prefix := prefixes[collection]
	if !oc.anthropic && collection == collectionBatches {
		prefix = "batch_"
	}
	data := oc.p.objects.list(oc.org, prefix)
	oc.writeMeta(map[string]any{jsonObject: "list", "data": data, "has_more": false})
}

// create makes a file, a batch or a response.
func (oc *objectCall) create(a api, collection string) {
	now := oc.p.clock.Now()
	var (
		id   string
		o    *object
		fail string // a 400's message
	)
	switch {
	case collection == "files":
		id, o, fail = oc.newFile()
	case collection == collectionBatches && oc.anthropic:
		id, o, fail = oc.newAnthropicBatch()
	case collection == collectionBatches:
		id, o, fail = oc.newOpenAIBatch(a)
	case collection == "responses":
		id, o, fail = oc.newResponse(a)
	default:
		a.writeError(oc.call, http.StatusNotFound, errNotFound, "Not found: "+oc.r.URL.Path)
		return
	}
	if o == nil {
		if fail != "" {
			a.writeError(oc.call, http.StatusBadRequest, errInvalid, fail)
		}
		return
	}
	if oc.anthropic {
		o.meta["created_at"] = now.UTC().Format("2006-01-02T15:04:05Z")
	} else {
		o.meta["created_at"] = now.Unix()
	}
	if o.meta["store"] != false {
		oc.p.objects.put(oc.org, id, o)
	}
	if o.stream {
		oc.streamResponse(o.meta)
		return
	}
	oc.writeMeta(o.meta)
}

// newFile reads a multipart upload's "file" part.
func (oc *objectCall) newFile() (string, *object, string) {
	f, hdr, err := oc.r.FormFile(kindFile)
	if err != nil {
		return "", nil, "a multipart body with a file part is required"
	}
	defer f.Close()
	content, err := io.ReadAll(io.LimitReader(f, maxBody))
	if err != nil {
		return "", nil, ""
	}
	if oc.anthropic {
		id := oc.p.newID("file_")
		return id, &object{content: content, meta: map[string]any{"id": id, jsonType: kindFile, jsonFilename: hdr.Filename,
			"mime_type": hdr.Header.Get("Content-Type"), "size_bytes": len(content), "downloadable": false}}, ""
	}
	id := oc.p.newID("file-")
	return id, &object{content: content, meta: map[string]any{"id": id, jsonObject: kindFile, jsonFilename: hdr.Filename,
		jsonBytes: len(content), "purpose": oc.r.FormValue("purpose"), jsonStatus: "processed"}}, ""
}

// readJSON decodes the request body into v; false after a 400.
func (oc *objectCall) readJSON(v any) bool {
	body, err := io.ReadAll(io.LimitReader(oc.r.Body, maxBody))
	return err == nil && json.Unmarshal(body, v) == nil
}

// newAnthropicBatch answers every request of a Message Batch at once.
func (oc *objectCall) newAnthropicBatch() (string, *object, string) {
	var req struct {
		Requests []struct {
			CustomID string          `json:"custom_id"`
			Params   json.RawMessage `json:"params"`
		} `json:"requests"`
	}
	if !oc.readJSON(&req) || len(req.Requests) == 0 {
		return "", nil, "requests: a non-empty list is required"
	}
	id := oc.p.newID("msgbatch_")
	var results bytes.Buffer
	for _, r := range req.Requests {
		msg, ok := oc.answer(anthropicAPI{}, r.Params)
		if !ok {
			return "", nil, "requests." + r.CustomID + ".params: invalid"
		}
		line, _ := json.Marshal(map[string]any{"custom_id": r.CustomID,
			"result": map[string]any{jsonType: "succeeded", jsonMessage: msg}})
		results.Write(append(line, '\n'))
	}
	base := "http://" + oc.r.Host
	return id, &object{content: results.Bytes(), meta: map[string]any{"id": id, jsonType: "message_batch",
		"processing_status": "ended", "request_counts": map[string]int{"processing": 0, "succeeded": len(req.Requests),
			"errored": 0, "canceled": 0, "expired": 0}, "ended_at": nil, "expires_at": nil, "archived_at": nil,
		"cancel_initiated_at": nil, "results_url": base + "/v1/messages/batches/" + id + "/results"}}, ""
}

// newOpenAIBatch answers every line of the batch's input file at once and
// stores the output file.
func (oc *objectCall) newOpenAIBatch(a api) (string, *object, string) {
	var req struct {
		InputFileID      string `json:"input_file_id"`
		Endpoint         string `json:"endpoint"`
		CompletionWindow string `json:"completion_window"`
	}
	if !oc.readJSON(&req) {
		return "", nil, "invalid JSON body"
	}
	in := oc.p.objects.get(oc.org, req.InputFileID)
	if in == nil {
		oc.p.objects.misses.Add(1)
		oc.notFound(a, req.InputFileID)
		return "", nil, ""
	}
	var out bytes.Buffer
	n := 0
	for _, line := range bytes.Split(bytes.TrimSpace(in.content), []byte("\n")) {
		var item struct {
			CustomID string          `json:"custom_id"`
			Body     json.RawMessage `json:"body"`
		}
		if json.Unmarshal(line, &item) != nil {
			return "", nil, "input file line " + string(line) + ": invalid"
		}
		msg, ok := oc.answer(openaiAPI{}, item.Body)
		if !ok {
			return "", nil, "input file line " + item.CustomID + ": invalid body"
		}
		l, _ := json.Marshal(map[string]any{"id": oc.p.newID("batch_req_"), "custom_id": item.CustomID,
			jsonResponse: map[string]any{"status_code": 200, "request_id": oc.p.newID("req_"), "body": msg}, "error": nil})
		out.Write(append(l, '\n'))
		n++
	}
	outID := oc.p.newID("file-")
	oc.p.objects.put(oc.org, outID, &object{content: out.Bytes(), meta: map[string]any{"id": outID, jsonObject: kindFile,
		jsonFilename: "batch_output.jsonl", jsonBytes: out.Len(), "purpose": "batch_output", jsonStatus: "processed"}})
	id := oc.p.newID("batch_")
	return id, &object{meta: map[string]any{"id": id, jsonObject: "batch", "endpoint": req.Endpoint,
		"input_file_id": req.InputFileID, "completion_window": req.CompletionWindow, jsonStatus: statusCompleted,
		"output_file_id": outID, "error_file_id": nil,
		"request_counts": map[string]int{"total": n, statusCompleted: n, "failed": 0}}}, ""
}

// answer is what the generation API would answer params with, usage
// included.
func (oc *objectCall) answer(a api, params json.RawMessage) (any, bool) {
	req, err := a.parse(params)
	if err != nil {
		return nil, false
	}
	c := &call{p: oc.p, req: req}
	c.output, c.cut = outputPlan(oc.p.outputTokens, req.directive, req.maxTokens)
	if _, ok := a.(anthropicAPI); ok {
		return anthropicMessage{ID: oc.p.newID("msg_"), Type: jsonMessage, Role: roleAssistant, Model: req.model,
			Content: []anthropicBlock{{Type: jsonText, Text: text(0, c.output)}}, StopReason: c.anthropicStop(),
			Usage: anthropicUsage{InputTokens: req.input, OutputTokens: c.output}}, true
	}
	return map[string]any{"id": oc.p.newID("chatcmpl-"), jsonObject: "chat.completion", jsonModel: req.model,
		"choices": []any{map[string]any{"index": 0, "finish_reason": c.openaiFinish(),
			jsonMessage: map[string]any{"role": roleAssistant, jsonContent: text(0, c.output)}}},
		jsonUsage: map[string]int64{"prompt_tokens": req.input, "completion_tokens": c.output,
			"total_tokens": req.input + c.output}}, true
}

// newResponse answers a Responses API request; it is stored unless the
// request says "store": false, and its previous_response_id must be one
// of the organisation's.
func (oc *objectCall) newResponse(a api) (string, *object, string) {
	var req struct {
		Model              string          `json:"model"`
		Input              json.RawMessage `json:"input"`
		PreviousResponseID string          `json:"previous_response_id"`
		Store              *bool           `json:"store"`
		Stream             bool            `json:"stream"`
	}
	if !oc.readJSON(&req) || req.Model == "" {
		return "", nil, "model: a model is required"
	}
	if req.PreviousResponseID != "" && oc.p.objects.get(oc.org, req.PreviousResponseID) == nil {
		oc.p.objects.misses.Add(1)
		a.writeError(oc.call, http.StatusNotFound, errNotFound,
			"Previous response with id '"+req.PreviousResponseID+"' not found.")
		return "", nil, ""
	}
	input := max(int64(len(req.Input))/4, 1)
	output := oc.p.outputTokens
	id := oc.p.newID("resp_")
	var prev any
	if req.PreviousResponseID != "" {
		prev = req.PreviousResponseID
	}
	return id, &object{stream: req.Stream, meta: map[string]any{"id": id, jsonObject: jsonResponse,
		jsonStatus: statusCompleted, jsonModel: req.Model, "previous_response_id": prev, "store": req.Store == nil || *req.Store,
		"output": []any{map[string]any{jsonType: jsonMessage, "id": oc.p.newID("msg_"), jsonStatus: statusCompleted,
			"role": roleAssistant, jsonContent: []any{map[string]any{jsonType: "output_text", jsonText: text(0, output),
				"annotations": []any{}}}}},
		jsonUsage: map[string]int64{"input_tokens": input, "output_tokens": output, "total_tokens": input + output}}}, ""
}

// streamResponse sends a response as the Responses API's events:
// response.created, one output_text delta, response.completed with usage.
func (oc *objectCall) streamResponse(meta map[string]any) {
	s := newSSEWriter(oc.call, openaiAPI{})
	oc.p.objects.mu.Lock()
	created, _ := json.Marshal(map[string]any{jsonType: "response.created", jsonSequence: 0, jsonResponse: map[string]any{
		"id": meta["id"], jsonObject: jsonResponse, jsonStatus: "in_progress", jsonModel: meta[jsonModel]}})
	completed, _ := json.Marshal(map[string]any{jsonType: "response.completed", jsonSequence: 2, jsonResponse: meta})
	oc.p.objects.mu.Unlock()
	delta, _ := json.Marshal(map[string]any{jsonType: "response.output_text.delta", jsonSequence: 1,
		"item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": text(0, oc.p.outputTokens)})
	if s.send("response.created", created) == nil && s.send("response.output_text.delta", delta) == nil &&
		s.send("response.completed", completed) == nil {
		oc.status = http.StatusOK
	}
}
