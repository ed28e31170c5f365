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
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	anthropicoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	openaioption "github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/keypool-dev/keypool-operator/internal/keypool"
	"github.com/keypool-dev/keypool-operator/internal/objectid"
	"github.com/keypool-dev/keypool-operator/internal/provider"
	"github.com/keypool-dev/keypool-operator/internal/proxytest"
)

// testSealer seals object IDs with a fixed secret: every proxy of a test
// (a restart, a second replica) opens the others' IDs.
func testSealer(t testing.TB) *objectid.Sealer {
	t.Helper()
	s, err := objectid.New(bytes.Repeat([]byte("s"), objectid.MinSecretBytes))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// objectEnv is a pool of two keys, each in an organisation of its own at
// the fake provider, used by two clients: team-a (clientToken) and team-b
// ("another-client").
func objectEnv(t *testing.T, prov provider.Provider) *env {
	return newEnv(t, envConfig{provider: prov, clientNames: []string{"team-b", "team-a"},
		keys: proxytest.Keys([]string{keyValue(1), keyValue(2)}, false)})
}

func anthropicClient(e *env, token string) anthropic.Client { return anthropicClientAt(e.base, token) }

func anthropicClientAt(base, token string) anthropic.Client {
	return anthropic.NewClient(anthropicoption.WithBaseURL(base+"/"), anthropicoption.WithAPIKey(token),
		anthropicoption.WithMaxRetries(0))
}

func openAIClient(e *env, token string) openai.Client {
	return openai.NewClient(openaioption.WithBaseURL(e.base+"/v1/"), openaioption.WithAPIKey(token),
		openaioption.WithMaxRetries(0))
}

// wantAPIStatus checks that err is the SDK's error for status.
func wantAnthropicStatus(t *testing.T, err error, status int, what string) {
	t.Helper()
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != status {
		t.Errorf("%s: want %d from the API, got %v", what, status, err)
	}
}

func wantOpenAIStatus(t *testing.T, err error, status int, what string) {
	t.Helper()
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != status {
		t.Errorf("%s: want %d from the API, got %v", what, status, err)
	}
}

// TestAnthropicObjectsFollowTheirKeyAndOwner: files and message batches made
// through a pool whose keys are in two organisations are read, fetched and
// deleted through the key that made them (the fake provider would answer
// 404 from the other organisation), by their creator only; a second proxy
// with the same secret (a restart, another replica) serves the same IDs.
func TestAnthropicObjectsFollowTheirKeyAndOwner(t *testing.T) {
	e := objectEnv(t, provider.Anthropic)
	a, b := anthropicClient(e, clientToken), anthropicClient(e, "another-client")
	ctx := t.Context()
	servedBy := map[string]int{}
	var files, batches []string
	for i := range 25 {
		var resp *http.Response
		f, err := a.Beta.Files.Upload(ctx, anthropic.BetaFileUploadParams{
			File: anthropic.File(strings.NewReader("file body"), "notes.txt", "text/plain")},
			anthropicoption.WithResponseInto(&resp))
		if err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
		servedBy[resp.Header.Get(HeaderKey)]++
		files = append(files, f.ID)
		batch, err := a.Messages.Batches.New(ctx, anthropic.MessageBatchNewParams{
			Requests: []anthropic.MessageBatchNewParamsRequest{{CustomID: "r1", Params: anthropic.MessageBatchNewParamsRequestParams{
				Model: "claude-test", MaxTokens: 100,
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi [[output_tokens=7]]"))}}}}},
			anthropicoption.WithResponseInto(&resp))
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		servedBy[resp.Header.Get(HeaderKey)]++
		batches = append(batches, batch.ID)
		if !strings.HasPrefix(f.ID, "file_"+objectid.Marker) || !strings.HasPrefix(batch.ID, "msgbatch_"+objectid.Marker) {
			t.Errorf("ids %q, %q are not sealed", f.ID, batch.ID)
		}
		if !strings.HasPrefix(batch.ResultsURL, e.base+"/v1/messages/batches/"+batch.ID+"/") {
			t.Errorf("results_url %q does not point at the proxy", batch.ResultsURL)
		}
	}
	if len(servedBy) != 2 {
		t.Fatalf("objects were made on keys %v, want both keys", servedBy)
	}
	// A message that names a file goes to the key that holds it.
	for _, id := range files[:4] {
		var resp *http.Response
		meta, err := a.Beta.Files.GetMetadata(ctx, id, anthropic.BetaFileGetMetadataParams{}, anthropicoption.WithResponseInto(&resp))
		if err != nil || meta.ID != id {
			t.Fatalf("file %s: %v", id, err)
		}
		holder := resp.Header.Get(HeaderKey)
		_, err = a.Messages.New(ctx, anthropic.MessageNewParams{Model: "claude-test", MaxTokens: 10,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("summarise"),
				anthropic.NewDocumentBlock(anthropic.FileDocumentSourceParam{FileID: id}))}},
			anthropicoption.WithResponseInto(&resp))
		if err != nil || resp.Header.Get(HeaderKey) != holder {
			t.Errorf("a message naming file %s went to %s, the file is on %s (%v)", id, resp.Header.Get(HeaderKey), holder, err)
		}
	}

	// A restart, or another replica: a new proxy with the same secret.
	replica := httptest.NewServer(New(e.reg, Options{Transport: e.Transport, Metrics: prometheus.NewRegistry(), ObjectIDs: testSealer(t)}))
	t.Cleanup(replica.Close)
	base := replica.URL + "/pools/" + namespace + "/" + poolName
	a, b = anthropicClientAt(base, clientToken), anthropicClientAt(base, "another-client")
	for i := range files {
		if _, err := b.Beta.Files.GetMetadata(ctx, files[i], anthropic.BetaFileGetMetadataParams{}); err == nil {
			t.Fatal("another client read a file")
		} else {
			wantAnthropicStatus(t, err, http.StatusNotFound, "another client's read")
		}
		_, err := b.Messages.Batches.Cancel(ctx, batches[i], anthropic.MessageBatchCancelParams{})
		wantAnthropicStatus(t, err, http.StatusNotFound, "another client's cancel")
		_, err = b.Messages.Batches.Delete(ctx, batches[i], anthropic.MessageBatchDeleteParams{})
		wantAnthropicStatus(t, err, http.StatusNotFound, "another client's delete")

		meta, err := a.Beta.Files.GetMetadata(ctx, files[i], anthropic.BetaFileGetMetadataParams{})
		if err != nil || meta.ID != files[i] {
			t.Fatalf("file %d: %+v, %v", i, meta, err)
		}
		got, err := a.Messages.Batches.Get(ctx, batches[i], anthropic.MessageBatchGetParams{})
		if err != nil || got.ID != batches[i] {
			t.Fatalf("batch %d: %+v, %v", i, got, err)
		}
		results := a.Messages.Batches.ResultsStreaming(ctx, batches[i], anthropic.MessageBatchResultsParams{})
		n := 0
		for results.Next() {
			if r := results.Current(); r.Result.Message.Usage.OutputTokens != 7 {
				t.Errorf("batch %d result %+v", i, r)
			}
			n++
		}
		if err := results.Err(); err != nil || n != 1 {
			t.Fatalf("batch %d results: %d, %v", i, n, err)
		}
		if _, err := a.Beta.Files.Delete(ctx, files[i], anthropic.BetaFileDeleteParams{}); err != nil {
			t.Fatalf("delete file %d: %v", i, err)
		}
		if _, err := a.Messages.Batches.Delete(ctx, batches[i], anthropic.MessageBatchDeleteParams{}); err != nil {
			t.Fatalf("delete batch %d: %v", i, err)
		}
	}
	if n := e.fake.ObjectMisses(); n != 0 {
		t.Errorf("the provider answered %d requests for objects with 404: sent to a key that does not hold them", n)
	}
	e.waitIdle()
}

// TestOpenAIObjectsFollowTheirKeyAndOwner: OpenAI files, a batch on an
// uploaded file, its output file and a chain of stored responses
// (previous_response_id), across two organisations.
func TestOpenAIObjectsFollowTheirKeyAndOwner(t *testing.T) {
	e := objectEnv(t, provider.OpenAI)
	a, b := openAIClient(e, clientToken), openAIClient(e, "another-client")
	ctx := t.Context()
	servedBy := map[string]int{}
	for i := range 10 {
		var resp *http.Response
		in := `{"custom_id":"r1","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-test",` +
			`"messages":[{"role":"user","content":"hi [[output_tokens=5]]"}]}}` + "\n"
		f, err := a.Files.New(ctx, openai.FileNewParams{File: openai.File(strings.NewReader(in), "in.jsonl", "application/jsonl"),
			Purpose: openai.FilePurposeBatch}, openaioption.WithResponseInto(&resp))
		if err != nil {
			t.Fatalf("file %d: %v", i, err)
		}
		servedBy[resp.Header.Get(HeaderKey)]++
		batch, err := a.Batches.New(ctx, openai.BatchNewParams{InputFileID: f.ID,
			Endpoint: openai.BatchNewParamsEndpointV1ChatCompletions, CompletionWindow: openai.BatchNewParamsCompletionWindow24h})
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		if batch.InputFileID != f.ID || !strings.HasPrefix(batch.OutputFileID, "file-"+objectid.Marker) {
			t.Fatalf("batch %+v: file ids not sealed as the client knows them", batch)
		}
		if _, err := b.Batches.Get(ctx, batch.ID); err == nil {
			t.Fatal("another client read a batch")
		} else {
			wantOpenAIStatus(t, err, http.StatusNotFound, "another client's batch read")
		}
		_, err = b.Batches.Cancel(ctx, batch.ID)
		wantOpenAIStatus(t, err, http.StatusNotFound, "another client's cancel")
		_, err = b.Files.Delete(ctx, f.ID)
		wantOpenAIStatus(t, err, http.StatusNotFound, "another client's file delete")

		out, err := a.Files.Content(ctx, batch.OutputFileID)
		if err != nil {
			t.Fatalf("output %d: %v", i, err)
		}
		body, _ := io.ReadAll(out.Body)
		_ = out.Body.Close()
		if !bytes.Contains(body, []byte(`"completion_tokens":5`)) {
			t.Errorf("batch output %s", body)
		}

		first, err := a.Responses.New(ctx, responses.ResponseNewParams{Model: "gpt-test",
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hello")}}, openaioption.WithResponseInto(&resp))
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		servedBy[resp.Header.Get(HeaderKey)]++
		next, err := a.Responses.New(ctx, responses.ResponseNewParams{Model: "gpt-test", PreviousResponseID: openai.String(first.ID),
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("and then?")}})
		if err != nil {
			t.Fatalf("follow-up %d: %v", i, err)
		}
		if next.PreviousResponseID != first.ID {
			t.Errorf("follow-up names %q, want %q", next.PreviousResponseID, first.ID)
		}
		_, err = b.Responses.New(ctx, responses.ResponseNewParams{Model: "gpt-test", PreviousResponseID: openai.String(first.ID),
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("steal")}})
		wantOpenAIStatus(t, err, http.StatusNotFound, "another client's previous_response_id")
	}
	if len(servedBy) != 2 {
		t.Errorf("objects were made on keys %v, want both keys", servedBy)
	}
	if n := e.fake.ObjectMisses(); n != 0 {
		t.Errorf("the provider answered %d requests for objects with 404", n)
	}
	e.waitIdle()
}

// TestForgedObjectIDsAreRefused: an upstream's own ID, an altered sealed ID
// and an ID sealed for another pool are the provider's 404, and never
// reach the upstream.
func TestForgedObjectIDsAreRefused(t *testing.T) {
	e := objectEnv(t, provider.OpenAI)
	sealed := testSealer(t).Seal(namespace+"/"+e.Config.Name, objectid.Ref{Key: "keys/k1", Client: "team-a", ID: "file-abc"})
	other := testSealer(t).Seal(namespace+"/another-pool", objectid.Ref{Key: "keys/k1", Client: "team-a", ID: "file-abc"})
	altered := sealed[:len(sealed)-2] + "AA"
	for _, id := range []string{"file-abc", altered, other, "file-" + objectid.Marker} {
		resp := e.do(t.Context(), http.MethodGet, "/v1/files/"+id, "", map[string]string{"Authorization": "Bearer " + clientToken})
		wantStatus(t, resp, http.StatusNotFound)
		resp = e.do(t.Context(), http.MethodPost, "/v1/batches", `{"input_file_id":"`+id+`","endpoint":"/v1/chat/completions"}`,
			map[string]string{"Authorization": "Bearer " + clientToken, "Content-Type": "application/json"})
		wantStatus(t, resp, http.StatusNotFound)
	}
	resp := e.do(t.Context(), http.MethodGet, "/v1/files/"+sealed, "", map[string]string{"Authorization": "Bearer " + clientToken})
	wantStatus(t, resp, http.StatusNotFound) // opens, but the fake has no file-abc
	e.waitIdle()
	if n := len(e.requests()); n != 1 {
		t.Errorf("the upstream saw %d requests, want only the one with a valid id", n)
	}
}

// TestUnknownPathsAreRefused: a path that is neither a generation endpoint
// nor an object API the proxy knows is refused in the provider's shape,
// unless the pool passes its prefix through; a list is refused, as the
// provider would list every client's objects.
func TestUnknownPathsAreRefused(t *testing.T) {
	auth := map[string]string{"X-Api-Key": clientToken}
	e := newEnv(t, envConfig{})
	for _, tc := range []struct{ method, path string }{
		{http.MethodPost, "/v1/skills"},
		{http.MethodGet, "/v1/files"},
		{http.MethodGet, "/v1/messages/batches"},
		{http.MethodPut, "/v1/files/x"},
	} {
		resp := e.do(t.Context(), tc.method, tc.path, "", auth)
		if resp.StatusCode/100 != 4 {
			t.Errorf("%s %s: status %d, want a refusal", tc.method, tc.path, resp.StatusCode)
		}
		if body := readAll(t, resp.Body); !strings.Contains(body, `"type":"error"`) {
			t.Errorf("%s %s: %s is not Anthropic's error shape", tc.method, tc.path, body)
		}
	}
	e.waitIdle()
	if n := len(e.requests()); n != 0 {
		t.Fatalf("the upstream saw %d requests", n)
	}
	p := newEnv(t, envConfig{passThrough: []string{"/v1/skills"}})
	resp := p.do(t.Context(), http.MethodPost, "/v1/skills", "{}", auth)
	p.waitIdle()
	if n := len(p.requests()); n != 1 {
		t.Errorf("a pass-through path was not forwarded: status %d", resp.StatusCode)
	}
}

// TestObjectsWaitForTheirKey: a request naming an object of a key that is
// cooling down gets 429 with Retry-After, of a key gone from the pool 404
// saying so; none goes to the other key, which
// would answer 404.
func TestObjectsWaitForTheirKey(t *testing.T) {
	e := objectEnv(t, provider.OpenAI)
	a := openAIClient(e, clientToken)
	var resp *http.Response
	f, err := a.Files.New(t.Context(), openai.FileNewParams{File: openai.File(strings.NewReader("x"), "x.jsonl", "application/jsonl"),
		Purpose: openai.FilePurposeBatch}, openaioption.WithResponseInto(&resp))
	if err != nil {
		t.Fatal(err)
	}
	holder := resp.Header.Get(HeaderKey)
	get := func() *http.Response {
		return e.do(t.Context(), http.MethodGet, "/v1/files/"+f.ID, "", map[string]string{"Authorization": "Bearer " + clientToken})
	}
	e.waitIdle()
	before := len(e.requests())

	if err := e.pool.MarkKeyExhausted(holder, e.clock.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	r := get()
	body := wantStatus(t, r, http.StatusTooManyRequests)
	if r.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After on the 429 of a cooling key")
	}
	if !strings.Contains(body, holder) || !strings.Contains(body, "cooling down") {
		t.Errorf("429 body %s does not say which key is cooling", body)
	}

	var kept []keypool.KeyConfig
	for _, k := range proxytest.Keys([]string{keyValue(1), keyValue(2)}, false) {
		if k.ID != holder {
			kept = append(kept, k)
		}
	}
	if err := e.pool.Update(keypool.PoolConfig{Keys: kept, Access: *e.pool.Access()}); err != nil {
		t.Fatal(err)
	}
	if body := wantStatus(t, get(), http.StatusNotFound); !strings.Contains(body, "no longer in the pool") {
		t.Errorf("404 body %s does not say the key left", body)
	}
	e.waitIdle()
	if n := len(e.requests()) - before; n != 0 {
		t.Errorf("%d requests went upstream for an object whose key could not serve", n)
	}
}

// TestStreamedResponseIDsAreSealed: a stored response streamed through the
// pool names itself by a sealed ID in every event, so that it can be
// continued with previous_response_id, by its client only.
func TestStreamedResponseIDsAreSealed(t *testing.T) {
	e := objectEnv(t, provider.OpenAI)
	a, b := openAIClient(e, clientToken), openAIClient(e, "another-client")
	stream := a.Responses.NewStreaming(t.Context(), responses.ResponseNewParams{Model: "gpt-test",
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hello")}})
	var created, completed string
	for stream.Next() {
		switch ev := stream.Current(); ev.Type {
		case "response.created":
			created = ev.Response.ID
		case "response.completed":
			completed = ev.Response.ID
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created, "resp_"+objectid.Marker) || created != completed {
		t.Fatalf("streamed ids %q and %q: want one sealed id", created, completed)
	}
	next, err := a.Responses.New(t.Context(), responses.ResponseNewParams{Model: "gpt-test", PreviousResponseID: openai.String(created),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("go on")}})
	if err != nil || next.PreviousResponseID != created {
		t.Fatalf("follow-up: %+v, %v", next, err)
	}
	_, err = b.Responses.Get(t.Context(), created, responses.ResponseGetParams{})
	wantOpenAIStatus(t, err, http.StatusNotFound, "another client's streamed response")
	e.waitIdle()
}

// TestStreamSealerSealsIDsCutByReads: an ID cut anywhere by the upstream's
// reads is sealed whole; other strings pass unchanged.
func TestStreamSealerSealsIDsCutByReads(t *testing.T) {
	oc := &objectCall{table: provider.ObjectsOf(provider.OpenAI), sealer: testSealer(t), scope: "ns/p", client: "c"}
	in := "event: response.created\ndata: {\"id\":\"resp_abc\",\"x\":\"resp\",\"y\":\"\\\"resp_\"}\n\n" +
		"data: {\"response\":{\"id\":\"resp_abc\"}}\n\n"
	sealed := oc.sealValue("resp_abc", "keys/k1")
	want := strings.ReplaceAll(in, `"resp_abc"`, `"`+sealed+`"`)
	got, err := io.ReadAll(&streamSealer{r: io.NopCloser(iotest.OneByteReader(strings.NewReader(in))), oc: oc,
		key: "keys/k1", open: []byte(`"resp_`)})
	if err != nil || string(got) != want {
		t.Fatalf("sealed stream %q, %v; want %q", got, err, want)
	}
}

// TestGenerationsPassTheObjectCheckWithoutAllocating: a message or chat
// completion that names no object and stores nothing costs the object
// check no allocation.
func TestGenerationsPassTheObjectCheckWithoutAllocating(t *testing.T) {
	s := New(keypool.NewRegistry(), Options{Metrics: prometheus.NewRegistry(), ObjectIDs: testSealer(t)})
	acc := &keypool.Access{}
	for _, tc := range []struct {
		prov       provider.Provider
		path, body string
	}{
		{provider.Anthropic, "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`},
		{provider.OpenAI, "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`},
		{provider.Gemini, "/v1beta/models/gemini-2.5-flash:generateContent", `{"contents":[{"parts":[{"text":"hi"}]}]}`},
	} {
		r := httptest.NewRequest(http.MethodPost, "/pools/ns/p"+tc.path, nil)
		rt := route{namespace: "ns", name: "p", rest: tc.path}
		rb := requestBody{buf: []byte(tc.body)}
		if n := testing.AllocsPerRun(100, func() {
			if oc, refused := s.objects(r, &rt, &rb, acc, tc.prov, nil, "c"); oc != nil || refused != nil {
				t.Fatalf("%s: object call %+v, refusal %+v", tc.path, oc, refused)
			}
		}); n != 0 {
			t.Errorf("%s: %v allocations", tc.path, n)
		}
	}
}

// TestGeminiCachedContentNames: Gemini names objects by resource names; the
// proxy seals the name's last segment in answers and opens it in paths and
// in a generation's cachedContent.
func TestGeminiCachedContentNames(t *testing.T) {
	var (
		mu   sync.Mutex
		seen []string
	)
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+" "+string(body))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if strings.Contains(r.URL.Path, ":generateContent") {
			_, _ = io.WriteString(w, `{"candidates":[],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1}}`)
			return
		}
		_, _ = io.WriteString(w, `{"name":"cachedContents/abc123","model":"models/gemini-2.5-flash"}`)
	})
	e := newEnv(t, envConfig{provider: provider.Gemini, upstream: upstream, clientNames: []string{"team-b", "team-a"}})
	auth := map[string]string{"X-Goog-Api-Key": clientToken, "Content-Type": "application/json"}
	body := wantStatus(t, e.do(t.Context(), http.MethodPost, "/v1beta/cachedContents", `{"model":"models/gemini-2.5-flash"}`, auth), http.StatusOK)
	var created struct{ Name string }
	if err := json.Unmarshal([]byte(body), &created); err != nil {
		t.Fatal(err)
	}
	id, ok := strings.CutPrefix(created.Name, "cachedContents/")
	if !ok || !objectid.IsSealed(id) {
		t.Fatalf("name %q: want cachedContents/<sealed id>", created.Name)
	}
	wantStatus(t, e.do(t.Context(), http.MethodGet, "/v1beta/"+created.Name, "", auth), http.StatusOK)
	wantStatus(t, e.do(t.Context(), http.MethodPost, "/v1beta/models/gemini-2.5-flash:generateContent",
		`{"cachedContent":"`+created.Name+`","contents":[{"parts":[{"text":"hi"}]}]}`, auth), http.StatusOK)
	other := map[string]string{"X-Goog-Api-Key": "another-client", "Content-Type": "application/json"}
	wantStatus(t, e.do(t.Context(), http.MethodDelete, "/v1beta/"+created.Name, "", other), http.StatusNotFound)
	e.waitIdle()
	mu.Lock()
	defer mu.Unlock()
	want := []string{
		`POST /v1beta/cachedContents {"model":"models/gemini-2.5-flash"}`,
		`GET /v1beta/cachedContents/abc123 `,
		`POST /v1beta/models/gemini-2.5-flash:generateContent {"cachedContent":"cachedContents/abc123","contents":[{"parts":[{"text":"hi"}]}]}`,
	}
	if strings.Join(seen, "\n") != strings.Join(want, "\n") {
		t.Errorf("the upstream saw\n%s\nwant\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
	}
}
