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
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// modelBody builds a Messages API request body for model.
func modelBody(model, prompt string, maxTokens int, stream bool) string {
	b, _ := json.Marshal(map[string]any{
		"model":      model,
		"max_tokens": maxTokens,
		"stream":     stream,
		"messages":   []map[string]any{{"role": "user", "content": prompt}},
	})
	return string(b)
}

// classConfig is orgA with default limits def, class "small" limited to
// small, and the models "small-*" in that class.
func classConfig(def, small Limits) Config {
	cfg := orgAConfig(def)
	l := cfg.Limits["orgA"]
	l.Classes = map[string]Limits{"small": small}
	cfg.Limits["orgA"] = l
	cfg.ModelClasses = map[string]string{"small-*": "small"}
	return cfg
}

// wantHeaders checks header values by name.
func wantHeaders(t *testing.T, what string, h http.Header, want map[string]string) {
	t.Helper()
	for name, v := range want {
		if got := h.Get(name); got != v {
			t.Errorf("%s: %s = %q, want %q", what, name, got, v)
		}
	}
}

// TestAnthropicModelClassBuckets: exhausting one class's buckets leaves
// the other models of the organisation served with their own headers; the
// 429 carries the exhausted class's headers and retry-after.
func TestAnthropicModelClassBuckets(t *testing.T) {
	f := newFixture(t, classConfig(Limits{RPM: 100, ITPM: 100_000, OTPM: 10_000}, Limits{RPM: 2, ITPM: 1_000, OTPM: 500}))
	post := func(key, model string) (*http.Response, []byte) {
		t.Helper()
		resp, body := mustDo(t)(f.postAnthropic(t, t.Context(), key, modelBody(model, prompt40, 100, false)))
		f.waitDone(t, 1)
		return resp, body
	}
	for i, remaining := range []string{"1", "0"} {
		resp, body := post("k1", "small-haiku")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("small request %d: %d %s", i, resp.StatusCode, body)
		}
		wantHeaders(t, "small request", resp.Header, map[string]string{
			"Anthropic-Ratelimit-Requests-Limit": "2", "Anthropic-Ratelimit-Requests-Remaining": remaining,
			"Anthropic-Ratelimit-Input-Tokens-Limit": "1000", "Anthropic-Ratelimit-Output-Tokens-Limit": "500",
		})
	}
	// The other key of the organisation shares the class's buckets.
	resp, body := post("k2", "small-haiku-2")
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third small request: %d %s", resp.StatusCode, body)
	}
	// RPM 2 refills one request every 30s.
	wantHeaders(t, "small 429", resp.Header, map[string]string{
		"Retry-After": "30", "Anthropic-Ratelimit-Requests-Limit": "2", "Anthropic-Ratelimit-Requests-Remaining": "0",
		"Anthropic-Ratelimit-Output-Tokens-Limit": "500",
	})
	if !strings.Contains(string(body), "of 2 requests per minute") {
		t.Errorf("429 body does not name the class's limit: %s", body)
	}

	// Other models draw on the organisation's default buckets, untouched by
	// the small class.
	for i, model := range []string{"claude-sonnet-4-5", "claude-opus-4-1"} {
		resp, body := post("k1", model)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", model, resp.StatusCode, body)
		}
		wantHeaders(t, model, resp.Header, map[string]string{
			"Anthropic-Ratelimit-Requests-Limit": "100", "Anthropic-Ratelimit-Requests-Remaining": []string{"99", "98"}[i],
			"Anthropic-Ratelimit-Output-Tokens-Limit": "10000",
		})
	}

	// Levels reports the default set by organisation, the class apart.
	if got := f.p.Levels()["orgA"].Requests; got != 98 {
		t.Errorf("default set requests level %v, want 98", got)
	}
	if got := f.p.ClassLevels()["orgA"]["small"].Requests; got != 0 {
		t.Errorf("small class requests level %v, want 0", got)
	}

	code, out := f.admin(t, "GET", "/_fake/levels", "")
	var levels levelsWire
	if err := json.Unmarshal(out, &levels); err != nil || code != 200 ||
		levels.Orgs["orgA"].Requests != 98 || levels.Classes["orgA"]["small"].OutputTokens != 500-2*DefaultOutputTokens {
		t.Errorf("GET /_fake/levels: %d %s %v", code, out, err)
	}

	// The advised wait is enough.
	f.clock.Advance(30 * time.Second)
	if resp, body := post("k1", "small-haiku"); resp.StatusCode != http.StatusOK {
		t.Fatalf("small request after retry-after: %d %s", resp.StatusCode, body)
	}
}

// TestOpenAIModelClassBuckets: the same on x-ratelimit-* headers, with the
// class's TPM.
func TestOpenAIModelClassBuckets(t *testing.T) {
	f := newFixture(t, classConfig(Limits{RPM: 50, TPM: 100_000}, Limits{RPM: 1, TPM: 1_000}))
	post := func(model string) (*http.Response, []byte) {
		t.Helper()
		body := strings.Replace(openaiBody(prompt40, false, false), `"gpt-test"`, `"`+model+`"`, 1)
		resp, out := mustDo(t)(f.postOpenAI(t, t.Context(), "k1", body))
		f.waitDone(t, 1)
		return resp, out
	}
	resp, body := post("small-mini")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("small: %d %s", resp.StatusCode, body)
	}
	wantHeaders(t, "small", resp.Header, map[string]string{
		"X-Ratelimit-Limit-Requests": "1", "X-Ratelimit-Remaining-Requests": "0", "X-Ratelimit-Limit-Tokens": "1000",
	})
	resp, body = post("small-mini")
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(body), "small-mini") {
		t.Fatalf("second small: %d %s", resp.StatusCode, body)
	}
	wantHeaders(t, "small 429", resp.Header, map[string]string{
		"Retry-After": "60", "X-Ratelimit-Limit-Requests": "1", "X-Ratelimit-Remaining-Requests": "0",
		"X-Ratelimit-Limit-Tokens": "1000",
	})
	resp, body = post("gpt-4.1")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("gpt-4.1: %d %s", resp.StatusCode, body)
	}
	wantHeaders(t, "gpt-4.1", resp.Header, map[string]string{
		"X-Ratelimit-Limit-Requests": "50", "X-Ratelimit-Remaining-Requests": "49", "X-Ratelimit-Limit-Tokens": "100000",
	})
}

// TestGeminiPathModelBuckets: Gemini names the model in the path; a spent
// class answers RESOURCE_EXHAUSTED naming that model, with its retry delay,
// while another model is served.
func TestGeminiPathModelBuckets(t *testing.T) {
	cfg := classConfig(Limits{RPM: 50}, Limits{RPM: 1})
	cfg.ModelClasses = map[string]string{"gemini-2.5-pro": "small"}
	f := newFixture(t, cfg)
	body := `{"contents":[{"role":"user","parts":[{"text":"` + prompt40 + `"}]}]}`
	post := func(model string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost,
			f.srv.URL+"/v1beta/models/"+model+":generateContent", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("x-goog-api-key", "k1")
		resp, out := mustDo(t)(f.client().Do(req))
		f.waitDone(t, 1)
		return resp, out
	}
	if resp, out := post("gemini-2.5-pro"); resp.StatusCode != http.StatusOK {
		t.Fatalf("first pro: %d %s", resp.StatusCode, out)
	}
	resp, out := post("gemini-2.5-pro")
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("second pro: %d %s", resp.StatusCode, out)
	}
	var e googleError
	if err := json.Unmarshal(out, &e); err != nil {
		t.Fatal(err)
	}
	var delay string
	var model any
	for _, d := range e.Error.Details {
		switch d[detailType] {
		case "type.googleapis.com/google.rpc.RetryInfo":
			delay, _ = d["retryDelay"].(string)
		case "type.googleapis.com/google.rpc.QuotaFailure":
			v := d["violations"].([]any)[0].(map[string]any)
			model = v["quotaDimensions"].(map[string]any)["model"]
		}
	}
	if delay != "60s" || model != "gemini-2.5-pro" {
		t.Errorf("429 retry delay %q model %v: %s", delay, model, out)
	}
	for range 2 {
		if resp, out := post("gemini-2.5-flash"); resp.StatusCode != http.StatusOK {
			t.Fatalf("flash: %d %s", resp.StatusCode, out)
		}
	}
}

// TestAzureDeploymentBuckets: on a deployment path Azure limits the
// deployment, whatever model the body names.
func TestAzureDeploymentBuckets(t *testing.T) {
	cfg := classConfig(Limits{RPM: 50, TPM: 100_000}, Limits{RPM: 1, TPM: 1_000})
	cfg.ModelClasses = map[string]string{"tiny-deployment": "small"}
	f := newFixture(t, cfg)
	body := strings.Replace(openaiBody(prompt40, false, false), `"gpt-test"`, `"gpt-4o"`, 1)
	post := func(deployment string) *http.Response {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost,
			f.srv.URL+"/openai/deployments/"+deployment+"/chat/completions?api-version=2024-10-21", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("api-key", "k1")
		resp, _ := mustDo(t)(f.client().Do(req))
		f.waitDone(t, 1)
		return resp
	}
	resp := post("tiny-deployment")
	wantHeaders(t, "tiny", resp.Header, map[string]string{"X-Ratelimit-Limit-Requests": "1", "X-Ratelimit-Remaining-Requests": "0"})
	resp = post("tiny-deployment")
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("second tiny: %d", resp.StatusCode)
	}
	wantHeaders(t, "tiny 429", resp.Header, map[string]string{
		"Retry-After": "60", "Retry-After-Ms": "60000", "X-Ratelimit-Limit-Requests": "1", "X-Ratelimit-Limit-Tokens": "1000",
	})
	resp = post("big-deployment")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("big: %d", resp.StatusCode)
	}
	wantHeaders(t, "big", resp.Header, map[string]string{"X-Ratelimit-Limit-Requests": "50", "X-Ratelimit-Remaining-Requests": "49"})
}

// TestSeparateModels: without class limits, models share the organisation's
// default buckets (as before classes existed); with SeparateModels each
// gets a set of its own with the default limits.
func TestSeparateModels(t *testing.T) {
	for _, separate := range []bool{false, true} {
		cfg := orgAConfig(Limits{RPM: 1})
		cfg.SeparateModels = separate
		cfg.ModelClasses = map[string]string{"claude-sonnet-4*": "sonnet"}
		f := newFixture(t, cfg)
		status := func(model string) int {
			t.Helper()
			resp, _ := mustDo(t)(f.postAnthropic(t, t.Context(), "k1", modelBody(model, prompt40, 100, false)))
			f.waitDone(t, 1)
			return resp.StatusCode
		}
		if s := status("claude-sonnet-4-5"); s != http.StatusOK {
			t.Fatalf("separate=%v: first sonnet %d", separate, s)
		}
		// Same class, other model name: the same buckets either way.
		if s := status("claude-sonnet-4-6"); s != http.StatusTooManyRequests {
			t.Errorf("separate=%v: second sonnet model %d, want 429", separate, s)
		}
		want := http.StatusTooManyRequests
		if separate {
			want = http.StatusOK
		}
		if s := status("claude-haiku-4-5"); s != want {
			t.Errorf("separate=%v: haiku %d, want %d", separate, s, want)
		}
		classes := f.p.ClassLevels()["orgA"]
		if separate != (len(classes) == 2) {
			t.Errorf("separate=%v: class levels %v", separate, classes)
		}
	}
}

func TestClassifier(t *testing.T) {
	c := newClassifier(map[string]string{
		"claude-sonnet*": "sonnet", "claude-sonnet-4-5*": "sonnet-4-5", "claude-3-7-sonnet": "sonnet", "x*": "x",
	})
	for model, want := range map[string]string{
		"claude-sonnet-4-5-20250929": "sonnet-4-5", "claude-sonnet-4-6": "sonnet", "claude-3-7-sonnet": "sonnet",
		"claude-3-7-sonnet-latest": "claude-3-7-sonnet-latest", "gpt-4o": "gpt-4o", "x": "x",
	} {
		if got := c.classOf(model); got != want {
			t.Errorf("classOf(%q) = %q, want %q", model, got, want)
		}
	}
}

func TestParseModelClasses(t *testing.T) {
	got, err := ParseModelClasses(" sonnet=claude-sonnet-4*| claude-3-7-sonnet ,haiku=claude-haiku-*,")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"claude-sonnet-4*": "sonnet", "claude-3-7-sonnet": "sonnet", "claude-haiku-*": "haiku"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got, err := ParseModelClasses(""); err != nil || len(got) != 0 {
		t.Errorf("empty spec: %v, %v", got, err)
	}
	for _, bad := range []string{"sonnet", "=a", "sonnet=", "sonnet=a||b", "sonnet=*", "a=m,b=m"} {
		if _, err := ParseModelClasses(bad); err == nil {
			t.Errorf("ParseModelClasses(%q) accepted", bad)
		}
	}
}

func TestParseLimitsClasses(t *testing.T) {
	got, err := ParseLimits("orgA:haiku=rpm:100/otpm:20000, orgA=rpm:50/otpm:8000,orgB:small=tpm:1000")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Limits{
		"orgA": {RPM: 50, OTPM: 8000, Classes: map[string]Limits{"haiku": {RPM: 100, OTPM: 20000}}},
		"orgB": {Classes: map[string]Limits{"small": {TPM: 1000}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	for _, bad := range []string{"orgA:=rpm:1", ":x=rpm:1", "orgA:x=rpm:1,orgA:x=rpm:2", "orgA:x=rps:1"} {
		if _, err := ParseLimits(bad); err == nil {
			t.Errorf("ParseLimits(%q) accepted", bad)
		}
	}
}
